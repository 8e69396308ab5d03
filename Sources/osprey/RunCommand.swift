import ArgumentParser
import Dispatch
import Foundation
import OspreyCore
import OspreyFeatures
import OspreyModel
import OspreyHTTP
import Logging
import ServiceLifecycle

/// Timestamped log lines on standard error.
enum Log {
    static func line(_ message: String) {
        let now = Date()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        FileHandle.standardError.write(Data("\(formatter.string(from: now)) osprey: \(message)\n".utf8))
    }
}

/// Reads the daemon configuration and its model, reporting every problem.
enum DaemonSetup {
    static func config(_ path: String) throws -> DaemonConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read config file \(path)") }
        do {
            let config = try DaemonConfig.load(path: path, yaml: String(decoding: data, as: UTF8.self), environment: ProcessInfo.processInfo.environment)
            for name in config.unusedEnvironment {
                Log.line("warning: \(name) sets nothing (not a known variable, and \(path) has no setting at that path); check the name")
            }
            return config
        } catch {
            throw CLIError("\(path) has \(error.errors.count == 1 ? "a problem" : "\(error.errors.count) problems"):\n\(error)")
        }
    }

    /// The models to start with (see ``ModelManager/initial(config:log:)``).
    /// A model that cannot load stops start-up, unless `decision.fallback` is
    /// set: then the daemon starts without one, and rules and the fallback
    /// decide until a reload brings a model.
    static func models(_ config: DaemonConfig, log: @Sendable (String) -> Void) throws -> (lineup: ModelLineup, deployment: ModelDeployment?) {
        do {
            return try ModelManager.initial(config: config, log: log)
        } catch {
            guard let fallback = config.policy.fallbackOutcome else {
                throw CLIError("\(error)\n(to start without a model and decide by rules and decision.fallback until a reload, set decision.fallback)")
            }
            log("NO MODEL: \(error); deciding by rules, else '\(fallback)' (decision.fallback), until a model loads (POST /v1/models/reload, SIGHUP)")
            return (ModelLineup(live: nil), config.model.live.map { ModelDeployment(live: $0) })
        }
    }
}

/// `osprey run`: the streaming daemon.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Consume events from Kafka, compute features, score, and publish a decision for every event.",
        discussion: """
            SIGTERM or SIGINT: stop consuming, finish in-flight events, flush, write a final checkpoint, commit, exit 0.
            SIGHUP: reload the model (the file, or the registry's recorded deployment) without stopping.
            """
    )

    @Option(name: .long, help: "Osprey configuration file (YAML); OSPREY_* environment variables override it.")
    var config: String

    func run() throws {
        #if canImport(Glibc)
        // Buffers over 256 KiB (a multi-megabyte message, its dead letter) get
        // their own mapping, returned when freed. Left dynamic, glibc raises
        // this threshold after the first such buffer is freed and keeps the
        // next ones in its heaps: a few huge messages would hold RSS up for good.
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 256 * 1024)
        #endif
        let daemonConfig = try DaemonSetup.config(config)
        let start = try DaemonSetup.models(daemonConfig) { Log.line($0) }
        for model in [start.lineup.live, start.lineup.challenger].compactMap({ $0 }) {
            Log.line("model \(model.path) (version \(model.version), \(model.model.ensemble.trees.count) trees, \(model.model.featureCount) features)")
        }
        Log.line("models: \(start.lineup.summary)")
        let stop = StopFlag()
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [stop] in
                Log.line("received \(sig == SIGTERM ? "SIGTERM" : "SIGINT"): stopping")
                stop.request()
            }
            source.resume()
            sources.append(source)
        }
        let mailbox = StreamMailbox()
        let board = StatusBoard()
        let manager = ModelManager(config: daemonConfig, start: start) { Log.line($0) }
        let processor: StreamProcessor
        do {
            processor = try StreamProcessor(config: daemonConfig, lineup: start.lineup, stop: stop, mailbox: mailbox, board: board, log: { Log.line($0) })
        } catch {
            throw CLIError("\(error)")
        }
        let attached = DispatchSemaphore(value: 0)
        Task.detached {
            await manager.attach(mailbox)
            attached.signal()
        }
        attached.wait()
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler {
            Log.line("received SIGHUP: reloading the model")
            Task.detached {
                do {
                    let change = try await manager.reload()
                    Log.line("reload: serving \(change.lineup.summary)")
                } catch {
                    Log.line("reload refused, the previous models keep serving: \(error)")
                }
            }
        }
        hangup.resume()
        sources.append(hangup)
        let watch = daemonConfig.model.watchInterval
        let watcher = watch > 0 && daemonConfig.model.modelRegistry != nil ? Task.detached {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(watch))
                await manager.reloadIfChanged()
            }
        } : nil
        defer { watcher?.cancel() }
        // The HTTP port runs on Swift's concurrency runtime; the stream loop
        // keeps this thread to itself.
        let http = HTTPBackground.start(daemonConfig.http, mailbox: mailbox, board: board, models: manager)
        defer { http?.stop() }
        do {
            try processor.run()
        } catch {
            throw CLIError("\(error)")
        }
        if processor.failed { throw ExitCode(1) }
        _ = sources
    }
}

/// `osprey validate`: config, schemas and model checked together.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a configuration, its schemas and its model together; exit non-zero naming each problem."
    )

    @Option(name: .long, help: "Osprey configuration file (YAML).")
    var config: String

    @Flag(name: .long, help: "Check the configuration and schemas only, not the model (e.g. before the first model is trained).")
    var skipModel = false

    @Flag(name: .long, help: "Print the checked configuration's event types, features and decision policy as JSON.")
    var json = false

    func run() throws {
        let daemonConfig = try DaemonSetup.config(config)
        var lineup = ModelLineup(live: nil)
        if !skipModel {
            do {
                lineup = try ModelManager.initial(config: daemonConfig) { _ in }.lineup
            } catch {
                throw CLIError("\(error)")
            }
        }
        let types = daemonConfig.spec.eventTypes
        if json {
            var out = JSONText()
            out.raw(#"{"event_types":["#)
            for (i, type) in types.enumerated() {
                if i > 0 { out.raw(",") }
                out.raw(#"{"name":"#)
                out.string(type.name)
                out.raw(#","topic":"#)
                out.string(type.topic)
                out.raw(#","features":["#)
                for (j, name) in type.featureNames.enumerated() {
                    if j > 0 { out.raw(",") }
                    out.string(name)
                }
                out.raw("]}")
            }
            out.raw(#"],"decision":{"thresholds":["#)
            for (i, t) in daemonConfig.policy.thresholds.enumerated() {
                if i > 0 { out.raw(",") }
                out.raw(#"{"outcome":"#)
                out.string(t.outcome)
                out.raw(#","min_score":"#)
                out.number(t.minScore)
                out.raw("}")
            }
            out.raw(#"],"default":"#)
            out.string(daemonConfig.policy.defaultOutcome)
            out.raw(#"},"models":["#)
            for (i, (role, model)) in [("live", lineup.live), ("challenger", lineup.challenger)].compactMap({ r, m in m.map { (r, $0) } }).enumerated() {
                if i > 0 { out.raw(",") }
                out.raw(#"{"role":"#)
                out.string(role)
                out.raw(#","version":"#)
                out.string(model.version)
                out.raw(#","path":"#)
                out.string(model.path)
                out.raw("}")
            }
            out.raw("]}")
            print(String(decoding: out.bytes, as: UTF8.self))
            return
        }
        print("\(config): OK")
        for type in types { print("  event type \(type.name): topic \(type.topic), \(type.fields.count) fields, \(type.features.count) features") }
        for (role, model) in [("live", lineup.live), ("challenger", lineup.challenger)] {
            guard let model else { continue }
            print("  \(role) model \(model.path): version \(model.version), \(model.model.ensemble.trees.count) trees, features match")
        }
        if skipModel { print("  model not checked (--skip-model)") }
        print("  decisions to \(daemonConfig.output.topic), dead letters to \(daemonConfig.output.deadLetterTopic)")
    }
}

/// The HTTP server running in the background of `osprey run`.
final class HTTPBackground: Sendable {
    let group: ServiceGroup
    let done = DispatchSemaphore(value: 0)

    init(group: ServiceGroup) { self.group = group }

    static func start(_ settings: HTTPSettings, mailbox: StreamMailbox, board: StatusBoard, models: ModelManager) -> HTTPBackground? {
        guard settings.port > 0 else { return nil }
        var logger = Logger(label: "osprey.http") { LogLineHandler(label: $0) }
        logger.logLevel = .warning
        let app = HTTPServer(settings: settings, mailbox: mailbox, board: board, models: models).makeApplication(logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let background = HTTPBackground(group: group)
        Task.detached {
            do {
                try await group.run()
            } catch {
                Log.line("http: \(error)")
            }
            background.done.signal()
        }
        Log.line("http on \(settings.host):\(settings.port)")
        return background
    }

    func stop() {
        let group = self.group
        Task.detached { await group.triggerGracefulShutdown() }
        _ = done.wait(timeout: .now() + 10)
    }
}

#if canImport(Glibc)
/// glibc's `mallopt` (malloc.h is not part of Swift's Glibc module).
@_silgen_name("mallopt")
func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

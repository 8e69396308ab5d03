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
            return try DaemonConfig.load(path: path, yaml: String(decoding: data, as: UTF8.self), environment: ProcessInfo.processInfo.environment)
        } catch {
            throw CLIError("\(path) has \(error.errors.count == 1 ? "a problem" : "\(error.errors.count) problems"):\n\(error)")
        }
    }

    static func model(_ config: DaemonConfig) throws -> (GradientBoostedModel, String) {
        let model: GradientBoostedModel
        do {
            model = try GradientBoostedModel(contentsOfFile: config.model.path)
        } catch {
            throw CLIError("model \(config.model.path): \(error)")
        }
        let problems = config.spec.eventTypes.flatMap { ModelCheck.problems(model: model, eventType: $0) }
        if !problems.isEmpty { throw CLIError("model \(config.model.path) does not fit the config:\n" + problems.joined(separator: "\n")) }
        let version = config.model.version ?? URL(fileURLWithPath: config.model.path).lastPathComponent
        return (model, version)
    }
}

/// `osprey run`: the streaming daemon.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Consume events from Kafka, compute features, score, and publish a decision for every event.",
        discussion: "SIGTERM or SIGINT: stop consuming, finish in-flight events, flush, write a final checkpoint, commit, exit 0."
    )

    @Option(name: .long, help: "Osprey configuration file (YAML); OSPREY_* environment variables override it.")
    var config: String

    func run() throws {
        let daemonConfig = try DaemonSetup.config(config)
        let (model, version) = try DaemonSetup.model(daemonConfig)
        Log.line("model \(daemonConfig.model.path) (version \(version), \(model.ensemble.trees.count) trees, \(model.featureCount) features)")
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
        let processor: StreamProcessor
        do {
            processor = try StreamProcessor(config: daemonConfig, model: model, modelVersion: version, stop: stop, mailbox: mailbox, board: board, log: { Log.line($0) })
        } catch {
            throw CLIError("\(error)")
        }
        // The HTTP port runs on Swift's concurrency runtime; the stream loop
        // keeps this thread to itself.
        let http = HTTPBackground.start(daemonConfig.http, mailbox: mailbox, board: board)
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

    func run() throws {
        let daemonConfig = try DaemonSetup.config(config)
        let (model, version) = try DaemonSetup.model(daemonConfig)
        let types = daemonConfig.spec.eventTypes
        print("\(config): OK")
        for type in types { print("  event type \(type.name): topic \(type.topic), \(type.fields.count) fields, \(type.features.count) features") }
        print("  model \(daemonConfig.model.path): version \(version), \(model.ensemble.trees.count) trees, features match")
        print("  decisions to \(daemonConfig.output.topic), dead letters to \(daemonConfig.output.deadLetterTopic)")
    }
}

/// The HTTP server running in the background of `osprey run`.
final class HTTPBackground: Sendable {
    let group: ServiceGroup
    let done = DispatchSemaphore(value: 0)

    init(group: ServiceGroup) { self.group = group }

    static func start(_ settings: HTTPSettings, mailbox: StreamMailbox, board: StatusBoard) -> HTTPBackground? {
        guard settings.port > 0 else { return nil }
        var logger = Logger(label: "osprey.http")
        logger.logLevel = .warning
        let app = HTTPServer(settings: settings, mailbox: mailbox, board: board).makeApplication(logger: logger)
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

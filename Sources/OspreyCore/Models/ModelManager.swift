import Foundation
import OspreyModel

/// Owns the model lifecycle of one daemon: which versions serve, loading and
/// validating them, and handing each new lineup to the stream thread.
///
/// Every change (admin route, SIGHUP, registry watch) goes through this actor,
/// one at a time: the new versions are loaded and checked against the feature
/// spec here, off the stream thread; only a lineup that passes is recorded in
/// the registry's `deployment.json` and swapped in by the stream between two
/// events. A version that fails changes nothing: the old lineup keeps serving.
public actor ModelManager {
    let settings: ModelSettings
    let fits: @Sendable (GradientBoostedModel) -> [String]
    let log: @Sendable (String) -> Void
    var mailbox: StreamMailbox?
    /// What serves now (registry mode), as recorded.
    public private(set) var deployment: ModelDeployment?
    /// The lineup the stream uses.
    public private(set) var lineup = ModelLineup(live: nil)

    /// A manager for `config`'s model settings, serving `start` (from ``initial(config:log:)``).
    public init(config: DaemonConfig, start: (lineup: ModelLineup, deployment: ModelDeployment?), log: @escaping @Sendable (String) -> Void) {
        settings = config.model
        fits = Self.check(config)
        self.log = log
        lineup = start.lineup
        deployment = start.deployment
    }

    static func check(_ config: DaemonConfig) -> @Sendable (GradientBoostedModel) -> [String] {
        let spec = config.spec
        return { model in spec.eventTypes.flatMap { ModelCheck.problems(model: model, eventType: $0) } }
    }

    /// Connects the manager to the running stream.
    public func attach(_ mailbox: StreamMailbox) { self.mailbox = mailbox }

    /// The lineup to start with: the registry's recorded deployment when
    /// there is one, else the config's (live defaults to the last version by
    /// name); for a plain model file, that file.
    public static func initial(config: DaemonConfig, log: @Sendable (String) -> Void) throws(RegistryError) -> (lineup: ModelLineup, deployment: ModelDeployment?) {
        let settings = config.model
        let fits = check(config)
        guard let registry = settings.modelRegistry else {
            let version = settings.version ?? URL(fileURLWithPath: settings.path).lastPathComponent
            return (ModelLineup(live: try LoadedModel.load(path: settings.path, version: version, metadata: nil, fits: fits)), nil)
        }
        var wanted: ModelDeployment
        if let recorded = try registry.readDeployment() {
            wanted = recorded
            log("model \(registry.name): serving what \(registry.deploymentPath) records (it overrides model.live and model.challenger; change it with the admin routes)")
        } else {
            guard let live = settings.live ?? registry.versions().last else {
                throw RegistryError("model registry \(registry.folder) holds no version (a folder with metadata.json and the model file); train one with Deploy/training/train.py")
            }
            wanted = ModelDeployment(live: live, challenger: settings.challenger, mode: settings.challengerMode, canaryFraction: settings.canaryFraction)
        }
        let live = try registry.load(version: wanted.live ?? "", fits: fits)
        var lineup = ModelLineup(live: live, mode: wanted.mode, canaryFraction: wanted.canaryFraction)
        if let challenger = wanted.challenger {
            do throws(RegistryError) {
                lineup.challenger = try registry.load(version: challenger, fits: fits)
            } catch {
                // A broken challenger must not keep the live model from serving.
                log("model \(registry.name): challenger \(challenger) not loaded: \(error)")
                wanted.challenger = nil
            }
        }
        return (lineup, wanted)
    }

    /// Re-reads the model: the file (plain mode) or the recorded deployment
    /// (registry mode), loads, validates and swaps it in.
    public func reload() async throws(RegistryError) -> ModelChange {
        guard let registry = settings.modelRegistry else {
            let version = settings.version ?? URL(fileURLWithPath: settings.path).lastPathComponent
            let live = try LoadedModel.load(path: settings.path, version: version, metadata: nil, fits: fits)
            return try await apply(ModelLineup(live: live), recording: nil, registry: nil)
        }
        let wanted = try registry.readDeployment() ?? deployment ?? ModelDeployment(live: settings.live ?? registry.versions().last)
        return try await apply(try load(wanted, registry: registry), recording: nil, registry: registry, wanted: wanted)
    }

    /// Reloads when the recorded deployment differs from what serves (the registry watch).
    public func reloadIfChanged() async {
        guard let registry = settings.modelRegistry else { return }
        do throws(RegistryError) {
            guard let recorded = try registry.readDeployment(), let current = deployment, !recorded.sameServing(as: current) else { return }
            log("model \(registry.name): \(registry.deploymentPath) changed; loading it")
            let change = try await reload()
            log("model \(registry.name): now \(change.lineup.summary)")
        } catch {
            log("model \(registry.name): not changed: \(error)")
        }
    }

    /// Changes what serves: a new live version and/or challenger.
    /// `challenger: .some(nil)` removes the challenger; nil fields keep theirs.
    public func deploy(live: String?, challenger: String??, mode: ChallengerMode?, canaryFraction: Double?) async throws(RegistryError) -> ModelChange {
        let registry = try needRegistry("deploy")
        guard var wanted = deployment else { throw RegistryError("no deployment to change") }
        if let live, live != wanted.live {
            wanted.previousLive = wanted.live
            wanted.live = live
        }
        if let challenger { wanted.challenger = challenger }
        if let mode { wanted.mode = mode }
        if let canaryFraction {
            guard canaryFraction >= 0, canaryFraction <= 1 else { throw RegistryError("canary_fraction must be from 0 to 1") }
            wanted.canaryFraction = canaryFraction
        }
        if wanted.challenger != nil && wanted.challenger == wanted.live { throw RegistryError("the challenger cannot be the live version (\(wanted.live ?? ""))") }
        return try await apply(try load(wanted, registry: registry), recording: wanted, registry: registry, wanted: wanted)
    }

    /// The challenger becomes live; the old live version is kept for rollback.
    public func promote() async throws(RegistryError) -> ModelChange {
        guard let challenger = deployment?.challenger else {
            throw RegistryError("there is no challenger to promote; deploy one first (POST /v1/models/deploy {\"challenger\": \"VERSION\"})")
        }
        return try await makeLive(challenger, action: "promote")
    }

    /// The previous live version serves again; the challenger is removed.
    public func rollback() async throws(RegistryError) -> ModelChange {
        guard let previous = deployment?.previousLive else {
            throw RegistryError("nothing to roll back to: no previous live version is recorded")
        }
        return try await makeLive(previous, action: "rollback")
    }

    /// `version` serves alone; the live version it replaces is kept as the previous one.
    func makeLive(_ version: String, action: String) async throws(RegistryError) -> ModelChange {
        let registry = try needRegistry(action)
        guard var wanted = deployment else { throw RegistryError("no deployment to change") }
        wanted.previousLive = wanted.live
        wanted.live = version
        wanted.challenger = nil
        return try await apply(try load(wanted, registry: registry), recording: wanted, registry: registry, wanted: wanted)
    }

    func needRegistry(_ action: String) throws(RegistryError) -> ModelRegistry {
        guard let registry = settings.modelRegistry else {
            throw RegistryError("\(action) needs a model registry (model.registry and model.name); with a single model file, replace it and reload")
        }
        return registry
    }

    func load(_ wanted: ModelDeployment, registry: ModelRegistry) throws(RegistryError) -> ModelLineup {
        guard let liveVersion = wanted.live else { throw RegistryError("no live version given") }
        let live = try registry.load(version: liveVersion, fits: fits)
        let challenger = try wanted.challenger.map { (v) throws(RegistryError) in try registry.load(version: v, fits: fits) }
        return ModelLineup(live: live, challenger: challenger, mode: wanted.mode, canaryFraction: wanted.canaryFraction)
    }

    func apply(_ next: ModelLineup, recording: ModelDeployment?, registry: ModelRegistry?, wanted: ModelDeployment? = nil) async throws(RegistryError) -> ModelChange {
        if var record = recording, let registry {
            record.updatedAt = Int64(Date().timeIntervalSince1970 * 1000)
            try registry.write(record)
        }
        var switched: [String: Int64] = [:]
        if let mailbox {
            switch await mailbox.deploy(next) {
            case .switched(let offsets): switched = offsets
            case .refused(let reason): throw RegistryError("the stream did not take the new models: \(reason)")
            }
        }
        lineup = next
        if let wanted { deployment = wanted }
        log("models: \(next.summary)")
        return ModelChange(lineup: next, deployment: deployment, switchedAt: switched)
    }
}

/// The outcome of a model change.
public struct ModelChange: Sendable {
    /// What serves now.
    public let lineup: ModelLineup
    /// What the registry records (registry mode).
    public let deployment: ModelDeployment?
    /// Per input partition, the first offset the new lineup scores.
    public let switchedAt: [String: Int64]
}

/// The `state:` and `checkpoints:` sections of the configuration file.
///
///     state:
///       memory_budget: 2GiB      # log and flag when the feature state grows past this
///     checkpoints:
///       directory: /var/lib/osprey/checkpoints
///       interval: 30s
///       keep: 3
public struct StateSettings: Sendable, Equatable {
    /// The feature state's memory budget in bytes (`nil`: no budget).
    public var memoryBudget: Int?
    /// Where checkpoints are written (`nil`: checkpoints off).
    public var checkpointDirectory: String?
    /// How often each partition is checkpointed (ms).
    public var checkpointInterval: Int64 = 30_000
    /// How many checkpoints to keep per partition.
    public var checkpointKeep = 3

    /// Defaults: no budget, no checkpoints.
    public init() {}

    /// Reads the sections from the document root, recording problems in its collector.
    public static func load(root: ConfigNode, baseDirectory: String) -> StateSettings {
        var settings = StateSettings()
        if let state = root["state"] {
            state.rejectUnknownKeys(["memory_budget"])
            if let budget = state["memory_budget"] {
                settings.memoryBudget = budget.byteSize
            }
        }
        if let checkpoints = root["checkpoints"] {
            checkpoints.rejectUnknownKeys(["directory", "interval", "keep"])
            settings.checkpointDirectory = checkpoints["directory"]?.string.map { FeatureSpecLoader.resolve($0, against: baseDirectory) }
            if let interval = checkpoints["interval"]?.duration {
                if interval < 1_000 { checkpoints["interval"]?.fail("checkpoint every 1s or less often") } else { settings.checkpointInterval = interval }
            }
            if let keepNode = checkpoints["keep"], let keep = keepNode.int {
                if keep < 1 { keepNode.fail("keep at least 1 checkpoint") } else { settings.checkpointKeep = keep }
            }
        }
        return settings
    }
}

extension ConfigNode {
    /// The value as a byte size: a whole number with `B`, `KiB`, `MiB`, `GiB` (or `KB`, `MB`, `GB`).
    public var byteSize: Int? {
        guard let text = string else { return nil }
        if let bytes = StateSettings.bytes(text) { return bytes }
        fail("'\(text)' is not a byte size; write e.g. 512MiB or 2GiB")
        return nil
    }
}

extension StateSettings {
    /// Parses a byte size (`512MiB`, `2GiB`, `1000000`), or `nil`.
    public static func bytes(_ text: String) -> Int? {
        let text = text.trimmingWhitespace
        if let n = Int(text), n > 0 { return n }
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let n = Int(String(text.dropLast(suffix.count)).trimmingWhitespace), n > 0 { return n * scale }
        }
        return nil
    }
}

/// Watches the feature state's size against the configured budget.
///
/// The budget does not drop state (that would make served features differ
/// from backfill's); crossing it is reported once, as a log line and a metric,
/// and the owner sweeps expired entities at once. Crossing back is reported too.
public struct MemoryBudget: Sendable {
    /// What changed at an observation.
    public enum Transition: Sendable, Equatable {
        /// The state grew past the budget.
        case exceeded(bytes: Int, budget: Int)
        /// The state is back under the budget.
        case recovered(bytes: Int, budget: Int)
    }

    /// The budget in bytes.
    public let budget: Int
    /// Whether the last observation was over budget.
    public private(set) var isExceeded = false

    /// A watcher for `budget` bytes.
    public init(budget: Int) { self.budget = budget }

    /// Records the state's current size; returns a transition when it crosses the budget.
    public mutating func observe(bytes: Int) -> Transition? {
        if !isExceeded && bytes > budget {
            isExceeded = true
            return .exceeded(bytes: bytes, budget: budget)
        }
        // A little hysteresis so a state hovering at the limit logs once.
        if isExceeded && bytes < budget - budget / 20 {
            isExceeded = false
            return .recovered(bytes: bytes, budget: budget)
        }
        return nil
    }
}

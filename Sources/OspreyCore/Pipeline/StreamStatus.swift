import Synchronization

/// What the stream thread publishes for health, readiness and metrics.
///
/// The loop copies its counters here a few times a second; HTTP handlers read
/// the last copy, so scraping never touches (or slows) the stream.
public struct StreamStatus: Sendable {
    /// A serving model.
    public struct ModelInfo: Sendable, Equatable {
        /// live, shadow or canary.
        public var role: String
        public var version: String
        public var path: String
        public var trees: Int
        public var features: [String]
        /// Epoch ms.
        public var loadedAt: Int64
        /// The registry metadata's evaluation figures.
        public var metrics: [String: Double]
    }

    /// A decision count's labels.
    public struct DecisionKey: Hashable, Sendable {
        public var version: String
        public var outcome: String
    }

    /// One drift figure: PSI of `series` ("score" or a feature) for model `version`.
    public struct DriftValue: Sendable {
        public var version: String
        public var series: String
        public var psi: Double
    }

    /// The serving models (live first), the canary share, and how many lineups were installed.
    public var models: [ModelInfo] = []
    public var canaryFraction = 0.0
    public var modelChanges: UInt64 = 0
    /// The live model's version ("" when none is loaded).
    public var modelVersion: String { models.first { $0.role == "live" }?.version ?? "" }
    /// Decisions per deciding model version and outcome; the shadow model's
    /// outcomes likewise; decisions per source (model, fallback, rule:NAME).
    public var decisions: [DecisionKey: UInt64] = [:]
    public var shadowDecisions: [DecisionKey: UInt64] = [:]
    public var decisionSources: [String: UInt64] = [:]
    /// PSI per series over the drift window, and the events in that window.
    public var drift: [DriftValue] = []
    public var driftWindowEvents = 0
    /// The loop is consuming / has begun to stop.
    public var running = false
    public var stopping = false
    /// Per input partition ("topic-partition"): consumed events and lag (high watermark − next offset).
    public var consumed: [String: UInt64] = [:]
    public var lag: [String: Int64] = [:]
    /// Dead letters per reason code, late events.
    public var deadLetters: [String: UInt64] = [:]
    public var lateEvents: UInt64 = 0
    /// Messages awaiting the broker, and messages it refused.
    public var producerQueue = 0
    public var deliveryFailures: UInt64 = 0
    /// Times the stream went back to its checkpoints because output was lost
    /// (a failed producer, or messages the broker refused).
    public var outputReplays: UInt64 = 0
    /// Checkpoints written, when the last one was (epoch ms), its size, and how long writes take.
    public var checkpoints: UInt64 = 0
    public var lastCheckpointAt: Int64 = 0
    public var lastCheckpointBytes = 0
    public var checkpointSeconds = Histogram(bounds: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])
    /// Entities and estimated bytes of feature state; assigned input partitions.
    public var entities = 0
    public var stateBytes = 0
    /// Entities removed because they were idle beyond their TTL; the memory
    /// budget (bytes, if set) and whether the state is over it.
    public var sweptEntities: UInt64 = 0
    public var memoryBudget: Int?
    public var overBudget = false
    public var assigned = 0
    /// Histograms: bucket upper bounds and cumulative-ready counts (last: +Inf), sum.
    public var score = Histogram(bounds: [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
    public var processingSeconds = Histogram(bounds: [0.000_005, 0.00001, 0.000_025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01])
    public var endToEndSeconds = Histogram(bounds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60])
    /// Per feature: how many vectors had it missing, and vectors in total.
    public var featureMissing: [String: UInt64] = [:]
    public var vectors: UInt64 = 0
    /// Set while the brokers cannot be reached: what librdkafka said, and since when (epoch ms).
    public var brokerTrouble: (text: String, since: Int64)?
    /// Set while nothing is assigned and the broker said a topic is unknown: the input topics.
    public var unknownTopics: String?
    /// Set while decisions or dead letters fail delivery: the last error, and since when (epoch ms).
    public var outputTrouble: (text: String, since: Int64)?
    /// The largest lag allowed for readiness.
    public var readyMaxLag: Int64 = 10_000

    /// Ready: model loaded, partitions assigned (and so restored), lag within bound, not stopping.
    public var isReady: Bool {
        !modelVersion.isEmpty && running && !stopping && assigned > 0 && (lag.values.max() ?? 0) <= readyMaxLag && brokerTrouble == nil
            && outputTrouble == nil
    }

    /// Why not ready, for the /readyz body.
    public var notReadyReasons: [String] {
        var reasons: [String] = []
        if modelVersion.isEmpty { reasons.append("no model loaded") }
        if let trouble = brokerTrouble { reasons.append("brokers unreachable since \(trouble.since) (epoch ms): \(trouble.text)") }
        if let trouble = outputTrouble { reasons.append("output failing delivery since \(trouble.since) (epoch ms): \(trouble.text)") }
        if !running { reasons.append("not consuming yet") }
        if stopping { reasons.append("stopping") }
        if assigned == 0 {
            reasons.append(unknownTopics.map { "no partitions assigned: the broker reports an unknown topic; does \($0) exist?" } ?? "no partitions assigned")
        }
        if let worst = lag.max(by: { $0.value < $1.value }), worst.value > readyMaxLag {
            reasons.append("consumer lag \(worst.value) on \(worst.key) is over \(readyMaxLag)")
        }
        return reasons
    }
}

/// A fixed-bucket histogram (Prometheus style).
public struct Histogram: Sendable {
    /// Bucket upper bounds, ascending.
    public let bounds: [Double]
    /// Counts per bucket (not cumulative); the last is above every bound.
    public var counts: [UInt64]
    /// Sum and number of observed values.
    public var sum = 0.0
    public var total: UInt64 = 0

    /// An empty histogram with these bucket bounds.
    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    /// Counts one value (non-finite values are ignored).
    @inline(__always)
    public mutating func observe(_ value: Double) {
        guard value.isFinite else { return }
        var i = 0
        while i < bounds.count && value > bounds[i] { i += 1 }
        counts[i] += 1
        sum += value
        total += 1
    }
}

/// The last published ``StreamStatus``.
public final class StatusBoard: Sendable {
    private let status = Mutex(StreamStatus())

    /// An empty board.
    public init() {}

    /// The last status.
    public var current: StreamStatus { status.withLock { $0 } }

    func publish(_ value: StreamStatus) { status.withLock { $0 = value } }
}

import OspreyFeatures

/// Maps a score to an outcome: the first threshold (highest first) the score
/// reaches decides; below all of them, the default.
///
///     decision:
///       thresholds:
///         - {outcome: decline, min_score: 0.9}
///         - {outcome: review, min_score: 0.5}
///       default: approve
public struct DecisionPolicy: Sendable, Equatable {
    /// (outcome, minimum score), highest minimum first.
    public var thresholds: [(outcome: String, minScore: Double)]
    /// The outcome below every threshold.
    public var defaultOutcome: String

    /// Creates a policy; thresholds are sorted highest first.
    public init(thresholds: [(outcome: String, minScore: Double)], defaultOutcome: String) {
        self.thresholds = thresholds.sorted { $0.minScore > $1.minScore }
        self.defaultOutcome = defaultOutcome
    }

    public static func == (a: DecisionPolicy, b: DecisionPolicy) -> Bool {
        a.defaultOutcome == b.defaultOutcome && a.thresholds.elementsEqual(b.thresholds) { $0.outcome == $1.outcome && $0.minScore == $1.minScore }
    }

    /// The outcome for `score`.
    @inline(__always)
    public func outcome(for score: Double) -> String {
        for t in thresholds where score >= t.minScore { return t.outcome }
        return defaultOutcome
    }

    /// The position of `score`'s outcome in ``outcomes``.
    @inline(__always)
    public func outcomeIndex(for score: Double) -> Int {
        for (i, t) in thresholds.enumerated() where score >= t.minScore { return i }
        return thresholds.count
    }

    /// Every outcome the policy can give.
    public var outcomes: [String] { thresholds.map(\.outcome) + [defaultOutcome] }

    static func load(_ node: ConfigNode?, problems: ConfigProblems) -> DecisionPolicy {
        guard let node else { return DecisionPolicy(thresholds: [("decline", 0.9), ("review", 0.5)], defaultOutcome: "approve") }
        node.rejectUnknownKeys(["thresholds", "default"])
        var thresholds: [(String, Double)] = []
        for element in node["thresholds"]?.elements ?? [] {
            element.rejectUnknownKeys(["outcome", "min_score"])
            guard let outcome = element.required("outcome", hint: "name the outcome, e.g. decline")?.string,
                  let minScore = element.required("min_score", hint: "give the lowest score with this outcome, e.g. 0.9")?.double else { continue }
            if !minScore.isFinite { element["min_score"]?.fail("must be a finite number") }
            thresholds.append((outcome, minScore))
        }
        let fallback = node["default"]?.string ?? "approve"
        return DecisionPolicy(thresholds: thresholds, defaultOutcome: fallback)
    }
}

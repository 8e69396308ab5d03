import OspreyFeatures

/// Turns an event's features and score into an outcome.
///
/// Rules come first, in order: the first whose condition holds decides.
/// Otherwise the model's score does: the first threshold (highest first) the
/// score reaches, below all of them the default. When no model can score
/// (none loaded, or it failed), the fallback outcome decides.
///
///     decision:
///       rules:
///         - {name: high_amount, when: "amount > 5000", outcome: review}
///       thresholds:
///         - {outcome: decline, min_score: 0.9}
///         - {outcome: review, min_score: 0.5}
///       default: approve
///       fallback: review
public struct DecisionPolicy: Sendable, Equatable {
    /// (outcome, minimum score), highest minimum first.
    public var thresholds: [(outcome: String, minScore: Double)]
    /// The outcome below every threshold.
    public var defaultOutcome: String
    /// Rules evaluated before the model.
    public var rules: [DecisionRule] = []
    /// The outcome when no rule applies and no model can score (nil: not
    /// configured; the default outcome then, and `osprey run` refuses to start
    /// without a loadable model).
    public var fallbackOutcome: String?

    /// Creates a policy; thresholds are sorted highest first.
    public init(thresholds: [(outcome: String, minScore: Double)], defaultOutcome: String) {
        self.thresholds = thresholds.sorted { $0.minScore > $1.minScore }
        self.defaultOutcome = defaultOutcome
    }

    public static func == (a: DecisionPolicy, b: DecisionPolicy) -> Bool {
        a.defaultOutcome == b.defaultOutcome && a.thresholds.elementsEqual(b.thresholds) { $0.outcome == $1.outcome && $0.minScore == $1.minScore }
            && a.rules == b.rules && a.fallbackOutcome == b.fallbackOutcome
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

    /// Every outcome the policy can give: the thresholds' in order, the
    /// default, then the rules' and the fallback's not already named.
    public var outcomes: [String] {
        var all = thresholds.map(\.outcome) + [defaultOutcome]
        for extra in rules.map(\.outcome) + [fallbackOutcome ?? defaultOutcome] where !all.contains(extra) { all.append(extra) }
        return all
    }

    static func load(_ node: ConfigNode?, problems: ConfigProblems) -> DecisionPolicy {
        guard let node else { return DecisionPolicy(thresholds: [("decline", 0.9), ("review", 0.5)], defaultOutcome: "approve") }
        node.rejectUnknownKeys(["thresholds", "default", "rules", "fallback"])
        var thresholds: [(String, Double)] = []
        for element in node["thresholds"]?.elements ?? [] {
            element.rejectUnknownKeys(["outcome", "min_score"])
            guard let outcome = element.required("outcome", hint: "name the outcome, e.g. decline")?.string,
                  let minScore = element.required("min_score", hint: "give the lowest score with this outcome, e.g. 0.9")?.double else { continue }
            if !minScore.isFinite { element["min_score"]?.fail("must be a finite number") }
            thresholds.append((outcome, minScore))
        }
        var policy = DecisionPolicy(thresholds: thresholds, defaultOutcome: node["default"]?.string ?? "approve")
        for (i, element) in (node["rules"]?.elements ?? []).enumerated() {
            element.rejectUnknownKeys(["name", "when", "outcome"])
            guard let when = element.required("when", hint: "give a condition on a feature, e.g. \"amount > 5000\"")?.string,
                  let outcome = element.required("outcome", hint: "name the outcome, e.g. review")?.string else { continue }
            do throws(DecisionRule.ParseError) {
                policy.rules.append(try DecisionRule(name: element["name"]?.string ?? "rule\(i + 1)", when: when, outcome: outcome))
            } catch {
                element["when"]?.fail(error.message)
            }
        }
        if let fallback = node["fallback"]?.string { policy.fallbackOutcome = fallback }
        return policy
    }
}

/// A rule evaluated before the model: `feature op number`, or `feature is missing`.
public struct DecisionRule: Sendable, Equatable {
    /// Comparison operators.
    public enum Operator: String, Sendable, CaseIterable {
        case greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<=", equal = "==", notEqual = "!=", isMissing = "is missing"
    }

    /// Why a condition does not parse.
    public struct ParseError: Error {
        let message: String
    }

    /// Named in decision records (`decided_by: "rule:NAME"`) and metrics.
    public let name: String
    /// The feature it reads.
    public let feature: String
    public let op: Operator
    public let value: Double
    /// The outcome when it holds.
    public let outcome: String

    /// Parses `when` (e.g. `amount > 5000`, `card_txn_count_5m >= 10`, `country is missing`).
    public init(name: String, when: String, outcome: String) throws(ParseError) {
        self.name = name
        self.outcome = outcome
        let parts = when.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if parts.count == 3, parts[1] == "is", parts[2] == "missing" {
            feature = parts[0]
            op = .isMissing
            value = .nan
            return
        }
        guard parts.count == 3, let op = Operator(rawValue: parts[1]), op != .isMissing else {
            throw ParseError(message: "'\(when)' is not a condition; write FEATURE OP NUMBER with OP one of > >= < <= == != (spaces around OP), or FEATURE is missing")
        }
        guard let value = Double(parts[2]), value.isFinite else {
            throw ParseError(message: "'\(parts[2])' in '\(when)' is not a finite number")
        }
        feature = parts[0]
        self.op = op
        self.value = value
    }

    /// Whether the rule holds for feature value `x` (a missing value is NaN
    /// and satisfies only `is missing` and `!=`).
    @inline(__always)
    public func holds(_ x: Double) -> Bool {
        switch op {
        case .greater: x > value
        case .greaterOrEqual: x >= value
        case .less: x < value
        case .lessOrEqual: x <= value
        case .equal: x == value
        case .notEqual: x != value
        case .isMissing: x.isNaN
        }
    }
}

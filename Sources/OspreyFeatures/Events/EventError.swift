/// Why an event could not be used. Carried to the dead-letter topic and counted
/// in metrics by ``Reason/code``.
public struct EventError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem, stable across releases (metrics labels, DLQ records).
    public enum Reason: String, Sendable, Equatable, CaseIterable {
        case empty = "empty"
        case tooLarge = "too_large"
        case tooLong = "too_long"
        case invalidJSON = "invalid_json"
        case invalidUTF8 = "invalid_utf8"
        case notAnObject = "not_an_object"
        case tooDeep = "too_deep"
        case duplicateField = "duplicate_field"
        case missingField = "missing_field"
        case wrongType = "wrong_type"
        case nonFiniteNumber = "non_finite_number"
        case invalidTimestamp = "invalid_timestamp"

        /// The label used in metrics and dead-letter records.
        public var code: String { rawValue }
    }

    /// The kind of problem.
    public let reason: Reason
    /// The field concerned, when there is one.
    public let field: String?
    /// A sentence for a human.
    public let message: String
    /// The byte offset in the event where the problem was found, when known.
    public let offset: Int?

    /// Creates an error.
    public init(_ reason: Reason, field: String? = nil, message: String, offset: Int? = nil) {
        self.reason = reason
        self.field = field
        self.message = message
        self.offset = offset
    }

    public var description: String {
        var text = "\(reason.code)"
        if let field { text += " (\(field))" }
        text += ": \(message)"
        if let offset { text += " at byte \(offset)" }
        return text
    }
}

/// A problem in the configuration file, named by its path in the document.
///
/// The message always says what was found and what to write instead, so that
/// whoever reads it at start-up can fix the file without opening the source:
/// `config events[0].features[3].window: '90x' is not a duration; use 30s, 5m, 1h, 7d`.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Where the problem is, e.g. `events[0].features[3].window`.
    public let path: String
    /// What is wrong and how to fix it.
    public let message: String
    /// The 1-based line in the YAML file, when known.
    public let line: Int?

    /// Creates an error for the value at `path`.
    public init(path: String, message: String, line: Int? = nil) {
        self.path = path
        self.message = message
        self.line = line
    }

    public var description: String {
        let location = line.map { " (line \($0))" } ?? ""
        return path.isEmpty ? "config\(location): \(message)" : "config \(path)\(location): \(message)"
    }
}

/// Every problem found in one configuration file.
///
/// Validation does not stop at the first problem: fixing a file one start-up at
/// a time is slow at 3 a.m.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    /// The problems, in document order.
    public let errors: [ConfigError]

    /// Wraps a non-empty list of problems.
    public init(_ errors: [ConfigError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

import Yams

/// A value in the YAML configuration, with its path for error messages.
///
/// Readers never throw on the first problem; they record a ``ConfigError`` in the
/// shared ``ConfigProblems`` and return `nil`, so one start-up reports all of them.
public struct ConfigNode {
    /// The underlying YAML node.
    public let node: Node
    /// The path of this node in the document, e.g. `events[0].fields`.
    public let path: String
    /// Where problems are recorded.
    public let problems: ConfigProblems

    /// Wraps `node` found at `path`.
    public init(node: Node, path: String, problems: ConfigProblems) {
        self.node = node
        self.path = path
        self.problems = problems
    }

    /// Parses a whole YAML document. Syntax errors are returned as one problem.
    public static func parse(yaml: String, problems: ConfigProblems) -> ConfigNode? {
        do {
            guard let root = try Yams.compose(yaml: yaml) else {
                problems.add(ConfigError(path: "", message: "the file is empty; it needs at least an 'events' section"))
                return nil
            }
            return ConfigNode(node: root, path: "", problems: problems)
        } catch {
            problems.add(ConfigError(path: "", message: "not valid YAML: \(String(describing: error).trimmingWhitespace)"))
            return nil
        }
    }

    /// The 1-based line of this node in the file.
    public var line: Int? { node.mark?.line }

    /// Records a problem about this node.
    public func fail(_ message: String) {
        problems.add(ConfigError(path: path, message: message, line: line))
    }

    func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The member `key` of a mapping, or `nil` if absent (or if this is not a mapping).
    public subscript(key: String) -> ConfigNode? {
        guard let mapping = node.mapping, let child = mapping[key] else { return nil }
        if case .scalar(let s) = child, s.tag == Tag(.null) { return nil }
        return ConfigNode(node: child, path: childPath(key), problems: problems)
    }

    /// The members of a mapping in document order; records a problem for a non-mapping.
    public var entries: [(key: String, value: ConfigNode)]? {
        guard let mapping = node.mapping else {
            fail("expected a mapping (key: value lines), found \(kindDescription)")
            return nil
        }
        return mapping.map { pair in
            let key = pair.key.string ?? "?"
            return (key, ConfigNode(node: pair.value, path: childPath(key), problems: problems))
        }
    }

    /// The elements of a sequence; records a problem for a non-sequence.
    public var elements: [ConfigNode]? {
        guard let sequence = node.sequence else {
            fail("expected a list ('- item' lines), found \(kindDescription)")
            return nil
        }
        return sequence.enumerated().map { ConfigNode(node: $1, path: "\(path)[\($0)]", problems: problems) }
    }

    /// Records a problem for every key not in `allowed` (catches typos such as `windw:`).
    public func rejectUnknownKeys(_ allowed: [String]) {
        guard let mapping = node.mapping else {
            fail("expected a mapping (key: value lines), found \(kindDescription)")
            return
        }
        for key in mapping.keys {
            let name = key.string ?? "?"
            if !allowed.contains(name) {
                problems.add(ConfigError(
                    path: childPath(name),
                    message: "unknown setting; allowed here: \(allowed.joined(separator: ", "))",
                    line: key.mark?.line))
            }
        }
    }

    /// The scalar text; records a problem for a mapping or list.
    public var string: String? {
        guard case .scalar(let scalar) = node else {
            fail("expected a single value, found \(kindDescription)")
            return nil
        }
        return scalar.string
    }

    /// The value as a number.
    public var double: Double? {
        guard let text = string else { return nil }
        if let d = Double(text.trimmingWhitespace) { return d }
        switch text.lowercased() {
        case ".nan", "nan": return .nan
        default:
            fail("'\(text)' is not a number")
            return nil
        }
    }

    /// The value as a whole number.
    public var int: Int? {
        guard let text = string else { return nil }
        guard let value = Int(text.trimmingWhitespace) else {
            fail("'\(text)' is not a whole number")
            return nil
        }
        return value
    }

    /// The value as `true`/`false`.
    public var bool: Bool? {
        guard let text = string else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail("'\(text)' is not a boolean; use true or false")
            return nil
        }
    }

    /// The value as a duration in milliseconds (`250ms`, `30s`, `5m`, `1h`, `7d`).
    public var duration: Int64? {
        guard let text = string else { return nil }
        guard let ms = Duration.milliseconds(text) else {
            fail("'\(text)' is not a duration; use a whole number with a unit: 250ms, 30s, 5m, 1h, 7d")
            return nil
        }
        return ms
    }

    /// Reads a required member, recording a problem if it is absent.
    public func required(_ key: String, hint: String) -> ConfigNode? {
        guard let child = self[key] else {
            problems.add(ConfigError(path: childPath(key), message: "missing; \(hint)", line: line))
            return nil
        }
        return child
    }

    var kindDescription: String {
        switch node {
        case .scalar(let s): return "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

/// Collects configuration problems while a file is read.
///
/// A reference type so that every ``ConfigNode`` of one document shares it.
/// Used by one thread at a time during start-up.
public final class ConfigProblems {
    /// The problems recorded so far, in the order they were found.
    public private(set) var errors: [ConfigError] = []

    /// Creates an empty collector.
    public init() {}

    /// Records a problem.
    public func add(_ error: ConfigError) { errors.append(error) }

    /// Throws all recorded problems, if any.
    public func throwIfAny() throws(ConfigErrors) {
        if !errors.isEmpty { throw ConfigErrors(errors) }
    }
}

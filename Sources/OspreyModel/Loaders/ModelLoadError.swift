/// Why a model file was refused. Every case names the field and the value at
/// fault, so the person deploying the model knows what to change.
public enum ModelLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The format could not be recognised.
    case unknownFormat(String)
    /// A required field is absent.
    case missingField(String)
    /// A field is present but its value is unusable.
    case invalidField(String, String)
    /// The model uses a feature of the library that Osprey does not implement.
    case unsupported(field: String, value: String, hint: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read model file \(path): \(reason)"
        case .unknownFormat(let reason): return "unrecognised model format: \(reason)"
        case .missingField(let field): return "model field '\(field)' is missing"
        case .invalidField(let field, let reason): return "model field '\(field)' \(reason)"
        case .unsupported(let field, let value, let hint):
            return "model field '\(field)' = '\(value)' is not supported: \(hint)"
        }
    }
}

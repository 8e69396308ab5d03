import Foundation
import OspreyFeatures

/// Reads the configuration file and the parts of it a command needs.
enum ConfigFile {
    /// The feature spec of the configuration at `path`; schema paths are
    /// relative to the file's folder.
    static func featureSpec(at path: String) throws -> FeatureSpec { try featureSpecAndSettings(at: path).0 }

    /// The feature spec and the `state:`/`checkpoints:` settings of the configuration at `path`.
    static func featureSpecAndSettings(at path: String) throws -> (FeatureSpec, StateSettings) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read config file \(path)")
        }
        let base = (path as NSString).deletingLastPathComponent
        do {
            return try FeatureSpecLoader.loadWithSettings(yaml: String(decoding: data, as: UTF8.self), baseDirectory: base.isEmpty ? "." : base)
        } catch {
            throw CLIError("\(path) has \(error.errors.count == 1 ? "a problem" : "\(error.errors.count) problems"):\n\(error)")
        }
    }

    /// The event type to use: `name` if given, else the only one declared.
    static func eventType(_ name: String?, in plan: FeaturePlan) throws -> Int {
        let names = plan.spec.eventTypes.map(\.name)
        if let name {
            guard let index = plan.eventTypeIndex(named: name) else {
                throw CLIError("--event-type '\(name)' is not in the config; declared: \(names.joined(separator: ", "))")
            }
            return index
        }
        guard names.count == 1 else {
            throw CLIError("the config declares \(names.count) event types (\(names.joined(separator: ", "))); choose one with --event-type")
        }
        return 0
    }
}

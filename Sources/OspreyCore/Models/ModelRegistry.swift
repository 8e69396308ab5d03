import Foundation
import OspreyModel

/// A model registry on disk: `<root>/<name>/<version>/` holds a model file
/// (XGBoost JSON or LightGBM text) and its `metadata.json`;
/// `<root>/<name>/deployment.json` records which version is live and which is
/// the challenger, so that the choice survives restarts and every instance
/// sharing the folder follows it.
public struct ModelRegistry: Sendable {
    /// The registry folder.
    public let root: String
    /// The model's name (a folder under ``root``).
    public let name: String

    /// A registry of model `name` under `root`.
    public init(root: String, name: String) {
        self.root = root
        self.name = name
    }

    /// `<root>/<name>`.
    public var folder: String { "\(root)/\(name)" }
    /// Where the deployment is recorded.
    public var deploymentPath: String { "\(folder)/deployment.json" }

    /// The versions present (folders holding a metadata.json), in natural
    /// order (runs of digits compare as numbers: v2 before v10).
    public func versions() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return entries.filter { FileManager.default.fileExists(atPath: "\(folder)/\($0)/metadata.json") }.sorted(by: Self.naturalOrder)
    }

    /// Natural order of version names.
    public static func naturalOrder(_ a: String, _ b: String) -> Bool {
        func chunks(_ s: String) -> [(digits: Bool, text: Substring)] {
            var out: [(Bool, Substring)] = []
            var start = s.startIndex
            while start < s.endIndex {
                let digits = s[start].isASCII && s[start].isNumber
                var end = start
                while end < s.endIndex, (s[end].isASCII && s[end].isNumber) == digits { end = s.index(after: end) }
                out.append((digits, s[start..<end]))
                start = end
            }
            return out
        }
        for (x, y) in zip(chunks(a), chunks(b)) where x.text != y.text {
            if x.digits && y.digits {
                let p = x.text.drop { $0 == "0" }, q = y.text.drop { $0 == "0" }
                return p.count != q.count ? p.count < q.count : p < q
            }
            return x.text < y.text
        }
        return chunks(a).count < chunks(b).count
    }

    /// Loads and validates `version`: its metadata, its model file, the
    /// metadata's feature names against the model's, and the model against
    /// `fits` (the feature spec's check).
    public func load(version: String, fits: (GradientBoostedModel) -> [String]) throws(RegistryError) -> LoadedModel {
        guard !version.isEmpty, !version.contains("/"), version != ".", version != ".." else {
            throw RegistryError("'\(version)' is not a version name (a folder under \(folder))")
        }
        let directory = "\(folder)/\(version)"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            let known = versions()
            throw RegistryError("model \(name) has no version '\(version)' (no folder \(directory)); versions: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
        }
        let metadata = try ModelMetadata.read(path: "\(directory)/metadata.json")
        let file: String
        if let named = metadata.modelFile {
            file = "\(directory)/\(named)"
        } else if let found = ["model.json", "model.txt", "model.ubj"].first(where: { FileManager.default.fileExists(atPath: "\(directory)/\($0)") }) {
            file = "\(directory)/\(found)"
        } else {
            throw RegistryError("\(directory): no model file (model.json, model.txt, or the metadata's model_file)")
        }
        let loaded = try LoadedModel.load(path: file, version: version, metadata: metadata, fits: fits)
        let names = loaded.model.featureNames
        if !names.isEmpty, names.contains(where: { !$0.isEmpty }), names != metadata.featureNames {
            throw RegistryError("\(directory): metadata.json feature_names differ from the model file's (\(ListDifference.describe(expected: names, found: metadata.featureNames, expectedName: "model", foundName: "metadata")))")
        }
        return loaded
    }

    /// The recorded deployment, or nil when none was recorded yet.
    public func readDeployment() throws(RegistryError) -> ModelDeployment? {
        guard let data = FileManager.default.contents(atPath: deploymentPath) else { return nil }
        do {
            return try JSONDecoder().decode(ModelDeployment.self, from: data)
        } catch {
            throw RegistryError("\(deploymentPath): unreadable (\(error)); fix or delete it (the config's model.live then applies)")
        }
    }

    /// Records `deployment` atomically (temporary file, then rename).
    public func write(_ deployment: ModelDeployment) throws(RegistryError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            let data = try encoder.encode(deployment)
            try data.write(to: URL(fileURLWithPath: deploymentPath), options: .atomic)
        } catch {
            throw RegistryError("cannot record the deployment in \(deploymentPath): \(error)")
        }
    }
}

/// Which registry versions serve, as recorded in `deployment.json`.
public struct ModelDeployment: Codable, Sendable, Equatable {
    /// The version that decides.
    public var live: String?
    /// The version scored beside it (shadow) or deciding for a share of entities (canary).
    public var challenger: String?
    /// How the challenger runs.
    public var mode: ChallengerMode = .shadow
    /// In canary mode, the share of entities the challenger decides for.
    public var canaryFraction: Double = 0
    /// The live version before the last promote or deploy, for rollback.
    public var previousLive: String?
    /// When this was recorded (epoch ms).
    public var updatedAt: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case live, challenger, mode, canaryFraction = "canary_fraction", previousLive = "previous_live", updatedAt = "updated_at"
    }

    /// A deployment.
    public init(live: String?, challenger: String? = nil, mode: ChallengerMode = .shadow, canaryFraction: Double = 0, previousLive: String? = nil) {
        self.live = live
        self.challenger = challenger
        self.mode = mode
        self.canaryFraction = canaryFraction
        self.previousLive = previousLive
    }

    /// Reads a record; only `live` is needed (a hand-written one may omit the rest).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        live = try c.decodeIfPresent(String.self, forKey: .live)
        challenger = try c.decodeIfPresent(String.self, forKey: .challenger)
        mode = try c.decodeIfPresent(ChallengerMode.self, forKey: .mode) ?? .shadow
        canaryFraction = try c.decodeIfPresent(Double.self, forKey: .canaryFraction) ?? 0
        previousLive = try c.decodeIfPresent(String.self, forKey: .previousLive)
        updatedAt = try c.decodeIfPresent(Int64.self, forKey: .updatedAt) ?? 0
        guard (0...1).contains(canaryFraction) else {
            throw DecodingError.dataCorruptedError(forKey: .canaryFraction, in: c, debugDescription: "must be from 0 to 1")
        }
    }

    /// Equal apart from the time it was recorded.
    public func sameServing(as other: ModelDeployment) -> Bool {
        live == other.live && challenger == other.challenger && mode == other.mode && canaryFraction == other.canaryFraction
    }
}

/// How a challenger model runs beside the live one.
public enum ChallengerMode: String, Codable, Sendable, CaseIterable {
    /// Scores every event on the same feature vector; recorded, never decides.
    case shadow
    /// Decides for a stable share of entities (hash of the entity key).
    case canary
}

/// Describes how two name lists differ, for error messages.
enum ListDifference {
    static func describe(expected: [String], found: [String], expectedName: String, foundName: String) -> String {
        let missing = expected.filter { !found.contains($0) }
        let extra = found.filter { !expected.contains($0) }
        var parts: [String] = []
        if !missing.isEmpty { parts.append("only in the \(expectedName): \(missing.joined(separator: ", "))") }
        if !extra.isEmpty { parts.append("only in the \(foundName): \(extra.joined(separator: ", "))") }
        if parts.isEmpty, let first = zip(expected, found).enumerated().first(where: { $1.0 != $1.1 }) {
            parts.append("same names in another order (position \(first.offset): \(expectedName) '\(first.element.0)', \(foundName) '\(first.element.1)')")
        }
        if parts.isEmpty { parts.append("\(expected.count) against \(found.count) names") }
        return parts.joined(separator: "; ")
    }
}

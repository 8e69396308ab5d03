import Foundation

/// What a registry version says about its model: `metadata.json` beside the
/// model file, written by `Deploy/training/train.py`.
///
/// Only ``featureNames`` is required; the reference histograms turn on drift
/// monitoring for the version.
public struct ModelMetadata: Codable, Sendable, Equatable {
    /// The model's features, in the order the model reads them.
    public var featureNames: [String]
    /// The model file inside the version folder (default: `model.json`, else `model.txt`).
    public var modelFile: String?
    /// When the model was trained (RFC 3339), as the trainer wrote it.
    public var createdAt: String?
    /// Fingerprints of the training data (e.g. `events_sha256`), as the trainer wrote them.
    public var training: [String: String]?
    /// Evaluation figures (e.g. `auc`, `precision_at_decline`).
    public var metrics: [String: Double]?
    /// The distribution of training scores and features, for drift (PSI).
    public var reference: Reference?

    /// Reference distributions.
    public struct Reference: Codable, Sendable, Equatable {
        /// Scores of the evaluation rows.
        public var score: Histogram?
        /// Each feature's values, by feature name.
        public var features: [String: Histogram]?
    }

    /// A histogram over bins cut at `edges`: bin 0 holds values below
    /// `edges[0]`, bin i values in `[edges[i-1], edges[i])`, the last bin values
    /// at or above the last edge; missing values (NaN) have their own count.
    public struct Histogram: Codable, Sendable, Equatable {
        /// Ascending cut points (`counts.count - 1` of them).
        public var edges: [Double]
        /// Values per bin.
        public var counts: [Double]
        /// Missing values.
        public var missing: Double?

        /// Creates a histogram.
        public init(edges: [Double], counts: [Double], missing: Double? = nil) {
            self.edges = edges
            self.counts = counts
            self.missing = missing
        }

        /// What is wrong with it, if anything.
        var problem: String? {
            if counts.count != edges.count + 1 { return "has \(edges.count) edges and \(counts.count) counts; needs one count more than edges" }
            if zip(edges, edges.dropFirst()).contains(where: { !($0 < $1) }) { return "edges must be finite and strictly ascending" }
            if edges.contains(where: { !$0.isFinite }) { return "edges must be finite" }
            if counts.contains(where: { $0 < 0 || !$0.isFinite }) || (missing ?? 0) < 0 { return "counts must be finite and not negative" }
            if counts.reduce(0, +) + (missing ?? 0) <= 0 { return "holds no values" }
            return nil
        }
    }

    enum CodingKeys: String, CodingKey {
        case featureNames = "feature_names", modelFile = "model_file", createdAt = "created_at", training, metrics, reference
    }

    /// Creates metadata naming the model's features.
    public init(featureNames: [String]) {
        self.featureNames = featureNames
    }

    /// Reads `metadata.json`; the error says what is wrong with it.
    public static func read(path: String) throws(RegistryError) -> ModelMetadata {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RegistryError("\(path): missing; every registry version needs a metadata.json naming its features (Deploy/training/train.py writes one)")
        }
        let metadata: ModelMetadata
        do {
            metadata = try JSONDecoder().decode(ModelMetadata.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw RegistryError("\(path): '\(key.stringValue)' is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw RegistryError("\(path): '\(at)' has the wrong type (\(context.debugDescription))")
        } catch {
            throw RegistryError("\(path): not valid JSON (\(error))")
        }
        if let score = metadata.reference?.score, let problem = score.problem {
            throw RegistryError("\(path): reference.score \(problem)")
        }
        for (name, histogram) in metadata.reference?.features ?? [:] {
            if let problem = histogram.problem { throw RegistryError("\(path): reference.features.\(name) \(problem)") }
            if !metadata.featureNames.contains(name) { throw RegistryError("\(path): reference.features.\(name) is not one of feature_names") }
        }
        return metadata
    }
}

/// Why a model version cannot be used; the message names the file and the fix.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String

    /// An error with `description`.
    public init(_ description: String) { self.description = description }
}

import Foundation
import OspreyModel

/// A model version loaded, validated and ready to score: the model, its
/// explainer (reason codes) and what the registry says about it.
public final class LoadedModel: Sendable {
    /// The version recorded in decisions.
    public let version: String
    /// The model file.
    public let path: String
    /// The model.
    public let model: GradientBoostedModel
    /// Reason codes and explanations for it.
    public let explainer: ContributionExplainer
    /// The registry metadata (nil for a model given as a plain file).
    public let metadata: ModelMetadata?
    /// When it was loaded (epoch ms).
    public let loadedAt: Int64

    init(version: String, path: String, model: GradientBoostedModel, metadata: ModelMetadata?) {
        self.version = version
        self.path = path
        self.model = model
        self.metadata = metadata
        explainer = ContributionExplainer(model)
        loadedAt = Int64(Date().timeIntervalSince1970 * 1000)
    }

    /// Loads the model file at `path` and checks it with `fits` (the feature
    /// spec's check); every problem is in the error.
    public static func load(path: String, version: String, metadata: ModelMetadata?, fits: (GradientBoostedModel) -> [String]) throws(RegistryError) -> LoadedModel {
        let model: GradientBoostedModel
        do {
            model = try GradientBoostedModel(contentsOfFile: path)
        } catch {
            throw RegistryError("model \(path): \(error)")
        }
        let problems = fits(model)
        if !problems.isEmpty {
            throw RegistryError("model \(path) (version \(version)) does not fit the feature spec: \(problems.joined(separator: "; "))")
        }
        return LoadedModel(version: version, path: path, model: model, metadata: metadata)
    }
}

/// The models serving at one moment: the live one, and optionally a
/// challenger in shadow or canary mode. The stream thread swaps a whole
/// lineup between two events, so every event is scored by exactly one lineup.
public struct ModelLineup: Sendable {
    /// Decides (nil: no model could be loaded; rules and the fallback decide).
    public var live: LoadedModel?
    /// Scored beside the live model.
    public var challenger: LoadedModel?
    /// Shadow or canary.
    public var mode: ChallengerMode
    /// In canary mode, the share of entities the challenger decides for.
    public var canaryFraction: Double

    /// A lineup.
    public init(live: LoadedModel?, challenger: LoadedModel? = nil, mode: ChallengerMode = .shadow, canaryFraction: Double = 0) {
        self.live = live
        self.challenger = challenger
        self.mode = mode
        self.canaryFraction = canaryFraction
    }

    /// Whether the challenger decides for `entity`: canary mode and the
    /// entity's stable hash falls in the canary share.
    @inline(__always)
    func challengerDecides(_ entity: String) -> Bool {
        guard challenger != nil, mode == .canary, canaryFraction > 0 else { return false }
        return CanaryHash.unit(entity) < canaryFraction
    }

    /// A short description for logs.
    public var summary: String {
        var text = "live \(live?.version ?? "none")"
        if let challenger {
            text += mode == .canary ? ", canary \(challenger.version) for \(canaryFraction * 100)% of entities" : ", shadow \(challenger.version)"
        }
        return text
    }
}

/// The stable hash that assigns entities to the canary: FNV-1a (64 bit) of
/// the key's UTF-8 bytes, then MurmurHash3's 64-bit finalizer (FNV alone
/// leaves the top bits barely touched by the last characters, and keys like
/// c-1, c-2 differ only there), top 53 bits mapped to [0, 1). The same on every
/// instance and every restart, so an entity stays with one model.
public enum CanaryHash {
    /// The key's position in [0, 1).
    public static func unit(_ key: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var copy = key
        copy.withUTF8 { bytes in
            for byte in bytes {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
        }
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash &*= 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        return Double(hash >> 11) / 9_007_199_254_740_992.0
    }
}

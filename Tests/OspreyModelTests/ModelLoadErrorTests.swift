import Foundation
import Testing
import OspreyJSON
@testable import OspreyModel

/// Edits of real fixture model files, made in memory, so that a broken model is
/// realistic in every part except the one under test.
enum ModelText {
    /// The text of a fixture's model file.
    static func fixture(_ name: String) throws -> String {
        try String(contentsOfFile: ModelFixture.named(name).modelPath, encoding: .utf8)
    }

    /// `text` with the first occurrence of `target` replaced; records an issue when `target` is absent.
    static func replacingFirst(_ target: String, with replacement: String, in text: String,
                               sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let range = try #require(text.range(of: target), "'\(target)' is not in the model text", sourceLocation: sourceLocation)
        return text.replacingCharacters(in: range, with: replacement)
    }

    /// `text` with the value of the first JSON member named `key` replaced by `replacement`.
    static func replacingJSONValue(of key: String, with replacement: String, in text: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let bytes = Array(text.utf8)
        let value = try #require(jsonValueRange(of: key, in: bytes), "no member '\(key)'", sourceLocation: sourceLocation)
        return String(decoding: bytes[..<value.lowerBound], as: UTF8.self) + replacement + String(decoding: bytes[value.upperBound...], as: UTF8.self)
    }

    /// Where the value of the first member named `key` is (compact JSON, as XGBoost writes it).
    static func jsonValueRange(of key: String, in bytes: [UInt8]) -> Range<Int>? {
        let pattern = Array("\"\(key)\":".utf8)
        guard let found = bytes.indices.first(where: { bytes[$0...].starts(with: pattern) }) else { return nil }
        let start = found + pattern.count
        return start..<jsonValueEnd(bytes, from: start)
    }

    /// The end of the value starting at `start`: objects and arrays are matched bracket by
    /// bracket with strings skipped whole; a scalar runs to the next separator.
    static func jsonValueEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var end = start
        guard end < bytes.count else { return end }
        if bytes[end] == UInt8(ascii: "{") || bytes[end] == UInt8(ascii: "[") {
            var depth = 0, inString = false
            repeat {
                let b = bytes[end]
                if inString {
                    if b == UInt8(ascii: "\\") { end += 1 } else if b == UInt8(ascii: "\"") { inString = false }
                } else if b == UInt8(ascii: "\"") {
                    inString = true
                } else if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                    depth += 1
                } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                    depth -= 1
                }
                end += 1
            } while depth > 0 && end < bytes.count
            return end
        }
        if bytes[end] == UInt8(ascii: "\"") {
            end += 1
            while end < bytes.count, bytes[end] != UInt8(ascii: "\"") { end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1 }
            return min(end + 1, bytes.count)
        }
        while end < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[end]) { end += 1 }
        return end
    }

    /// The element ranges of the array that starts at `start` (which must be '[').
    static func jsonArrayElements(_ bytes: [UInt8], arrayAt start: Int) -> [Range<Int>] {
        var elements: [Range<Int>] = []
        var i = start + 1
        while i < bytes.count, bytes[i] != UInt8(ascii: "]") {
            let end = jsonValueEnd(bytes, from: i)
            elements.append(i..<end)
            i = end
            if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i += 1 }
        }
        return elements
    }

    /// A smaller but still consistent model: only its first `count` trees (whole iterations
    /// for multiclass models when `count` is a multiple of the class count).
    static func keepingFirstTrees(_ count: Int, of text: String) -> String {
        if text.hasPrefix("tree") {
            // LightGBM: drop the blocks Tree=count ... up to "end of trees".
            guard let cut = text.range(of: "\nTree=\(count)\n"), let end = text.range(of: "\nend of trees") else { return text }
            return String(text[..<cut.lowerBound]) + "\n" + String(text[end.lowerBound...])
        }
        var bytes = Array(text.utf8)
        for key in ["trees", "tree_info", "weight_drop"] {
            guard let value = jsonValueRange(of: key, in: bytes), bytes[value.lowerBound] == UInt8(ascii: "[") else { continue }
            let kept = jsonArrayElements(bytes, arrayAt: value.lowerBound).prefix(count)
            var array: [UInt8] = [UInt8(ascii: "[")]
            for (i, element) in kept.enumerated() {
                if i > 0 { array.append(UInt8(ascii: ",")) }
                array += bytes[element]
            }
            array.append(UInt8(ascii: "]"))
            bytes.replaceSubrange(value, with: array)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `text` (a LightGBM model) with the `key=` line of block `tree` (the header when nil)
    /// rewritten from its space-separated tokens; `edit` returning nil deletes the line.
    static func editingLightGBM(_ text: String, tree: Int?, key: String, sourceLocation: SourceLocation = #_sourceLocation,
                                _ edit: ([String]) -> [String]?) throws -> String {
        var lines = text.components(separatedBy: "\n")
        var block: Int? = nil
        var target: Int? = nil
        for (i, line) in lines.enumerated() {
            if line.hasPrefix("Tree=") { block = Int(line.dropFirst(5)) }
            if line == "end of trees" { break }
            if block == tree, line.hasPrefix(key + "=") { target = i; break }
        }
        let index = try #require(target, "no line '\(key)=' in \(tree.map { "Tree=\($0)" } ?? "the header")", sourceLocation: sourceLocation)
        let tokens = lines[index].dropFirst(key.count + 1).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        if let edited = edit(tokens) {
            lines[index] = key + "=" + edited.joined(separator: " ")
        } else {
            lines.remove(at: index)
        }
        return lines.joined(separator: "\n")
    }

    /// Replaces token `position` of line `key=` in tree `tree` (or the header) with `value`.
    static func replacingLightGBMToken(_ text: String, tree: Int?, key: String, at position: Int, with value: String,
                                       sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try editingLightGBM(text, tree: tree, key: key, sourceLocation: sourceLocation) { tokens in
            var edited = tokens
            edited[position] = value
            return edited
        }
    }

    /// The error loading `text` throws, or nil (with an issue recorded) when it loads.
    static func loadError(_ text: String, format: ModelFormat? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> ModelLoadError? {
        loadError(bytes: Array(text.utf8), format: format, sourceLocation: sourceLocation)
    }

    static func loadError(bytes: [UInt8], format: ModelFormat? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> ModelLoadError? {
        do {
            _ = try ModelFile.load(bytes: bytes, format: format)
            Issue.record("the model loaded, but it should have been refused", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }
}

/// Checks that `error`'s description mentions every one of `parts`.
func expectDescription(_ error: ModelLoadError?, mentions parts: String..., sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error else { return }
    let text = error.description
    for part in parts {
        #expect(text.contains(part), "'\(text)' does not mention '\(part)'", sourceLocation: sourceLocation)
    }
}

/// A model that cannot be scored exactly is refused at load time, and the
/// message names the field at fault and the value found there, so the person
/// deploying it knows what to change. Each broken model below is a real
/// fixture with one field edited.
@Suite("Model load errors")
struct ModelLoadErrorTests {
    static let xgb = "xgb3_binary_logistic"
    static let lgb = "lgb_binary"

    // MARK: XGBoost JSON

    @Test("the unedited fixtures load (the edits below are the only fault)")
    func baselineLoads() throws {
        _ = try ModelFile.load(bytes: Array(try ModelText.fixture(Self.xgb).utf8))
        _ = try ModelFile.load(bytes: Array(try ModelText.fixture(Self.lgb).utf8))
        _ = try ModelFile.load(bytes: Array(try ModelText.fixture("lgb_categorical").utf8))
    }

    @Test("XGBoost: a gblinear booster is refused, naming the booster and the way out")
    func gblinear() throws {
        let linear = #"{"model":{"boosted_rounds":2,"weights":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,-0.25]},"name":"gblinear"}"#
        let text = try ModelText.replacingJSONValue(of: "gradient_booster", with: linear, in: try ModelText.fixture(Self.xgb))
        let error = ModelText.loadError(text)
        guard case .unsupported(let field, let value, _)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(field == "learner.gradient_booster.name" && value == "gblinear")
        expectDescription(error, mentions: "learner.gradient_booster.name", "'gblinear'", "booster='gbtree'")
    }

    @Test("XGBoost: an unknown objective is refused, naming it")
    func unknownObjective() throws {
        let text = try ModelText.replacingFirst(#""name":"binary:logistic""#, with: #""name":"reg:madeup""#, in: try ModelText.fixture(Self.xgb))
        let error = ModelText.loadError(text)
        expectDescription(error, mentions: "learner.objective.name", "reg:madeup")
    }

    @Test("XGBoost: a missing objective is named")
    func missingObjective() throws {
        let text = try ModelText.replacingJSONValue(of: "objective", with: #"{"reg_loss_param":{}}"#, in: try ModelText.fixture(Self.xgb))
        #expect(ModelText.loadError(text) == .missingField("learner.objective.name"))
    }

    @Test("XGBoost: vector-leaf trees (size_leaf_vector > 1) are refused, naming the tree and the size")
    func vectorLeaf() throws {
        let text = try ModelText.replacingFirst(#""size_leaf_vector":"1""#, with: #""size_leaf_vector":"3""#, in: try ModelText.fixture(Self.xgb))
        let error = ModelText.loadError(text)
        expectDescription(error, mentions: "gradient_booster.model.trees[0].tree_param.size_leaf_vector", "'3'", "multi_strategy")
    }

    @Test("XGBoost: an absurd size_leaf_vector is refused, not converted", arguments: ["1e300", "Infinity"])
    func absurdLeafVector(_ value: String) throws {
        let replacement = value == "Infinity" ? #""size_leaf_vector":Infinity"# : #""size_leaf_vector":"\#(value)""#
        let text = try ModelText.replacingFirst(#""size_leaf_vector":"1""#, with: replacement, in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "size_leaf_vector")
    }

    @Test("XGBoost: UBJSON ('{' then a UBJSON type marker) is recognised and refused with the way out",
          arguments: ["L", "i", "$", "U", "#"])
    func ubjson(_ marker: String) {
        // UBJSON object: '{', then a length-prefixed key, e.g. 'L' <int64 length> "learner".
        var bytes: [UInt8] = [UInt8(ascii: "{")] + Array(marker.utf8) + [0, 0, 0, 0, 0, 0, 0, 7] + Array("learner".utf8)
        bytes += [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "}")]
        let error = ModelText.loadError(bytes: bytes)
        expectDescription(error, mentions: "UBJSON", "model.json")
        #expect(throws: ModelLoadError.self) { try ModelFile.detectFormat(bytes) }
    }

    @Test("XGBoost: truncated JSON is refused as invalid JSON", arguments: [0.25, 0.5, 0.999])
    func truncated(_ fraction: Double) throws {
        let bytes = Array(try ModelText.fixture(Self.xgb).utf8)
        let error = ModelText.loadError(bytes: Array(bytes.prefix(Int(Double(bytes.count) * fraction))))
        expectDescription(error, mentions: "(document)", "not valid JSON")
    }

    @Test("XGBoost: tree_info with fewer entries than trees is refused with both counts")
    func treeInfoLength() throws {
        let text = try ModelText.replacingFirst(#""tree_info":[0,0,"#, with: #""tree_info":[0,"#, in: try ModelText.fixture(Self.xgb))
        let error = ModelText.loadError(text)
        #expect(error == .invalidField("gradient_booster.model.tree_info", "has 49 entries for 50 trees"))
    }

    @Test("XGBoost: a tree_info entry that is not an output index is refused")
    func treeInfoOutOfRange() throws {
        let text = try ModelText.replacingFirst(#""tree_info":[0,0,"#, with: #""tree_info":[0,3,"#, in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "tree_info[1]", "= 3.0", "below 1")
    }

    @Test("XGBoost: a split on a feature index beyond num_feature is refused, naming tree, node and feature")
    func splitBeyondFeatures() throws {
        // The root of tree 0 splits on f0; make it split on f9 of a 9-feature model.
        let text = try ModelText.replacingFirst(#""split_indices":[0,"#, with: #""split_indices":[9,"#, in: try ModelText.fixture(Self.xgb))
        let error = ModelText.loadError(text)
        expectDescription(error, mentions: "trees[0]", "split feature", "node 0", "feature 9", "9 features")
    }

    @Test("XGBoost: a split beyond num_feature is refused even in a subtree no path reaches")
    func unreachableSplitBeyondFeatures() throws {
        // Node 1 becomes a leaf, which cuts off its subtree (nodes 3, 4, ...); node 3 then names
        // a feature far past the row. The compiled layout bins every split's feature, so
        // accepting it would read outside the row.
        var text = try ModelText.fixture(Self.xgb)
        text = try ModelText.replacingFirst(#""left_children":[1,3,"#, with: #""left_children":[1,-1,"#, in: text)
        text = try ModelText.replacingFirst(#""split_indices":[0,2,6,0,"#, with: #""split_indices":[0,2,6,1000000,"#, in: text)
        expectDescription(ModelText.loadError(text), mentions: "trees[0]", "node 3", "feature 1000000", "9 features")
    }

    @Test("XGBoost: a negative split index is refused")
    func negativeSplitIndex() throws {
        let text = try ModelText.replacingFirst(#""split_indices":[0,"#, with: #""split_indices":[-4,"#, in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "trees[0]", "feature -4")
    }

    @Test("XGBoost: a non-integer split index is refused, naming the array element")
    func fractionalSplitIndex() throws {
        let text = try ModelText.replacingFirst(#""split_indices":[0,"#, with: #""split_indices":[0.5,"#, in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "trees[0].split_indices[0]", "0.5", "not an integer")
    }

    @Test("XGBoost: a child index outside the node array is refused, naming it")
    func childOutOfRange() throws {
        let text = try ModelText.replacingFirst(#""left_children":[1,3,"#, with: #""left_children":[9999,3,"#, in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "trees[0]", "child index 9999", "0..<123")
    }

    @Test("XGBoost: a cycle (a child pointing back at the root) is refused instead of looping")
    func cycle() throws {
        let text = try ModelText.replacingFirst(#""left_children":[1,3,"#, with: #""left_children":[1,0,"#, in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "trees[0]", "node 0", "reached twice")
    }

    @Test("XGBoost: node arrays of different lengths are refused")
    func ragged() throws {
        let text = try ModelText.replacingFirst(#""split_indices":[0,"#, with: #""split_indices":["#, in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "trees[0]", "different lengths")
    }

    @Test("XGBoost: a non-positive or absurd num_feature is refused", arguments: ["0", "-3", "1e300", "nine"])
    func numFeature(_ value: String) throws {
        // learner_model_param's num_feature (each tree_param has one too, which is not read).
        let text = try ModelText.replacingFirst(#""num_feature":"9","num_target""#, with: #""num_feature":"\#(value)","num_target""#,
                                                in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "learner.learner_model_param.num_feature")
    }

    @Test("XGBoost: num_class outside a sane range is refused, not converted", arguments: ["-1", "1e300", "NaN", "100000"])
    func numClass(_ value: String) throws {
        let text = try ModelText.replacingFirst(#""num_class":"0""#, with: #""num_class":"\#(value)""#, in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "learner.learner_model_param", "num_class")
    }

    @Test("XGBoost: a base_score outside (0, 1) for a logistic objective is refused with the value")
    func baseScore() throws {
        let text = try ModelText.replacingFirst(#""base_score":"[5.0725E-1]""#, with: #""base_score":"[1.5E0]""#, in: try ModelText.fixture(Self.xgb))
        expectDescription(ModelText.loadError(text), mentions: "learner.learner_model_param.base_score", "1.5", "binary:logistic")
    }

    @Test("XGBoost: an absurd version number does not stop or crash the load")
    func absurdVersion() throws {
        let text = try ModelText.replacingFirst(#""version":[3,2,0]"#, with: #""version":[1e300,-1,NaN]"#, in: try ModelText.fixture(Self.xgb))
        let ensemble = try ModelFile.load(bytes: Array(text.utf8))
        #expect(ensemble.trees.count == 50)
    }

    // MARK: LightGBM text

    @Test("LightGBM: an unknown objective line is refused, quoting the whole line")
    func lightgbmObjective() throws {
        let text = try ModelText.editingLightGBM(try ModelText.fixture(Self.lgb), tree: nil, key: "objective") { _ in ["madeup_loss", "alpha:2"] }
        let error = ModelText.loadError(text)
        expectDescription(error, mentions: "'objective'", "madeup_loss alpha:2", "supported")
    }

    @Test("LightGBM: a non-positive sigmoid parameter is refused")
    func lightgbmSigmoid() throws {
        let text = try ModelText.editingLightGBM(try ModelText.fixture(Self.lgb), tree: nil, key: "objective") { _ in ["binary", "sigmoid:-1"] }
        expectDescription(ModelText.loadError(text), mentions: "'objective'", "sigmoid:-1")
    }

    @Test("LightGBM: a missing max_feature_idx is named")
    func lightgbmMaxFeature() throws {
        let text = try ModelText.editingLightGBM(try ModelText.fixture(Self.lgb), tree: nil, key: "max_feature_idx") { _ in nil }
        #expect(ModelText.loadError(text) == .missingField("max_feature_idx"))
    }

    @Test("LightGBM: an unusable max_feature_idx is refused, not converted", arguments: ["-1", "x", "9223372036854775807", "100000000000"])
    func lightgbmAbsurdMaxFeature(_ value: String) throws {
        let text = try ModelText.editingLightGBM(try ModelText.fixture(Self.lgb), tree: nil, key: "max_feature_idx") { _ in [value] }
        expectDescription(ModelText.loadError(text), mentions: "max_feature_idx")
    }

    @Test("LightGBM: a leaf_value line with one value too few is refused with both counts")
    func lightgbmLeafCount() throws {
        let text = try ModelText.editingLightGBM(try ModelText.fixture(Self.lgb), tree: 0, key: "leaf_value") { Array($0.dropLast()) }
        #expect(ModelText.loadError(text) == .invalidField("Tree=0.leaf_value", "has 30 values, expected 31"))
    }

    // A token starting or ending in other white space must not let strtod run on into the next line.
    @Test("LightGBM: a non-numeric threshold token is refused, quoting it", arguments: ["abc", "1.5x", "--1", "0x", "\t1.5", "1.5\u{0B}", "\r"])
    func lightgbmThreshold(_ token: String) throws {
        let text = try ModelText.replacingLightGBMToken(try ModelText.fixture(Self.lgb), tree: 3, key: "threshold", at: 2, with: token)
        expectDescription(ModelText.loadError(text), mentions: "Tree=3.threshold", "'\(token)'", "not a number")
    }

    @Test("LightGBM: a decision_type with missing type 3 (bits 2-3) is refused, naming the node")
    func lightgbmDecisionType() throws {
        // 14: a default-left numeric split with missing type 3.
        let text = try ModelText.replacingLightGBMToken(try ModelText.fixture(Self.lgb), tree: 0, key: "decision_type", at: 1, with: "14")
        #expect(ModelText.loadError(text) == .invalidField("Tree=0.decision_type[1]", "= 14 has an unknown missing type"))
    }

    @Test("LightGBM: a split_feature that is not a 32-bit integer is refused, quoting it", arguments: ["2.5", "99999999999", "+-1", "1e3", "-"])
    func lightgbmSplitFeature(_ token: String) throws {
        let text = try ModelText.replacingLightGBMToken(try ModelText.fixture(Self.lgb), tree: 1, key: "split_feature", at: 0, with: token)
        expectDescription(ModelText.loadError(text), mentions: "Tree=1.split_feature", "'\(token)'", "not an integer")
    }

    @Test("LightGBM: a split on a feature beyond max_feature_idx is refused")
    func lightgbmSplitBeyondFeatures() throws {
        let text = try ModelText.replacingLightGBMToken(try ModelText.fixture(Self.lgb), tree: 0, key: "split_feature", at: 0, with: "9")
        expectDescription(ModelText.loadError(text), mentions: "trees[0]", "feature 9", "9 features")
    }

    @Test("LightGBM: a child index that names no leaf is refused, even the most negative Int32",
          arguments: ["-32", "31", "-2147483648", "2147483647"])
    func lightgbmChildOutOfRange(_ value: String) throws {
        let text = try ModelText.replacingLightGBMToken(try ModelText.fixture(Self.lgb), tree: 0, key: "left_child", at: 0, with: value)
        expectDescription(ModelText.loadError(text), mentions: "left_child")
    }

    @Test("LightGBM: a cycle (a child pointing back at the root) is refused")
    func lightgbmCycle() throws {
        let text = try ModelText.replacingLightGBMToken(try ModelText.fixture(Self.lgb), tree: 0, key: "right_child", at: 1, with: "0")
        expectDescription(ModelText.loadError(text), mentions: "trees[0]", "node 0", "reached twice")
    }

    @Test("LightGBM: a categorical split whose set index is not below num_cat is refused, not converted",
          arguments: ["8", "1e300", "inf", "-1", "0.5", "nan"])
    func lightgbmCategoryIndex(_ value: String) throws {
        // Tree 0 of lgb_categorical has num_cat=8 and a categorical root (decision_type 9).
        let text = try ModelText.replacingLightGBMToken(try ModelText.fixture("lgb_categorical"), tree: 0, key: "threshold", at: 0, with: value)
        expectDescription(ModelText.loadError(text), mentions: "Tree=0.threshold[0]", "num_cat=8")
    }

    @Test("LightGBM: an absurd num_cat is refused, not converted", arguments: ["9223372036854775807", "-1", "100000000"])
    func lightgbmNumCat(_ value: String) throws {
        let text = try ModelText.editingLightGBM(try ModelText.fixture("lgb_categorical"), tree: 0, key: "num_cat") { _ in [value] }
        expectDescription(ModelText.loadError(text), mentions: "Tree=0")
    }

    @Test("LightGBM: linear-leaf feature counts that do not add up are refused")
    func lightgbmLinearCounts() throws {
        let original = try ModelText.fixture("lgb_linear_tree")
        var perLeaf: [String] = []
        _ = try ModelText.editingLightGBM(original, tree: 1, key: "num_features") { perLeaf = $0; return $0 }
        try #require(perLeaf.count >= 2 && perLeaf.allSatisfy { (Int($0) ?? 0) < 10 })
        // Move 10 features from the last leaf to the one before: the total (and so the length of
        // leaf_features and leaf_coeff) stays right, the next-to-last leaf claims more than is left,
        // and the last leaf's count is negative.
        let text = try ModelText.editingLightGBM(original, tree: 1, key: "num_features") { tokens in
            var t = tokens
            t[t.count - 2] = String((Int(t[t.count - 2]) ?? 0) + 10)
            t[t.count - 1] = String((Int(t[t.count - 1]) ?? 0) - 10)
            return t
        }
        expectDescription(ModelText.loadError(text), mentions: "Tree=1.num_features")
    }

    @Test("LightGBM: text without a 'tree' header line is refused as another format")
    func lightgbmNotAModel() {
        let error = ModelText.loadError("version=v4\nnum_class=1\n", format: .lightgbmText)
        expectDescription(error, mentions: "max_feature_idx")
        let other = ModelText.loadError("hello=world\n", format: .lightgbmText)
        expectDescription(other, mentions: "not a LightGBM text model")
    }

    // MARK: Files and format detection

    @Test("an empty file, or one of only whitespace, is refused as empty", arguments: ["", " \n\t\r\n"])
    func emptyFile(_ text: String) {
        #expect(ModelText.loadError(text) == .unknownFormat("the file is empty"))
        expectDescription(ModelText.loadError(text), mentions: "empty")
    }

    @Test("format detection: JSON text is XGBoost, a 'tree' first line is LightGBM, leading whitespace is skipped")
    func detection() throws {
        #expect(try ModelFile.detectFormat(Array(try ModelText.fixture(Self.xgb).utf8)) == .xgboostJSON)
        #expect(try ModelFile.detectFormat(Array(try ModelText.fixture(Self.lgb).utf8)) == .lightgbmText)
        #expect(try ModelFile.detectFormat(Array("\n  {\"learner\":{}}".utf8)) == .xgboostJSON)
        #expect(try ModelFile.detectFormat(Array("{ \n }".utf8)) == .xgboostJSON)
        #expect(try ModelFile.detectFormat(Array("\r\ntree\r\nversion=v4\r\n".utf8)) == .lightgbmText)
    }

    @Test("format detection: anything else is refused, saying what was expected",
          arguments: ["hello", "[1,2]", "<xml/>", "TREE\n", "\u{FEFF}{\"learner\":{}}"])
    func detectionRefuses(_ text: String) {
        let error = ModelText.loadError(text)
        expectDescription(error, mentions: "unrecognised model format")
    }

    @Test("a format given explicitly overrides detection, and a wrong one fails with a clear reason")
    func explicitFormat() throws {
        let lightgbm = ModelText.loadError(try ModelText.fixture(Self.lgb), format: .xgboostJSON)
        expectDescription(lightgbm, mentions: "(document)", "not valid JSON")
        let xgboost = ModelText.loadError(try ModelText.fixture(Self.xgb), format: .lightgbmText)
        expectDescription(xgboost, mentions: "not a LightGBM text model")
    }

    @Test("a path that does not exist is named with the system's reason")
    func unreadable() {
        let path = "/nonexistent-osprey-dir/model.json"
        #expect(throws: ModelLoadError.self) { try ModelFile.load(path: path) }
        do {
            _ = try ModelFile.load(path: path)
        } catch {
            expectDescription(error, mentions: path, "cannot read")
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads LightGBM text models saved with `Booster.save_model("model.txt")` (LightGBM 3.x and 4.x).
///
/// Supports every boosting type (gbdt, dart, goss, rf with averaged output),
/// categorical splits, all missing-value types and linear trees. Objectives
/// without a known output transform are refused.
public enum LightGBMModelLoader {
    /// A tree's `key=value` lines: each value as a byte range of the model text.
    typealias TreeBlock = [String: Range<Int>]

    /// Parses the text of a model.
    public static func load(bytes: [UInt8]) throws(ModelLoadError) -> TreeEnsemble {
        let text = LightGBMText(bytes)
        var header: [String: String] = [:]
        var headerFlags: Set<String> = []
        var treeBlocks: [TreeBlock] = []
        var current: TreeBlock? = nil
        // Lines are scanned as bytes: a 300-tree model has tens of thousands of
        // numbers, and going through String indices costs more than parsing them.
        text.bytes.withUnsafeBufferPointer { buffer in
            let count = text.count
            var lineStart = 0
            while lineStart <= count {
                var lineEnd = lineStart
                while lineEnd < count, buffer[lineEnd] != 0x0A { lineEnd += 1 }
                defer { lineStart = lineEnd + 1 }
                var end = lineEnd
                if end > lineStart, buffer[end - 1] == 0x0D { end -= 1 }
                let line = UnsafeBufferPointer(rebasing: buffer[lineStart..<end])
                if line.elementsEqual("end of trees".utf8) { break }
                if line.isEmpty {
                    if let block = current { treeBlocks.append(block); current = nil }
                    continue
                }
                guard let eq = line.firstIndex(of: UInt8(ascii: "=")) else {
                    if current == nil { headerFlags.insert(String(decoding: line, as: UTF8.self)) }
                    continue
                }
                let key = String(decoding: line[..<eq], as: UTF8.self)
                let value = (lineStart + eq + 1)..<end
                if key == "Tree" {
                    if let block = current { treeBlocks.append(block) }
                    current = ["Tree": value]
                } else if current != nil {
                    current![key] = value
                } else {
                    header[key] = text.string(value)
                }
            }
        }
        if let block = current { treeBlocks.append(block) }
        guard headerFlags.contains("tree") || header["version"] != nil else {
            throw ModelLoadError.unknownFormat("not a LightGBM text model (no 'tree' header line)")
        }

        guard let maxFeatureText = header["max_feature_idx"] else { throw ModelLoadError.missingField("max_feature_idx") }
        // Bounded like XGBoost's num_feature: `+ 1` must not overflow, nor the generated names exhaust memory.
        guard let maxFeature = Int(maxFeatureText), maxFeature >= 0, maxFeature < 10_000_000 else {
            throw ModelLoadError.invalidField("max_feature_idx", "= '\(maxFeatureText)' is not a feature index in 0..<10000000")
        }
        let featureCount = maxFeature + 1
        let classCount = header["num_class"].flatMap { Int($0) } ?? 1
        let treesPerIteration = header["num_tree_per_iteration"].flatMap { Int($0) } ?? classCount
        guard classCount >= 1, treesPerIteration >= 1, treesPerIteration < 100_000 else {
            throw ModelLoadError.invalidField("num_tree_per_iteration", "= \(treesPerIteration) is not a positive count")
        }
        let objectiveLine = header["objective"] ?? "custom"
        let transform = try Self.transform(for: objectiveLine)

        var names = header["feature_names"].map { $0.split(separator: " ").map(String.init) } ?? []
        let hasNames = names.count == featureCount
        if !hasNames { names = (0..<featureCount).map { "Column_\($0)" } }

        var trees: [DecisionTree] = []
        trees.reserveCapacity(treeBlocks.count)
        for (t, block) in treeBlocks.enumerated() {
            trees.append(try tree(block, in: text, index: t, group: t % treesPerIteration))
        }
        var categorical = Set<Int>()
        for tree in trees { for node in tree.nodes where !node.isLeaf && node.isCategorical { categorical.insert(Int(node.feature)) } }

        let iterations = trees.count / treesPerIteration
        let averaging = headerFlags.contains("average_output") ? Double(max(iterations, 1)) : 1
        let ensemble = TreeEnsemble(
            format: .lightgbmText, objective: objectiveLine, convention: .lightgbm, featureNames: names, hasFeatureNames: hasNames,
            categoricalFeatures: categorical, trees: trees, outputCount: treesPerIteration,
            baseMargins: Array(repeating: 0, count: treesPerIteration), averagingDivisor: averaging,
            transform: transform, libraryVersion: header["version"])
        try ensemble.validate()
        return ensemble
    }

    /// The output transform for an `objective=` line such as `binary sigmoid:1`.
    static func transform(for objectiveLine: String) throws(ModelLoadError) -> OutputTransform {
        let parts = objectiveLine.split(separator: " ")
        let name = parts.first.map(String.init) ?? "custom"
        var options: [String: String] = [:]
        var flags: Set<String> = []
        for part in parts.dropFirst() {
            if let colon = part.firstIndex(of: ":") {
                options[String(part[..<colon])] = String(part[part.index(after: colon)...])
            } else {
                flags.insert(String(part))
            }
        }
        func sigmoidScale() throws(ModelLoadError) -> Double {
            guard let s = options["sigmoid"] else { return 1 }
            guard let v = Double(s), v > 0 else { throw ModelLoadError.invalidField("objective", "sigmoid:\(s) is not a positive number") }
            return v
        }
        switch name {
        case "binary": return .sigmoid(scale: try sigmoidScale())
        case "multiclassova", "multiclass_ova", "ova", "ovr": return .sigmoidPerOutput(scale: try sigmoidScale())
        case "multiclass", "softmax": return .softmax
        case "cross_entropy", "xentropy": return .sigmoid(scale: 1)
        case "cross_entropy_lambda", "xentlambda": return .softplus
        case "poisson", "gamma", "tweedie": return .exponential
        case "regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root", "root_mean_squared_error", "rmse",
             "regression_l1", "l1", "mean_absolute_error", "mae", "huber", "fair", "quantile", "mape",
             "mean_absolute_percentage_error":
            return flags.contains("sqrt") ? .signedSquare : .identity
        case "lambdarank", "rank_xendcg", "xendcg", "xe_ndcg", "xe_ndcg_mart", "xendcg_mart", "custom", "none", "null":
            return .identity
        default:
            throw ModelLoadError.unsupported(field: "objective", value: objectiveLine,
                                             hint: "no known output transform; supported: binary, multiclass, multiclassova, regression*, huber, fair, quantile, mape, poisson, gamma, tweedie, cross_entropy*, lambdarank, rank_xendcg")
        }
    }

    static func doubles(_ block: TreeBlock, _ key: String, in text: LightGBMText, tree t: Int, count: Int? = nil) throws(ModelLoadError) -> [Double] {
        guard let range = block[key] else {
            if count == 0 { return [] }
            throw ModelLoadError.missingField("Tree=\(t).\(key)")
        }
        var out: [Double] = []
        if let count { out.reserveCapacity(count) }
        // strtod in place (the text ends in NUL): correctly rounded, and it reads the
        // nan/inf LightGBM may write.
        let bad: String? = text.bytes.withUnsafeBufferPointer { buffer -> String? in
            let base = UnsafeMutableRawPointer(mutating: buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var cursor = base + range.lowerBound
            let end = base + range.upperBound
            while cursor < end {
                if cursor.pointee == 0x20 { cursor += 1; continue }
                var next: UnsafeMutablePointer<CChar>? = nil
                // strtod would skip other white space, even line ends, and read the next line.
                let startsToken = !(0x09...0x0D).contains(cursor.pointee)
                let value = startsToken ? strtod(cursor, &next) : 0
                guard startsToken, let next, next > cursor, next <= end, next == end || next.pointee == 0x20 else {
                    var tokenEnd = cursor
                    while tokenEnd < end, tokenEnd.pointee != 0x20 { tokenEnd += 1 }
                    return String(decoding: UnsafeRawBufferPointer(start: cursor, count: tokenEnd - cursor), as: UTF8.self)
                }
                out.append(value)
                cursor = next
            }
            return nil
        }
        if let bad {
            throw ModelLoadError.invalidField("Tree=\(t).\(key)", "holds '\(bad)', which is not a number")
        }
        if let count, out.count != count {
            throw ModelLoadError.invalidField("Tree=\(t).\(key)", "has \(out.count) values, expected \(count)")
        }
        return out
    }

    static func ints(_ block: TreeBlock, _ key: String, in text: LightGBMText, tree t: Int, count: Int? = nil) throws(ModelLoadError) -> [Int32] {
        guard let range = block[key] else {
            if count == 0 { return [] }
            throw ModelLoadError.missingField("Tree=\(t).\(key)")
        }
        var out: [Int32] = []
        if let count { out.reserveCapacity(count) }
        let bytes = text.bytes
        var i = range.lowerBound
        while i < range.upperBound {
            if bytes[i] == 0x20 { i += 1; continue }
            let start = i
            while i < range.upperBound, bytes[i] != 0x20 { i += 1 }
            guard let v = LightGBMText.int32(bytes[start..<i]) else {
                throw ModelLoadError.invalidField("Tree=\(t).\(key)", "holds '\(text.string(start..<i))', which is not an integer")
            }
            out.append(v)
        }
        if let count, out.count != count {
            throw ModelLoadError.invalidField("Tree=\(t).\(key)", "has \(out.count) values, expected \(count)")
        }
        return out
    }

    static func tree(_ block: TreeBlock, in text: LightGBMText, index t: Int, group: Int) throws(ModelLoadError) -> DecisionTree {
        guard let leafCount = text.int(block["num_leaves"]), leafCount >= 1, leafCount < 1 << 24 else {
            throw ModelLoadError.invalidField("Tree=\(t).num_leaves", "is missing or not a positive count")
        }
        let internalCount = leafCount - 1
        let leafValues = try doubles(block, "leaf_value", in: text, tree: t, count: leafCount)
        let leafCounts = (try? doubles(block, "leaf_count", in: text, tree: t, count: leafCount)) ?? Array(repeating: 1, count: leafCount)
        let isLinear = text.int(block["is_linear"]) == 1

        // LightGBM numbers internal nodes 0..<n-1 and leaves ~0, ~1, ...; here leaves follow the internal nodes.
        var nodes: [TreeNode] = []
        var categoryWords: [UInt32] = []
        if internalCount > 0 {
            let features = try ints(block, "split_feature", in: text, tree: t, count: internalCount)
            let thresholds = try doubles(block, "threshold", in: text, tree: t, count: internalCount)
            let decisionTypes = try ints(block, "decision_type", in: text, tree: t, count: internalCount)
            let left = try ints(block, "left_child", in: text, tree: t, count: internalCount)
            let right = try ints(block, "right_child", in: text, tree: t, count: internalCount)
            let internalCounts = (try? doubles(block, "internal_count", in: text, tree: t, count: internalCount)) ?? Array(repeating: 1, count: internalCount)
            let catCount = text.int(block["num_cat"]) ?? 0
            // Each categorical split has its own set, so there are at most as many sets as splits
            // (and `catCount + 1` below cannot overflow).
            guard catCount >= 0, catCount <= internalCount else {
                throw ModelLoadError.invalidField("Tree=\(t).num_cat", "= \(catCount) is not a count of category sets for \(internalCount) splits")
            }
            var boundaries: [Int32] = []
            if catCount > 0 {
                boundaries = try ints(block, "cat_boundaries", in: text, tree: t, count: catCount + 1)
                let words = try doubles(block, "cat_threshold", in: text, tree: t)
                categoryWords = try words.map { (w) throws(ModelLoadError) -> UInt32 in
                    guard w >= 0, w <= Double(UInt32.max), w == w.rounded() else {
                        throw ModelLoadError.invalidField("Tree=\(t).cat_threshold", "holds \(w), not a 32-bit word")
                    }
                    return UInt32(w)
                }
                guard boundaries.first == 0, zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 }),
                      Int(boundaries.last!) <= categoryWords.count
                else { throw ModelLoadError.invalidField("Tree=\(t).cat_boundaries", "does not index cat_threshold") }
            }
            // A child is an internal node index (>= 0) or ~leaf (< 0). Checked here, where the field
            // can be named, and because `internalCount + ~c` overflows Int32 for c = Int32.min.
            func child(_ c: Int32, _ key: String, _ i: Int) throws(ModelLoadError) -> Int32 {
                if c >= 0 {
                    guard Int(c) < internalCount else {
                        throw ModelLoadError.invalidField("Tree=\(t).\(key)[\(i)]", "= \(c) is not an internal node index below \(internalCount)")
                    }
                    return c
                }
                guard Int(~c) < leafCount else {
                    throw ModelLoadError.invalidField("Tree=\(t).\(key)[\(i)]", "= \(c) is not a leaf reference (~0 to ~\(leafCount - 1))")
                }
                return Int32(internalCount + Int(~c))
            }
            for i in 0..<internalCount {
                let d = decisionTypes[i]
                let isCategorical = d & 1 == 1
                guard let missing = MissingValueType(rawValue: UInt8((d >> 2) & 3)) else {
                    throw ModelLoadError.invalidField("Tree=\(t).decision_type[\(i)]", "= \(d) has an unknown missing type")
                }
                var node = TreeNode(
                    leftChild: try child(left[i], "left_child", i), rightChild: try child(right[i], "right_child", i), feature: features[i], threshold: thresholds[i],
                    leafValue: 0, cover: internalCounts[i], defaultLeft: d & 2 != 0, missingType: missing,
                    isCategorical: isCategorical, categoryWordsStart: 0, categoryWordsCount: 0)
                if isCategorical {
                    let index = thresholds[i]
                    // Compared as Double first: Int(_:) traps on NaN, infinities and huge values.
                    guard index >= 0, index < Double(catCount), index == index.rounded() else {
                        throw ModelLoadError.invalidField("Tree=\(t).threshold[\(i)]", "= \(index) is not a category set index below num_cat=\(catCount)")
                    }
                    let k = Int(index)
                    node.categoryWordsStart = boundaries[k]
                    node.categoryWordsCount = boundaries[k + 1] - boundaries[k]
                }
                nodes.append(node)
            }
        }
        for j in 0..<leafCount {
            nodes.append(.leaf(value: leafValues[j], cover: leafCounts[j]))
        }

        var linearLeaves: [Int32: LinearLeaf] = [:]
        if isLinear {
            let constants = try doubles(block, "leaf_const", in: text, tree: t, count: leafCount)
            let perLeaf = try ints(block, "num_features", in: text, tree: t, count: leafCount)
            // All counts must be checked before slicing: with a negative count further on, an
            // earlier leaf's count can pass the total check yet run past the arrays.
            if let j = perLeaf.firstIndex(where: { $0 < 0 }) {
                throw ModelLoadError.invalidField("Tree=\(t).num_features[\(j)]", "= \(perLeaf[j]) is negative")
            }
            let total = perLeaf.reduce(0) { $0 + Int($1) }
            let features = try ints(block, "leaf_features", in: text, tree: t, count: total)
            let coefficients = try doubles(block, "leaf_coeff", in: text, tree: t, count: total)
            var offset = 0
            for j in 0..<leafCount {
                let n = Int(perLeaf[j])
                linearLeaves[Int32(internalCount + j)] = LinearLeaf(
                    constant: constants[j], features: Array(features[offset..<offset + n]),
                    coefficients: Array(coefficients[offset..<offset + n]))
                offset += n
            }
        }
        return DecisionTree(nodes: nodes, categoryWords: categoryWords, linearLeaves: linearLeaves, outputGroup: group)
    }
}

/// The bytes of a LightGBM text model, with a NUL after them so `strtod` can read numbers in place.
struct LightGBMText {
    /// The model's bytes and a final NUL.
    let bytes: [UInt8]
    /// Number of model bytes (without the NUL).
    let count: Int

    init(_ model: [UInt8]) {
        var bytes = model
        bytes.append(0)
        self.bytes = bytes
        count = model.count
    }

    func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

    /// The integer a value holds, or `nil` when it is absent or not an integer.
    func int(_ range: Range<Int>?) -> Int? { range.flatMap { Int(string($0)) } }

    /// An optionally signed decimal integer that fits in `Int32`, or `nil`.
    static func int32(_ token: ArraySlice<UInt8>) -> Int32? {
        var digits = token[...]
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.count <= 10 else { return nil }
        var value: Int64 = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(d - UInt8(ascii: "0"))
        }
        if negative { value = -value }
        return Int32(exactly: value)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import OspreyJSON

/// Reads XGBoost models saved with `Booster.save_model("model.json")` (XGBoost 1.6 to 3.x).
///
/// Supported boosters: `gbtree` and `dart` (drop weights are folded into the leaves,
/// exactly as XGBoost multiplies them at prediction time). `gblinear`, vector-leaf
/// (multi-output) trees and unknown objectives are refused with the field at fault.
public enum XGBoostModelLoader {
    /// Objectives whose prediction is the margin itself.
    static let identityObjectives: Set<String> = [
        "reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror",
        "reg:absoluteerror", "reg:quantileerror", "binary:logitraw",
        "rank:pairwise", "rank:ndcg", "rank:map",
    ]
    /// Objectives predicting `exp(margin)`; their base_score is stored as a mean and turned into a margin with `log`.
    static let exponentialObjectives: Set<String> = [
        "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft",
    ]
    /// Objectives whose base_score is a probability, turned into a margin with `logit`.
    /// (`binary:logitraw` stores its base_score as a margin already.)
    static let logisticBaseObjectives: Set<String> = ["binary:logistic", "reg:logistic"]

    /// Parses the JSON text of a model.
    public static func load(bytes: [UInt8]) throws(ModelLoadError) -> TreeEnsemble {
        let root: JSONValue
        // XGBoost 2.x writes bare NaN for the (unused) threshold of categorical splits.
        do { root = try JSONReader.parse(bytes, allowNonFiniteNumbers: true) } catch { throw ModelLoadError.invalidField("(document)", "is not valid JSON: \(error)") }
        return try load(json: root)
    }

    /// Builds the ensemble from a parsed model document.
    public static func load(json root: JSONValue) throws(ModelLoadError) -> TreeEnsemble {
        guard let learner = root["learner"] else { throw ModelLoadError.missingField("learner") }
        let version = root["version"]?.arrayValue?.compactMap { $0.numberValue.flatMap { Int(exactly: $0) }.map(String.init) }.joined(separator: ".")

        guard let params = learner["learner_model_param"] else { throw ModelLoadError.missingField("learner.learner_model_param") }
        guard let featureCountValue = params["num_feature"]?.numberValue, featureCountValue >= 1, featureCountValue < 1e7 else {
            throw ModelLoadError.invalidField("learner.learner_model_param.num_feature", "must be a positive feature count")
        }
        let featureCount = Int(featureCountValue)
        // Range-checked as Double: Int(_:) traps on NaN, infinities and huge values.
        let classValue = params["num_class"]?.numberValue ?? 0
        let targetValue = params["num_target"]?.numberValue ?? 1
        guard classValue >= 0, classValue < 100_000, targetValue >= 1, targetValue < 100_000 else {
            func show(_ d: Double) -> String { Int(exactly: d).map(String.init) ?? "\(d)" }
            throw ModelLoadError.invalidField("learner.learner_model_param", "num_class=\(show(classValue)) num_target=\(show(targetValue)) are out of range")
        }
        let classCount = Int(classValue)
        let targetCount = Int(targetValue)
        let outputCount = max(classCount, targetCount, 1)

        guard let objective = learner["objective"]?["name"]?.stringValue else { throw ModelLoadError.missingField("learner.objective.name") }
        let transform: OutputTransform
        switch objective {
        case "binary:logistic", "reg:logistic": transform = .sigmoid(scale: 1)
        case "binary:hinge": transform = .hinge
        case "multi:softprob": transform = .softmax
        case "multi:softmax": transform = .argmax
        case _ where identityObjectives.contains(objective): transform = .identity
        case "survival:aft": transform = .exponentialInDouble  // AFT's transform works in double
        case _ where exponentialObjectives.contains(objective): transform = .exponential
        default:
            throw ModelLoadError.unsupported(field: "learner.objective.name", value: objective,
                                             hint: "supported objectives are binary:*, reg:*, count:poisson, survival:cox/aft, multi:softprob/softmax and rank:*")
        }

        let baseMargins = try baseMargins(params["base_score"], objective: objective, outputCount: outputCount)

        // Feature names and types.
        var names = (learner["feature_names"]?.arrayValue ?? []).compactMap(\.stringValue)
        let hasNames = names.count == featureCount
        if !hasNames { names = (0..<featureCount).map { "f\($0)" } }
        var categorical = Set<Int>()
        if let types = learner["feature_types"]?.arrayValue {
            for (i, t) in types.enumerated() where t.stringValue == "c" { categorical.insert(i) }
        }

        // Booster.
        guard let booster = learner["gradient_booster"] else { throw ModelLoadError.missingField("learner.gradient_booster") }
        let boosterName = booster["name"]?.stringValue ?? "?"
        let model: JSONValue
        var weights: [Double]? = nil
        switch boosterName {
        case "gbtree":
            guard let m = booster["model"] else { throw ModelLoadError.missingField("learner.gradient_booster.model") }
            model = m
        case "dart":
            guard let m = booster["gbtree"]?["model"] else { throw ModelLoadError.missingField("learner.gradient_booster.gbtree.model") }
            model = m
            weights = try numbers(booster["weight_drop"], "learner.gradient_booster.weight_drop")
        default:
            throw ModelLoadError.unsupported(field: "learner.gradient_booster.name", value: boosterName,
                                             hint: "only tree boosters (gbtree, dart) can be scored; retrain with booster='gbtree'")
        }
        guard let treeValues = model["trees"]?.arrayValue else { throw ModelLoadError.missingField("gradient_booster.model.trees") }
        let treeInfo = try numbers(model["tree_info"], "gradient_booster.model.tree_info")
        guard treeInfo.count == treeValues.count else {
            throw ModelLoadError.invalidField("gradient_booster.model.tree_info", "has \(treeInfo.count) entries for \(treeValues.count) trees")
        }
        if let w = weights, w.count != treeValues.count {
            throw ModelLoadError.invalidField("learner.gradient_booster.weight_drop", "has \(w.count) weights for \(treeValues.count) trees")
        }

        var trees: [DecisionTree] = []
        trees.reserveCapacity(treeValues.count)
        for (t, value) in treeValues.enumerated() {
            let group = treeInfo[t]
            guard group >= 0, group < Double(outputCount), group == group.rounded() else {
                throw ModelLoadError.invalidField("gradient_booster.model.tree_info[\(t)]", "= \(group) is not an output index below \(outputCount)")
            }
            trees.append(try tree(value, index: t, group: Int(group), weight: weights.map { Float($0[t]) }))
        }

        let ensemble = TreeEnsemble(
            format: .xgboostJSON, objective: objective, convention: .xgboost, featureNames: names, hasFeatureNames: hasNames,
            categoricalFeatures: categorical, trees: trees, outputCount: outputCount, baseMargins: baseMargins,
            averagingDivisor: 1, transform: transform, libraryVersion: version)
        try ensemble.validate()
        return ensemble
    }

    /// base_score is stored in prediction space ("5E-1", or "[5E-1]" / "[a,b,c]" since 3.0);
    /// XGBoost turns it into a margin with the objective's inverse link, in `Float`.
    static func baseMargins(_ value: JSONValue?, objective: String, outputCount: Int) throws(ModelLoadError) -> [Double] {
        let field = "learner.learner_model_param.base_score"
        var raw: [Double]
        switch value {
        case .none: raw = [0.5]
        case .number(let d)?: raw = [d]
        case .string(let s)?:
            let body = s.trimmingSpaces.drop { $0 == "[" }.reversed().drop { $0 == "]" }.reversed()
            raw = []
            for part in String(body).split(separator: ",") {
                guard let d = Double(String(part).trimmingSpaces) else {
                    throw ModelLoadError.invalidField(field, "= '\(s)' is not a number or list of numbers")
                }
                raw.append(d)
            }
        case .array(let elements)?:
            raw = elements.compactMap(\.numberValue)
        case let other?:
            throw ModelLoadError.invalidField(field, "is \(other.kindDescription), expected a number")
        }
        if raw.count == 1 && outputCount > 1 { raw = Array(repeating: raw[0], count: outputCount) }
        guard raw.count == outputCount else {
            throw ModelLoadError.invalidField(field, "has \(raw.count) values but the model has \(outputCount) outputs")
        }
        return try raw.map { (p) throws(ModelLoadError) -> Double in
            let f = Float(p)
            if logisticBaseObjectives.contains(objective) {
                guard f > 0, f < 1 else { throw ModelLoadError.invalidField(field, "= \(p) must be in (0, 1) for \(objective)") }
                return Double(-logf(1.0 / f - 1.0))
            }
            if exponentialObjectives.contains(objective) {
                guard f > 0 else { throw ModelLoadError.invalidField(field, "= \(p) must be positive for \(objective)") }
                return Double(logf(f))
            }
            return Double(f)
        }
    }

    static func numbers(_ value: JSONValue?, _ field: String) throws(ModelLoadError) -> [Double] {
        guard let value else { throw ModelLoadError.missingField(field) }
        guard case .array(let elements) = value else {
            throw ModelLoadError.invalidField(field, "is \(value.kindDescription), expected an array")
        }
        var out = [Double]()
        out.reserveCapacity(elements.count)
        for (i, e) in elements.enumerated() {
            guard let d = e.numberValue else { throw ModelLoadError.invalidField("\(field)[\(i)]", "is \(e.kindDescription), expected a number") }
            out.append(d)
        }
        return out
    }

    static func integers(_ value: JSONValue?, _ field: String) throws(ModelLoadError) -> [Int32] {
        try numbers(value, field).enumerated().map { (i, d) throws(ModelLoadError) -> Int32 in
            guard d == d.rounded(), d >= -2_147_483_648, d <= 2_147_483_647 else {
                throw ModelLoadError.invalidField("\(field)[\(i)]", "= \(d) is not an integer")
            }
            return Int32(d)
        }
    }

    static func tree(_ json: JSONValue, index t: Int, group: Int, weight: Float?) throws(ModelLoadError) -> DecisionTree {
        let prefix = "gradient_booster.model.trees[\(t)]"
        if let leafSize = json["tree_param"]?["size_leaf_vector"]?.numberValue, leafSize > 1 {
            throw ModelLoadError.unsupported(field: "\(prefix).tree_param.size_leaf_vector", value: Int(exactly: leafSize).map(String.init) ?? String(leafSize),
                                             hint: "vector-leaf trees (multi_strategy='multi_output_tree') are not supported; train with multi_strategy='one_output_per_tree'")
        }
        let left = try integers(json["left_children"], "\(prefix).left_children")
        let right = try integers(json["right_children"], "\(prefix).right_children")
        let features = try integers(json["split_indices"], "\(prefix).split_indices")
        let conditions = try numbers(json["split_conditions"], "\(prefix).split_conditions")
        let defaultLeft = try numbers(json["default_left"], "\(prefix).default_left")
        let hessians = (try? numbers(json["sum_hessian"], "\(prefix).sum_hessian")) ?? []
        let splitTypes = (try? integers(json["split_type"], "\(prefix).split_type")) ?? []
        let n = left.count
        guard n > 0, right.count == n, features.count == n, conditions.count == n, defaultLeft.count == n else {
            throw ModelLoadError.invalidField(prefix, "has node arrays of different lengths (left_children has \(n))")
        }
        guard splitTypes.isEmpty || splitTypes.count == n else {
            throw ModelLoadError.invalidField("\(prefix).split_type", "has \(splitTypes.count) entries for \(n) nodes")
        }

        // Category sets: categories_nodes[i]'s set is categories[segments[i] ..< segments[i] + sizes[i]].
        var categoryWords: [UInt32] = []
        var categoryRange: [Int32: (Int32, Int32)] = [:]
        if splitTypes.contains(where: { $0 != 0 }) {
            let catNodes = try integers(json["categories_nodes"], "\(prefix).categories_nodes")
            let segments = try integers(json["categories_segments"], "\(prefix).categories_segments")
            let sizes = try integers(json["categories_sizes"], "\(prefix).categories_sizes")
            let categories = try integers(json["categories"], "\(prefix).categories")
            guard segments.count == catNodes.count, sizes.count == catNodes.count else {
                throw ModelLoadError.invalidField("\(prefix).categories_segments", "does not match categories_nodes")
            }
            for (i, node) in catNodes.enumerated() {
                let start = Int(segments[i]), size = Int(sizes[i])
                guard start >= 0, size >= 0, start + size <= categories.count else {
                    throw ModelLoadError.invalidField("\(prefix).categories_segments[\(i)]", "points outside categories")
                }
                let set = categories[start..<start + size]
                guard let top = set.max() else { categoryRange[node] = (Int32(categoryWords.count), 0); continue }
                guard set.allSatisfy({ $0 >= 0 }), top < 16_777_216 else {
                    throw ModelLoadError.invalidField("\(prefix).categories", "holds a category outside 0..<2^24")
                }
                let wordCount = Int(top) / 32 + 1
                let first = categoryWords.count
                categoryWords.append(contentsOf: repeatElement(0, count: wordCount))
                for c in set { categoryWords[first + Int(c) / 32] |= 1 << UInt32(c % 32) }
                categoryRange[node] = (Int32(first), Int32(wordCount))
            }
        }

        var nodes: [TreeNode] = []
        nodes.reserveCapacity(n)
        for i in 0..<n {
            // XGBoost keeps thresholds and leaf values as Float.
            let value = Double(Float(conditions[i]))
            let cover = i < hessians.count ? hessians[i] : 1
            if left[i] < 0 {
                var leaf = Float(conditions[i])
                if let weight { leaf *= weight }  // DART: XGBoost multiplies each tree's output by its weight, in Float
                nodes.append(.leaf(value: Double(leaf), cover: cover))
                continue
            }
            let isCategorical = i < splitTypes.count && splitTypes[i] == 1
            var node = TreeNode(
                leftChild: left[i], rightChild: right[i], feature: features[i], threshold: value, leafValue: 0, cover: cover,
                defaultLeft: defaultLeft[i] != 0, missingType: .nan, isCategorical: isCategorical,
                categoryWordsStart: 0, categoryWordsCount: 0)
            if isCategorical {
                guard let (start, count) = categoryRange[Int32(i)] else {
                    throw ModelLoadError.invalidField("\(prefix).categories_nodes", "has no category set for categorical node \(i)")
                }
                node.categoryWordsStart = start
                node.categoryWordsCount = count
            }
            nodes.append(node)
        }
        return DecisionTree(nodes: nodes, categoryWords: categoryWords, outputGroup: group)
    }
}

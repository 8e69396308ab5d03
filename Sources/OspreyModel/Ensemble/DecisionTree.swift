/// How a library routes a value at a split. The two libraries differ in the
/// comparison (`<` against `<=`), in the numeric type they compare in, and in
/// how they treat missing values and categories; a tree remembers whose rules it follows.
public enum SplitConvention: Sendable, Equatable {
    /// XGBoost: inputs are rounded to `Float`; numeric splits go left when
    /// `x < threshold`; NaN follows the node's default direction; a category in
    /// the node's set goes right, anything else (negative, unseen, >= 2^24) goes left.
    case xgboost
    /// LightGBM: inputs are `Double`, with `|x| <= 1e-35` read as 0; numeric
    /// splits go left when `x <= threshold`; missing values follow the node's
    /// missing type; a category in the node's set goes left, NaN and negatives go right.
    case lightgbm
}

/// LightGBM's per-split missing-value type (bits 2-3 of `decision_type`).
public enum MissingValueType: UInt8, Sendable {
    /// NaN is read as 0.
    case none = 0
    /// 0 and NaN take the default direction.
    case zero = 1
    /// NaN takes the default direction.
    case nan = 2
}

/// One node of a ``DecisionTree``. Leaves have `leftChild == -1`.
public struct TreeNode: Sendable, Equatable {
    /// Index of the left child, or -1 for a leaf.
    public var leftChild: Int32
    /// Index of the right child, or -1 for a leaf.
    public var rightChild: Int32
    /// Feature the node splits on (unused for leaves).
    public var feature: Int32
    /// Split threshold (numeric splits).
    public var threshold: Double
    /// Output of a leaf, already multiplied by any tree weight (DART).
    public var leafValue: Double
    /// Training cover: hessian sum (XGBoost) or sample count (LightGBM). Used for explanations.
    public var cover: Double
    /// Direction for missing values.
    public var defaultLeft: Bool
    /// LightGBM missing-value type; XGBoost nodes use `.nan`.
    public var missingType: MissingValueType
    /// Whether the split is on a category set instead of a threshold.
    public var isCategorical: Bool
    /// For categorical splits: the bitset words in ``DecisionTree/categoryWords``.
    public var categoryWordsStart: Int32
    /// For categorical splits: how many bitset words.
    public var categoryWordsCount: Int32

    /// Whether this node is a leaf.
    @inlinable public var isLeaf: Bool { leftChild < 0 }

    /// A leaf with `value` and `cover`.
    public static func leaf(value: Double, cover: Double) -> TreeNode {
        TreeNode(
            leftChild: -1, rightChild: -1, feature: 0, threshold: 0, leafValue: value, cover: cover,
            defaultLeft: true, missingType: .nan, isCategorical: false, categoryWordsStart: 0, categoryWordsCount: 0)
    }
}

/// A linear model in one leaf (LightGBM `linear_tree`): `constant + Σ coefficient·x`,
/// falling back to the leaf's constant output when any of its inputs is NaN.
public struct LinearLeaf: Sendable, Equatable {
    /// Intercept.
    public var constant: Double
    /// Features used.
    public var features: [Int32]
    /// One coefficient per feature.
    public var coefficients: [Double]
}

/// One regression tree in the library-neutral form every other part of Osprey
/// (fast layouts, explanations, the reference walker) is built from.
public struct DecisionTree: Sendable, Equatable {
    /// Nodes; the root is node 0.
    public var nodes: [TreeNode]
    /// Category bitsets of categorical splits (bit `c` of word `c / 32` set means category `c` is in the set).
    public var categoryWords: [UInt32]
    /// Linear leaf models by node index, for LightGBM linear trees.
    public var linearLeaves: [Int32: LinearLeaf]
    /// Which output (class) this tree adds to.
    public var outputGroup: Int

    public init(nodes: [TreeNode], categoryWords: [UInt32] = [], linearLeaves: [Int32: LinearLeaf] = [:], outputGroup: Int) {
        self.nodes = nodes
        self.categoryWords = categoryWords
        self.linearLeaves = linearLeaves
        self.outputGroup = outputGroup
    }

    /// Length of the longest root-to-leaf path, in splits.
    public var depth: Int {
        var maxDepth = 0
        var stack: [(Int32, Int)] = [(0, 0)]
        while let (n, d) = stack.popLast() {
            let node = nodes[Int(n)]
            if node.isLeaf {
                maxDepth = max(maxDepth, d)
            } else {
                stack.append((node.leftChild, d + 1))
                stack.append((node.rightChild, d + 1))
            }
        }
        return maxDepth
    }

    /// Whether any split is categorical.
    public var hasCategoricalSplits: Bool { nodes.contains { !$0.isLeaf && $0.isCategorical } }

    /// Whether the category set of `node` contains the (already truncated, non-negative) category.
    @inlinable
    func categorySetContains(_ node: TreeNode, _ category: Int) -> Bool {
        let word = category >> 5
        guard word < Int(node.categoryWordsCount) else { return false }
        return (categoryWords[Int(node.categoryWordsStart) + word] >> UInt32(category & 31)) & 1 == 1
    }

    /// Whether a (library-domain) value goes to the left child of internal node `node`.
    ///
    /// `x` must already be in the library's input domain: rounded through `Float`
    /// for XGBoost, zero-thresholded for LightGBM (see ``InputDomain``).
    @inlinable
    public func goesLeft(_ node: TreeNode, _ x: Double, convention: SplitConvention) -> Bool {
        switch convention {
        case .xgboost:
            if x.isNaN { return node.defaultLeft }
            if node.isCategorical {
                // Out-of-range categories (negative or not exactly representable in
                // Float) are "not in the set": left, as one-hot encoding would go.
                if x < 0 || x >= 16_777_216 { return true }
                return !categorySetContains(node, Int(x))
            }
            return x < node.threshold
        case .lightgbm:
            if node.isCategorical {
                if x.isNaN { return false }
                // C++ static_cast<int>: truncation; out-of-range values become INT_MIN
                // on the platforms LightGBM runs on, which is negative: right.
                guard x > -2_147_483_649.0, x < 2_147_483_648.0 else { return false }
                let category = Int(x)
                if category < 0 { return false }
                return categorySetContains(node, category)
            }
            var v = x
            if v.isNaN && node.missingType != .nan { v = 0 }
            if (node.missingType == .zero && v == 0) || (node.missingType == .nan && v.isNaN) {
                return node.defaultLeft
            }
            return v <= node.threshold
        }
    }

    /// The index of the leaf `row` reaches.
    @inlinable
    public func leafIndex(for row: UnsafePointer<Double>, convention: SplitConvention) -> Int {
        var n = 0
        while true {
            let node = nodes[n]
            if node.isLeaf { return n }
            n = Int(goesLeft(node, row[Int(node.feature)], convention: convention) ? node.leftChild : node.rightChild)
        }
    }

    /// The tree's output for `row` (library-domain values).
    @inlinable
    public func output(for row: UnsafePointer<Double>, convention: SplitConvention) -> Double {
        let leaf = leafIndex(for: row, convention: convention)
        if !linearLeaves.isEmpty, let linear = linearLeaves[Int32(leaf)] {
            var sum = linear.constant
            for (f, c) in zip(linear.features, linear.coefficients) {
                let x = row[Int(f)]
                if x.isNaN { return nodes[leaf].leafValue }
                sum += c * x
            }
            return sum
        }
        return nodes[leaf].leafValue
    }

    /// Checks indices so that walking the tree can never leave its arrays or loop.
    func validate(featureCount: Int) throws(ModelLoadError) {
        guard !nodes.isEmpty else { throw ModelLoadError.invalidField("tree", "has no nodes") }
        var visited = [Bool](repeating: false, count: nodes.count)
        var stack: [Int32] = [0]
        while let n = stack.popLast() {
            guard n >= 0, Int(n) < nodes.count else {
                throw ModelLoadError.invalidField("tree", "child index \(n) is outside 0..<\(nodes.count)")
            }
            guard !visited[Int(n)] else { throw ModelLoadError.invalidField("tree", "node \(n) is reached twice (not a tree)") }
            visited[Int(n)] = true
            let node = nodes[Int(n)]
            if node.isLeaf { continue }
            guard node.rightChild >= 0 else { throw ModelLoadError.invalidField("tree", "node \(n) has a left child but no right child") }
            guard node.feature >= 0, Int(node.feature) < featureCount else {
                throw ModelLoadError.invalidField("split feature", "node \(n) splits on feature \(node.feature) but the model has \(featureCount) features")
            }
            if node.isCategorical {
                guard node.categoryWordsStart >= 0, node.categoryWordsCount >= 0,
                      Int(node.categoryWordsStart) + Int(node.categoryWordsCount) <= categoryWords.count
                else { throw ModelLoadError.invalidField("categories", "node \(n) points outside the category bitsets") }
            }
            stack.append(node.leftChild)
            stack.append(node.rightChild)
        }
        // The compiled layout bins the features of every split, reachable or not.
        for (n, node) in nodes.enumerated() where !node.isLeaf && (node.feature < 0 || Int(node.feature) >= featureCount) {
            throw ModelLoadError.invalidField("split feature", "node \(n) splits on feature \(node.feature) but the model has \(featureCount) features")
        }
        for (leaf, model) in linearLeaves {
            guard model.features.count == model.coefficients.count else {
                throw ModelLoadError.invalidField("leaf_coeff", "leaf \(leaf) has \(model.features.count) features but \(model.coefficients.count) coefficients")
            }
            for f in model.features where f < 0 || Int(f) >= featureCount {
                throw ModelLoadError.invalidField("leaf_features", "leaf \(leaf) uses feature \(f) but the model has \(featureCount) features")
            }
        }
    }
}

import Testing
@testable import OspreyModel

/// The compiled layout bins each feature value by counting the thresholds it passes,
/// in one chunk of 16, in a coarse chunk then a fine one (up to 256 thresholds), or by
/// binary search beyond. These models put every threshold of one feature in its own
/// stump, so a row's margin is its bin, and probe each chunk boundary.
@Suite("Compiled layout binning")
struct CompiledBinningTests {
    static let thresholdCounts = [1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 300]

    /// Distinct thresholds spanning negative, zero and positive values, exact in `Float`.
    static func thresholds(_ count: Int) -> [Double] {
        (0..<count).map { Double(Float($0) * 0.375 - Float(count / 3)) }
    }

    /// One stump per threshold: left leaf 0, right leaf 1, so the margin counts the
    /// thresholds the value passes. Missing-value rules cycle through the stumps.
    static func ensemble(_ convention: SplitConvention, thresholds: [Double]) -> TreeEnsemble {
        let missingTypes: [MissingValueType] = convention == .xgboost ? [.nan] : [.nan, .zero, .none]
        let trees = thresholds.enumerated().map { i, t in
            let split = TreeNode(
                leftChild: 1, rightChild: 2, feature: 0, threshold: t, leafValue: 0, cover: 2,
                defaultLeft: i % 2 == 0, missingType: missingTypes[i % missingTypes.count],
                isCategorical: false, categoryWordsStart: 0, categoryWordsCount: 0)
            return DecisionTree(nodes: [split, .leaf(value: 0, cover: 1), .leaf(value: 1, cover: 1)], outputGroup: 0)
        }
        return TreeEnsemble(
            format: convention == .xgboost ? .xgboostJSON : .lightgbmText, objective: "test", convention: convention,
            featureNames: ["x"], hasFeatureNames: true, categoricalFeatures: [], trees: trees, outputCount: 1,
            baseMargins: [0], averagingDivisor: 1, transform: .identity, libraryVersion: nil)
    }

    /// Every threshold, one ULP either side of it, and the values with special rules.
    static func probes(_ thresholds: [Double]) -> [Double] {
        var values: [Double] = [.nan, 0, -0.0, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                                Double(Float.leastNonzeroMagnitude), -Double.leastNonzeroMagnitude]
        for t in thresholds {
            values += [t, t.nextUp, t.nextDown, Double(Float(t).nextUp), Double(Float(t).nextDown)]
        }
        return values
    }

    @Test("bins equal the reference walker at and around every threshold", arguments: [SplitConvention.xgboost, .lightgbm], thresholdCounts)
    func binsMatchReference(_ convention: SplitConvention, _ count: Int) {
        let thresholds = Self.thresholds(count)
        let ensemble = Self.ensemble(convention, thresholds: thresholds)
        let model = GradientBoostedModel(ensemble: ensemble)
        #expect(model.usesCompiledLayout)
        for x in Self.probes(thresholds) {
            let compiled = model.margins([x])
            var reference = [0.0]
            [x].withUnsafeBufferPointer { row in reference.withUnsafeMutableBufferPointer { ensemble.referenceMargins(row, into: $0) } }
            #expect(compiled[0].bitPattern == reference[0].bitPattern, "x = \(x): compiled \(compiled[0]), reference \(reference[0])")
        }
    }
}

/// Trees are walked eight at a time; when their depths differ a lot, the layout groups
/// trees of similar depth and sums leaf values afterwards in tree order. Whether it
/// does depends on the expected steps saved, from the training covers.
@Suite("Compiled layout tree order")
struct CompiledLayoutOrderTests {
    /// A chain of `depth` splits on feature `depth % 3`, going left at each, with
    /// `heavyLeft` of the cover on the first left leaf (so most rows stop there).
    static func chain(depth: Int, heavyLeft: Double, value: Double) -> DecisionTree {
        var nodes: [TreeNode] = []
        for level in 0..<depth {
            let leftLeaf = Int32(nodes.count + 1), next = Int32(nodes.count + 2)
            let isLast = level == depth - 1
            let cover = level == 0 ? heavyLeft : (1 - heavyLeft) / Double(depth)
            nodes.append(TreeNode(
                leftChild: leftLeaf, rightChild: next, feature: Int32(level % 3), threshold: Double(level) * 0.5 - 2,
                leafValue: 0, cover: 1, defaultLeft: level % 2 == 0, missingType: .nan,
                isCategorical: false, categoryWordsStart: 0, categoryWordsCount: 0))
            nodes.append(.leaf(value: value * Double(level + 1), cover: cover))
            if isLast { nodes.append(.leaf(value: -value, cover: cover)) }
        }
        return DecisionTree(nodes: nodes, outputGroup: 0)
    }

    static func model(_ trees: [DecisionTree]) -> (TreeEnsemble, CompiledForest<Double>) {
        let ensemble = TreeEnsemble(
            format: .lightgbmText, objective: "test", convention: .lightgbm, featureNames: ["a", "b", "c"],
            hasFeatureNames: true, categoricalFeatures: [], trees: trees, outputCount: 1, baseMargins: [0],
            averagingDivisor: 1, transform: .identity, libraryVersion: nil)
        return (ensemble, CompiledForest<Double>(ensemble)!)
    }

    static func expectSameSums(_ ensemble: TreeEnsemble) {
        let model = GradientBoostedModel(ensemble: ensemble)
        for a in stride(from: -3.0, through: 9, by: 0.5) {
            let row = [a, -a, .nan]
            var reference = [0.0]
            row.withUnsafeBufferPointer { r in reference.withUnsafeMutableBufferPointer { ensemble.referenceMargins(r, into: $0) } }
            #expect(model.margins(row)[0].bitPattern == reference[0].bitPattern, "row \(row)")
        }
    }

    @Test("deep and shallow trees that rows traverse to the bottom are grouped by depth")
    func groupsWhenPathsAreLong() {
        // Every other tree is 20 deep with its cover at the bottom: grouping saves many steps.
        let trees = (0..<64).map { Self.chain(depth: $0 % 2 == 0 ? 20 : 9, heavyLeft: 0.001, value: Double($0) * 0.1 + 0.01) }
        let (ensemble, forest) = Self.model(trees)
        #expect(!forest.inOrder)
        Self.expectSameSums(ensemble)
    }

    @Test("deep trees that most rows leave early keep their order")
    func keepsOrderWhenPathsAreShort() {
        // The deep trees send 99.9% of the cover to their first leaf: rows rarely go deep.
        let trees = (0..<64).map { Self.chain(depth: $0 % 2 == 0 ? 20 : 9, heavyLeft: 0.999, value: Double($0) * 0.1 + 0.01) }
        let (ensemble, forest) = Self.model(trees)
        #expect(forest.inOrder)
        Self.expectSameSums(ensemble)
    }
}

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

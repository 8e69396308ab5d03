import Testing
@testable import OspreyModel

@Suite("Contributions and reason codes")
struct ReasonCodeTests {
    @Test("contributions sum to the margin of every output",
          arguments: ["xgb3_binary_logistic", "xgb3_multi_softprob", "xgb2_dart", "lgb_multiclass", "lgb_zero_as_missing"],
          ContributionMethod.allCases)
    func contributionsSumToMargin(_ name: String, _ method: ContributionMethod) throws {
        let fixture = ModelFixture.named(name)
        let model = try fixture.load()
        let explainer = ContributionExplainer(model.ensemble)
        let width = model.featureCount + 1
        for row in try fixture.rows(for: model).prefix(100) {
            let phi = try explainer.contributions(row, method: method)
            let margins = model.margins(row)
            for g in 0..<model.outputCount {
                let sum = phi[g * width..<(g + 1) * width].reduce(0, +)
                #expect(isClose(sum, margins[g], absolute: 1e-5, relative: 1e-5), "output \(g): \(sum) vs \(margins[g])")
            }
        }
    }

    @Test("path credits read by leaf equal the node walk's, to the rounding of Float records",
          arguments: ModelFixture.all)
    func pathCreditsByLeaf(_ fixture: ModelFixture) throws {
        let model = try fixture.load()
        guard ContributionExplainer(model).paths != nil else { return }  // linked or reference layouts walk the nodes
        var rows = try fixture.rows(for: model).prefix(200).map { $0 }
        // Missing values and values on the thresholds take the default and the `>=`/`>` branches.
        rows.append([Double](repeating: .nan, count: model.featureCount))
        rows.append([Double](repeating: 0, count: model.featureCount))
        // The same trees over more features: the fixtures' own width (records of 16
        // floats), twice it (records of 32) and seven times it (too wide for
        // records: the path steps are read instead).
        for spread in [1, 2, 7] {
            let wide = Self.spread(model.ensemble, by: spread)
            let explainer = ContributionExplainer(wide)
            #expect((explainer.paths?.records != nil) == (wide.featureCount <= PathTable.maximumRecordWidth))
            var mismatched: [String] = []
            for row in rows {
                var wideRow = [Double](repeating: 0, count: wide.featureCount)
                for (f, value) in row.enumerated() { wideRow[f * spread] = value }
                var byLeaf = [Double](repeating: .nan, count: explainer.valueCount)
                var walked = byLeaf
                try wideRow.withUnsafeBufferPointer { r in
                    try byLeaf.withUnsafeMutableBufferPointer { try explainer.contributions(r, method: .approximate, into: $0, byLeaf: true) }
                    try walked.withUnsafeMutableBufferPointer { try explainer.contributions(r, method: .approximate, into: $0, byLeaf: false) }
                }
                let scale = Self.creditScale(explainer, wideRow)
                for i in 0..<explainer.valueCount {
                    let bound = 0x1p-20 * scale[i] + 1e-12 * max(1, abs(walked[i]))
                    if !(abs(byLeaf[i] - walked[i]) <= bound) {
                        mismatched.append("value \(i): \(byLeaf[i]) by leaf, \(walked[i]) walked, bound \(bound)")
                    }
                }
            }
            #expect(mismatched.count == 0, "\(wide.featureCount) features: first \(mismatched.first ?? "")")
        }
    }

    /// `ensemble` with feature `f` renamed `f * spread` among `featureCount * spread` features.
    static func spread(_ ensemble: TreeEnsemble, by spread: Int) -> TreeEnsemble {
        var wide = ensemble
        wide.featureNames = (0..<ensemble.featureCount * spread).map { "f\($0)" }
        wide.categoricalFeatures = Set(ensemble.categoricalFeatures.map { $0 * spread })
        for t in wide.trees.indices {
            for n in wide.trees[t].nodes.indices where !wide.trees[t].nodes[n].isLeaf {
                wide.trees[t].nodes[n].feature *= Int32(spread)
            }
        }
        return wide
    }

    /// For every output and feature, the sum over trees of the absolute value
    /// of the tree's path credit to it: the scale of the rounding of summing
    /// per-leaf credits kept in `Float`.
    static func creditScale(_ explainer: ContributionExplainer, _ row: [Double]) -> [Double] {
        let ensemble = explainer.ensemble, width = ensemble.featureCount + 1
        let x = row.map { ensemble.libraryValue($0) }
        var scale = [Double](repeating: 0, count: explainer.valueCount)
        for (t, tree) in ensemble.trees.enumerated() {
            var credits: [Int: Double] = [:]
            var n = 0
            while !tree.nodes[n].isLeaf {
                let node = tree.nodes[n]
                let child = Int(tree.goesLeft(node, x[Int(node.feature)], convention: ensemble.convention) ? node.leftChild : node.rightChild)
                credits[Int(node.feature), default: 0] += explainer.nodeMeans[t][child] - explainer.nodeMeans[t][n]
                n = child
            }
            for (feature, credit) in credits { scale[tree.outputGroup * width + feature] += abs(credit) }
        }
        return scale
    }

    @Test("depth-wise trees are credited by leaf; leaf-wise trees deeper than 8 by the node walk")
    func whichModelsReadByLeaf() throws {
        #expect(ContributionExplainer(try ModelFixture.named("xgb3_binary_logistic").load()).paths != nil)
        #expect(ContributionExplainer(try ModelFixture.named("lgb_multiclass").load()).paths == nil)
        #expect(ContributionExplainer(try ModelFixture.named("lgb_linear_tree").load()).paths == nil)
    }

    @Test("one descent gives the prediction and the path credits of two separate calls", arguments: ModelFixture.all)
    func predictWithContributions(_ fixture: ModelFixture) throws {
        let model = try fixture.load()
        let explainer = ContributionExplainer(model)
        guard !model.ensemble.trees.contains(where: { !$0.linearLeaves.isEmpty }) else { return }
        var mismatched = 0
        let rows = try fixture.rows(for: model).prefix(200)
        for row in rows {
            var prediction = [Double](repeating: .nan, count: model.predictionCount)
            var phi = [Double](repeating: .nan, count: explainer.valueCount)
            try row.withUnsafeBufferPointer { r in
                try prediction.withUnsafeMutableBufferPointer { p in
                    try phi.withUnsafeMutableBufferPointer { try explainer.predict(r, into: p, contributions: $0) }
                }
            }
            let expectedPrediction = model.predict(row)
            let expectedPhi = try explainer.contributions(row, method: .approximate)
            let same = zip(prediction, expectedPrediction).allSatisfy { $0.bitPattern == $1.bitPattern }
                && zip(phi, expectedPhi).allSatisfy { $0.bitPattern == $1.bitPattern }
            if !same { mismatched += 1 }
        }
        #expect(mismatched == 0, "\(mismatched) of \(rows.count) rows differ")
    }

    @Test("top reasons are the largest positive contributions, largest first")
    func topReasons() throws {
        let fixture = ModelFixture.named("xgb3_binary_logistic")
        let model = try fixture.load()
        let explainer = ContributionExplainer(model.ensemble)
        for row in try fixture.rows(for: model).prefix(50) {
            let phi = try explainer.contributions(row, method: .approximate)
            let reasons = explainer.topReasons(phi, count: 3)
            let positive = phi.prefix(model.featureCount).enumerated().filter { $0.element > 0 }
                .sorted { $0.element > $1.element || ($0.element == $1.element && $0.offset < $1.offset) }
            #expect(reasons.map(\.featureIndex) == positive.prefix(3).map(\.offset))
            #expect(reasons.allSatisfy { $0.feature == model.featureNames[$0.featureIndex] })
        }
    }

    @Test("top reasons: ties go to the lower feature index; the bias, zeros and negatives never count")
    func topReasonsTies() throws {
        let model = try ModelFixture.named("xgb3_binary_logistic").load()
        let explainer = ContributionExplainer(model.ensemble)
        let f = model.featureCount
        try #require(f >= 5)
        var phi = [Double](repeating: 0, count: f + 1)
        phi[1] = 0.25; phi[3] = 0.5; phi[4] = 0.25; phi[0] = -2; phi[f] = 9  // phi[f] is the bias
        #expect(explainer.topReasons(phi, count: 2).map(\.featureIndex) == [3, 1])
        #expect(explainer.topReasons(phi, count: 3).map(\.featureIndex) == [3, 1, 4])
        #expect(explainer.topReasons(phi, count: 10).map(\.featureIndex) == [3, 1, 4])
        #expect(explainer.topReasons(phi, count: 0).isEmpty)
        phi[2] = 0.75
        #expect(explainer.topReasons(phi, count: 3).map(\.contribution) == [0.75, 0.5, 0.25])
    }

    @Test("linear trees have no contributions, as in LightGBM")
    func linearTreesRefused() throws {
        let model = try ModelFixture.named("lgb_linear_tree").load()
        let explainer = ContributionExplainer(model.ensemble)
        #expect(throws: ContributionError.self) {
            try explainer.contributions([Double](repeating: 0, count: model.featureCount), method: .exact)
        }
    }
}

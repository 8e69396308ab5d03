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

    @Test("path credits read by leaf equal the node walk's (summed in another order)", arguments: ModelFixture.all)
    func pathCreditsByLeaf(_ fixture: ModelFixture) throws {
        let model = try fixture.load()
        let explainer = ContributionExplainer(model)
        guard explainer.paths != nil else { return }  // linked or reference layouts walk the nodes
        var rows = try fixture.rows(for: model).prefix(200).map { $0 }
        // Missing values and values on the thresholds take the default and the `>=`/`>` branches.
        rows.append([Double](repeating: .nan, count: model.featureCount))
        rows.append([Double](repeating: 0, count: model.featureCount))
        var mismatched = 0
        for row in rows {
            var byLeaf = [Double](repeating: .nan, count: explainer.valueCount)
            var walked = byLeaf
            try row.withUnsafeBufferPointer { r in
                try byLeaf.withUnsafeMutableBufferPointer { try explainer.contributions(r, method: .approximate, into: $0, byLeaf: true) }
                try walked.withUnsafeMutableBufferPointer { try explainer.contributions(r, method: .approximate, into: $0, byLeaf: false) }
            }
            let same = zip(byLeaf, walked).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) || ($0.isNaN && $1.isNaN) }
            if !same { mismatched += 1 }
        }
        #expect(mismatched == 0, "\(mismatched) of \(rows.count) rows differ")
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

    @Test("linear trees have no contributions, as in LightGBM")
    func linearTreesRefused() throws {
        let model = try ModelFixture.named("lgb_linear_tree").load()
        let explainer = ContributionExplainer(model.ensemble)
        #expect(throws: ContributionError.self) {
            try explainer.contributions([Double](repeating: 0, count: model.featureCount), method: .exact)
        }
    }
}

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

import Foundation
import Testing
@testable import OspreyModel

/// Osprey's predictions against XGBoost's and LightGBM's own, row by row, on
/// models and inputs chosen to hit every rule the libraries apply (see
/// `Tests/Fixtures/models/README.md`).
@Suite("Parity with XGBoost and LightGBM")
struct LibraryParityTests {
    @Test("the fixture set is present")
    func fixturesPresent() {
        #expect(ModelFixture.all.count >= 30, "expected the committed fixture cases under \(ModelFixture.root.path)")
    }

    @Test("predictions equal the library's predict()", arguments: ModelFixture.all)
    func predictions(_ fixture: ModelFixture) throws {
        let model = try fixture.load()
        let rows = try fixture.rows(for: model)
        let expected = try fixture.numbers("expected.csv")
        let actual = rows.map { model.predict($0) }
        if let report = mismatches(actual, expected, rows: rows, label: fixture.name) { Issue.record(Comment(rawValue: report)) }
    }

    @Test("raw margins equal the library's output_margin / raw_score", arguments: ModelFixture.all)
    func margins(_ fixture: ModelFixture) throws {
        guard fixture.exists("margin.csv") else { return }
        let model = try fixture.load()
        let rows = try fixture.rows(for: model)
        let expected = try fixture.numbers("margin.csv")
        let actual = rows.map { model.margins($0) }
        if let report = mismatches(actual, expected, rows: rows, label: fixture.name) { Issue.record(Comment(rawValue: report)) }
    }

    @Test("the compiled layout equals the reference walker bit for bit", arguments: ModelFixture.all)
    func compiledEqualsReference(_ fixture: ModelFixture) throws {
        let model = try fixture.load()
        for row in try fixture.rows(for: model) {
            var reference = [Double](repeating: 0, count: model.outputCount)
            row.withUnsafeBufferPointer { r in reference.withUnsafeMutableBufferPointer { model.ensemble.referenceMargins(r, into: $0) } }
            let compiled = model.margins(row)
            #expect(compiled.map(\.bitPattern) == reference.map(\.bitPattern), "row \(row)")
        }
    }

    @Test("exact contributions equal pred_contribs (TreeSHAP)", arguments: ModelFixture.all)
    func exactContributions(_ fixture: ModelFixture) throws {
        try compareContributions(fixture, method: .exact, expectedFile: "contribs.csv")
    }

    @Test("approximate contributions equal pred_contribs with approx_contribs", arguments: ModelFixture.all)
    func approximateContributions(_ fixture: ModelFixture) throws {
        try compareContributions(fixture, method: .approximate, expectedFile: "approx_contribs.csv")
    }

    private func compareContributions(_ fixture: ModelFixture, method: ContributionMethod, expectedFile: String) throws {
        guard fixture.exists(expectedFile) else { return }
        let model = try fixture.load()
        let explainer = ContributionExplainer(model.ensemble)
        let rows = try fixture.rows(for: model)
        let actual = try rows.map { try explainer.contributions($0, method: method) }
        let expected = try fixture.numbers(expectedFile)
        // The libraries compute contributions in Float; allow for that.
        if let report = mismatches(actual, expected, rows: rows, label: fixture.name, absolute: 1e-5, relative: 1e-4) {
            Issue.record(Comment(rawValue: report))
        }
    }
}

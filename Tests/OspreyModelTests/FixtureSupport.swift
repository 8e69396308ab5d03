import Foundation
import Testing
@testable import OspreyModel

/// One fixture case written by `Tests/Fixtures/models/generate_model_fixtures.py`:
/// a model file, its inputs, and the library's own outputs for them.
struct ModelFixture: CustomTestStringConvertible, Sendable {
    let name: String
    let directory: URL

    var testDescription: String { name }

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    /// Every case directory that holds a model.
    static let all: [ModelFixture] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.sorted().compactMap { name in
            let dir = root.appendingPathComponent(name)
            let hasModel = ["model.json", "model.txt"].contains { FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path) }
            return hasModel ? ModelFixture(name: name, directory: dir) : nil
        }
    }()

    static func named(_ name: String) -> ModelFixture { ModelFixture(name: name, directory: root.appendingPathComponent(name)) }

    var modelPath: String {
        let json = directory.appendingPathComponent("model.json").path
        return FileManager.default.fileExists(atPath: json) ? json : directory.appendingPathComponent("model.txt").path
    }

    func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name).path) }

    func load() throws -> GradientBoostedModel { try GradientBoostedModel(contentsOfFile: modelPath) }

    /// Input rows in model feature order.
    func rows(for model: GradientBoostedModel) throws -> [[Double]] {
        let table = try FeatureTable.parse(Array(try Data(contentsOf: file("input.csv"))))
        let map = try table.columnIndices(for: model.featureNames, modelHasNames: model.ensemble.hasFeatureNames)
        let w = table.columns.count
        return (0..<table.rowCount).map { r in map.map { table.values[r * w + $0] } }
    }

    /// A headerless CSV of numbers, one array per line.
    func numbers(_ name: String) throws -> [[Double]] {
        let text = try String(contentsOf: file(name), encoding: .utf8)
        return text.split(separator: "\n").map { line in
            line.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) ?? .nan }
        }
    }
}

/// Whether `actual` is within the parity tolerance of `expected`: 1e-6 absolute + 1e-5 relative.
func isClose(_ actual: Double, _ expected: Double, absolute: Double = 1e-6, relative: Double = 1e-5) -> Bool {
    if actual.isNaN || expected.isNaN { return actual.isNaN && expected.isNaN }
    if actual.isInfinite || expected.isInfinite { return actual == expected }
    return abs(actual - expected) <= absolute + relative * abs(expected)
}

/// Describes the first few mismatching rows, or returns nil when all match.
func mismatches(_ actual: [[Double]], _ expected: [[Double]], rows: [[Double]], label: String, absolute: Double = 1e-6, relative: Double = 1e-5) -> String? {
    guard actual.count == expected.count else { return "\(label): \(actual.count) rows computed, \(expected.count) expected" }
    var report: [String] = []
    var bad = 0
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        let ok = a.count == e.count && zip(a, e).allSatisfy { isClose($0, $1, absolute: absolute, relative: relative) }
        if !ok {
            bad += 1
            if report.count < 5 { report.append("row \(i): got \(a) expected \(e) input \(rows[i])") }
        }
    }
    return bad == 0 ? nil : "\(label): \(bad)/\(expected.count) rows differ\n" + report.joined(separator: "\n")
}

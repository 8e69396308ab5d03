import Foundation
import Testing

@testable import OspreyModel

/// Scoring a batch of rows (as the daemon scores a poll batch) gives what
/// scoring them one at a time gives, bit for bit; the single-row results are
/// checked against XGBoost's and LightGBM's own predictions elsewhere.
@Suite("batch scoring")
struct BatchScoringTests {
    /// Batch sizes that leave a partial batch at the end, and a batch of one.
    static let batchSizes = [1, 7, 64]

    @Test("a batch's predictions equal one row at a time", arguments: ModelFixture.all)
    func predictions(_ fixture: ModelFixture) throws {
        let model = try fixture.load()
        let rows = Array(try fixture.rows(for: model).prefix(150))
        let p = model.predictionCount
        let expected = rows.map { model.predict($0) }
        for size in Self.batchSizes {
            var mismatched = 0
            for (chunk, flat) in Self.batches(rows, size: size) {
                var out = [Double](repeating: .nan, count: chunk.count * p)
                flat.withUnsafeBufferPointer { r in
                    out.withUnsafeMutableBufferPointer { model.predict(rows: r, count: chunk.count, into: $0) }
                }
                for (k, row) in chunk.indices.enumerated() where !Self.same(Array(out[k * p..<(k + 1) * p]), expected[row]) {
                    mismatched += 1
                }
            }
            #expect(mismatched == 0, "\(mismatched) of \(rows.count) rows differ in batches of \(size)")
        }
    }

    @Test("a batch's predictions and path credits equal one row at a time", arguments: ModelFixture.all)
    func explanations(_ fixture: ModelFixture) throws {
        let model = try fixture.load()
        let explainer = ContributionExplainer(model)
        let rows = Array(try fixture.rows(for: model).prefix(150))
        let p = model.predictionCount, v = explainer.valueCount
        let linear = model.ensemble.trees.contains { !$0.linearLeaves.isEmpty }
        for size in Self.batchSizes {
            var mismatched = 0
            for (chunk, flat) in Self.batches(rows, size: size) {
                var out = [Double](repeating: .nan, count: chunk.count * p)
                var phi = [Double](repeating: .nan, count: chunk.count * v)
                var workspace = [UInt32](repeating: 0, count: chunk.count * explainer.workspaceCount)
                var threw = false
                flat.withUnsafeBufferPointer { r in
                    out.withUnsafeMutableBufferPointer { o in
                        phi.withUnsafeMutableBufferPointer { c in
                            workspace.withUnsafeMutableBufferPointer { w in
                                do {
                                    try explainer.predict(rows: r, count: chunk.count, into: o, contributions: c, workspace: w)
                                } catch {
                                    threw = true
                                }
                            }
                        }
                    }
                }
                // Linear trees have no path credits; their predictions are still written.
                #expect(threw == linear)
                for (k, row) in chunk.enumerated() {
                    let prediction = Array(out[k * p..<(k + 1) * p])
                    var same = Self.same(prediction, model.predict(row))
                    if !linear {
                        let expected = try explainer.contributions(row, method: .approximate)
                        same = same && Self.same(Array(phi[k * v..<(k + 1) * v]), expected)
                    }
                    if !same { mismatched += 1 }
                }
            }
            #expect(mismatched == 0, "\(mismatched) of \(rows.count) rows differ in batches of \(size)")
        }
    }

    /// `rows` in consecutive batches of `size` (the last one shorter), each
    /// with its values one row after another.
    static func batches(_ rows: [[Double]], size: Int) -> [(rows: ArraySlice<[Double]>, flat: [Double])] {
        stride(from: 0, to: rows.count, by: size).map { start in
            let chunk = rows[start..<min(start + size, rows.count)]
            return (chunk, chunk.flatMap { $0 })
        }
    }

    static func same(_ a: [Double], _ b: [Double]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}

import Foundation
import OspreyModel

/// Measures single-row scoring the way the daemon scores: one call per event.
///
/// Prints the median over passes of ns/row for the compiled layout and for the
/// node-by-node reference walker in the same binary, so their ratio is
/// measured under the same conditions.
struct PredictBenchmark {
    let model: GradientBoostedModel
    let rows: [Double]
    let passes: Int
    let loadNanos: UInt64

    func run() {
        let f = model.featureCount
        let n = rows.count / max(f, 1)
        guard n > 0 else {
            print("no rows to score")
            return
        }
        var sink = 0.0
        func measure(_ score: (UnsafeBufferPointer<Double>, UnsafeMutableBufferPointer<Double>) -> Void) -> (median: Double, best: Double) {
            var out = [Double](repeating: 0, count: max(model.outputCount, model.predictionCount))
            var samples: [Double] = []
            // Repeat the rows so each pass lasts long enough to time (>= ~20 ms).
            let repeats = max(1, 200_000 / n)
            rows.withUnsafeBufferPointer { all in
                out.withUnsafeMutableBufferPointer { o in
                    for pass in 0...passes {
                        let start = DispatchTime.now().uptimeNanoseconds
                        for _ in 0..<repeats {
                            for r in 0..<n {
                                score(UnsafeBufferPointer(rebasing: all[r * f..<(r + 1) * f]), o)
                                sink += o[0]
                            }
                        }
                        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
                        if pass > 0 { samples.append(elapsed / Double(repeats * n)) }  // pass 0 warms caches
                    }
                }
            }
            samples.sort()
            return (samples[samples.count / 2], samples[0])
        }
        let compiled = measure { model.margins($0, into: $1) }
        let reference = measure { model.ensemble.referenceMargins($0, into: $1) }
        // Scoring with reason codes, as the daemon does for every event: path
        // credits read by leaf in the same descent, against predicting then
        // walking every tree's path again.
        let explainer = ContributionExplainer(model)
        var phi = [Double](repeating: 0, count: explainer.valueCount)
        var workspace = [UInt32](repeating: 0, count: explainer.workspaceCount)
        let withCredits = phi.withUnsafeMutableBufferPointer { credits in
            workspace.withUnsafeMutableBufferPointer { w in
                measure { row, out in try? explainer.predict(row, into: out, contributions: credits, workspace: w) }
            }
        }
        // The same, a batch of rows at a time (the daemon scores a poll batch).
        let batch = 64
        var batchPhi = [Double](repeating: 0, count: explainer.valueCount * batch)
        var batchOut = [Double](repeating: 0, count: model.predictionCount * batch)
        var batchWorkspace = [UInt32](repeating: 0, count: explainer.workspaceCount * batch)
        var batchSamples: [Double] = []
        rows.withUnsafeBufferPointer { all in
            let repeats = max(1, 200_000 / n)
            for pass in 0...passes {
                let start = DispatchTime.now().uptimeNanoseconds
                var scored = 0
                for _ in 0..<repeats {
                    var r = 0
                    while r < n {
                        let m = min(batch, n - r)
                        batchPhi.withUnsafeMutableBufferPointer { credits in
                            batchOut.withUnsafeMutableBufferPointer { out in
                                batchWorkspace.withUnsafeMutableBufferPointer { w in
                                    try? explainer.predict(rows: UnsafeBufferPointer(rebasing: all[r * f..<(r + m) * f]), count: m,
                                                           into: out, contributions: credits, workspace: w)
                                }
                            }
                        }
                        sink += batchOut[0]
                        r += m
                        scored += m
                    }
                }
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
                if pass > 0 { batchSamples.append(elapsed / Double(scored)) }
            }
        }
        batchSamples.sort()
        let batched = (median: batchSamples[batchSamples.count / 2], best: batchSamples[0])
        let walkedCredits = phi.withUnsafeMutableBufferPointer { credits in
            measure { row, out in
                model.predict(row, into: out)
                try? explainer.contributions(row, method: .approximate, into: credits, byLeaf: false)
            }
        }
        let depth = model.ensemble.trees.map(\.depth).max() ?? 0
        print("model: \(model.ensemble.format.rawValue) \(model.ensemble.objective), \(model.ensemble.trees.count) trees, max depth \(depth), \(model.featureCount) features")
        print("load: \(String(format: "%.1f", Double(loadNanos) / 1e6)) ms")
        print("rows: \(n), passes: \(passes), one row per call, one core")
        print("layout: \(model.usesCompiledLayout ? "compiled (8 trees in lock-step)" : "reference walker (model uses splits the compiled layout does not express)")")
        print(String(format: "osprey:            median %8.1f ns/row   best %8.1f ns/row", compiled.median, compiled.best))
        print(String(format: "baseline walker:   median %8.1f ns/row   best %8.1f ns/row", reference.median, reference.best))
        print(String(format: "speed-up vs baseline: %.2fx", reference.median / compiled.median))
        if explainer.readsPathsByLeaf {
            print(String(format: "score + path credits, one descent:   median %8.1f ns/row   best %8.1f ns/row", withCredits.median, withCredits.best))
            print(String(format: "the same, \(batch) rows per call:          median %8.1f ns/row   best %8.1f ns/row (%.2fx)",
                         batched.median, batched.best, withCredits.median / batched.median))
            print(String(format: "score, then walk every path again:   median %8.1f ns/row   best %8.1f ns/row (%.2fx)",
                         walkedCredits.median, walkedCredits.best, walkedCredits.median / withCredits.median))
        }
        if sink.isNaN { print("(checksum nan)") }
    }
}

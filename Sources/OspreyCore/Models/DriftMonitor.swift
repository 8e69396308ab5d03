import Foundation

/// Population stability index (PSI) of the live model's scores and input
/// features against the reference histograms in its metadata, over a
/// rolling window of processing time.
///
/// PSI = Σ (actual − expected) · ln(actual / expected) over the reference's
/// bins plus a missing-value bin, each share floored at 0.0001 so an empty
/// bin counts as rare rather than infinitely surprising. Common reading:
/// below 0.1 stable, 0.1–0.2 moderate shift, above 0.2 a significant shift.
///
/// Owned by the stream thread: ``observe(score:features:)`` is a few
/// branch-free binary searches over one flat array of edges and one
/// increment each in one flat array of counts, with no allocation and no lock.
struct DriftMonitor {
    /// One monitored distribution.
    struct Series {
        /// "score" or the feature's name.
        let name: String
        /// Position in the feature vector; -1 for the score.
        let featureIndex: Int
        let edges: [Double]
        /// Reference shares per bin, then the missing share (floored).
        let expected: [Double]
        /// Where its edges start in ``DriftMonitor/edges`` and its live counts
        /// (`slices × (edges.count + 2)`, slice by slice) in ``DriftMonitor/counts``.
        let edgeStart: Int
        let countStart: Int
        var bins: Int { edges.count + 2 }
    }

    /// The model version whose reference this is.
    let version: String
    let sliceSeconds: Double
    let slices: Int
    let series: [Series]
    /// Every series' edges, one after the other.
    let edges: [Double]
    /// Every series' live counts.
    var counts: [UInt32]
    var currentSlice = 0
    var sliceStarted: Double
    /// Events observed per slice.
    var observed: [UInt32]

    /// A monitor for `model`, or nil when its metadata holds no reference.
    init?(model: LoadedModel, featureNames: [String], windowSeconds: Double, now: Double, slices: Int = 12) {
        guard let reference = model.metadata?.reference else { return nil }
        var series: [Series] = []
        var edges: [Double] = []
        var countCount = 0
        func add(_ name: String, _ index: Int, _ histogram: ModelMetadata.Histogram) {
            let total = histogram.counts.reduce(0, +) + (histogram.missing ?? 0)
            let shares = (histogram.counts + [histogram.missing ?? 0]).map { max($0 / total, 0.0001) }
            series.append(Series(name: name, featureIndex: index, edges: histogram.edges, expected: shares,
                                 edgeStart: edges.count, countStart: countCount))
            edges += histogram.edges
            countCount += slices * (histogram.edges.count + 2)
        }
        if let score = reference.score { add("score", -1, score) }
        for (i, name) in featureNames.enumerated() {
            if let histogram = reference.features?[name] { add(name, i, histogram) }
        }
        guard !series.isEmpty else { return nil }
        version = model.version
        self.series = series
        self.edges = edges
        counts = [UInt32](repeating: 0, count: countCount)
        self.slices = slices
        sliceSeconds = windowSeconds / Double(slices)
        sliceStarted = now
        observed = [UInt32](repeating: 0, count: slices)
    }

    /// Counts one scored event.
    mutating func observe(score: Double, features: UnsafeBufferPointer<Double>) {
        observed[currentSlice] &+= 1
        let slice = currentSlice
        series.withUnsafeBufferPointer { series in
            edges.withUnsafeBufferPointer { edges in
                counts.withUnsafeMutableBufferPointer { counts in
                    for s in series {
                        let value = s.featureIndex < 0 ? score : features[s.featureIndex]
                        let bins = s.bins
                        let bin = value.isNaN ? bins - 1 : Self.bin(value, edges.baseAddress! + s.edgeStart, count: bins - 2)
                        counts[s.countStart &+ slice &* bins &+ bin] &+= 1
                    }
                }
            }
        }
    }

    /// The bin of `value`: the number of the (ascending) edges at or below it.
    /// The halving steps select rather than branch, so a value that lands
    /// anywhere costs the same and nothing mispredicts.
    @inline(__always)
    static func bin(_ value: Double, _ edges: UnsafePointer<Double>, count: Int) -> Int {
        guard count > 0 else { return 0 }
        var base = 0, n = count
        while n > 1 {
            let half = n &>> 1
            base = edges[base &+ half] <= value ? base &+ half : base
            n &-= half
        }
        return base &+ (edges[base] <= value ? 1 : 0)
    }

    /// Moves the window forward to `now`, forgetting the slices that left it.
    mutating func rotate(now: Double) {
        var steps = 0
        while now - sliceStarted >= sliceSeconds, steps < slices {
            currentSlice = (currentSlice + 1) % slices
            observed[currentSlice] = 0
            for s in series {
                for b in 0..<s.bins { counts[s.countStart + currentSlice * s.bins + b] = 0 }
            }
            sliceStarted += sliceSeconds
            steps += 1
        }
        if now - sliceStarted >= sliceSeconds { sliceStarted = now }
    }

    /// Events in the window.
    var windowCount: Int { observed.reduce(0) { $0 + Int($1) } }

    /// PSI of every series over the window; empty below `minimum` events.
    func psi(minimum: Int = 100) -> [(name: String, value: Double)] {
        let total = windowCount
        guard total >= minimum else { return [] }
        return series.map { s in
            let bins = s.edges.count + 2
            var value = 0.0
            for b in 0..<bins {
                var count = 0
                for slice in 0..<slices { count += Int(counts[s.countStart + slice * bins + b]) }
                let actual = max(Double(count) / Double(total), 0.0001)
                let expected = s.expected[b]
                value += (actual - expected) * log(actual / expected)
            }
            return (s.name, value)
        }
    }
}

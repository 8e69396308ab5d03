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
    /// Where one monitored distribution reads and counts: plain values, so
    /// the per-event loop copies no strings or arrays.
    struct Probe {
        /// Position in the feature vector; -1 for the score.
        let featureIndex: Int
        /// Its edges are `edgeCount` values from `edgeStart` in ``DriftMonitor/edges``.
        let edgeStart: Int
        let edgeCount: Int
        /// Its live counts (`slices × bins`, slice by slice) start here in ``DriftMonitor/counts``.
        let countStart: Int
        /// One bin per interval between edges, below and above them, and one for missing values.
        var bins: Int { edgeCount + 2 }
    }

    /// The model version whose reference this is.
    let version: String
    let sliceSeconds: Double
    let slices: Int
    /// Per monitored distribution: "score" or the feature's name.
    let names: [String]
    /// Per monitored distribution: reference shares per bin, then the missing share (floored).
    let expected: [[Double]]
    let probes: [Probe]
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
        var names: [String] = [], expected: [[Double]] = [], probes: [Probe] = []
        var edges: [Double] = []
        var countCount = 0
        func add(_ name: String, _ index: Int, _ histogram: ModelMetadata.Histogram) {
            let total = histogram.counts.reduce(0, +) + (histogram.missing ?? 0)
            names.append(name)
            expected.append((histogram.counts + [histogram.missing ?? 0]).map { max($0 / total, 0.0001) })
            let probe = Probe(featureIndex: index, edgeStart: edges.count, edgeCount: histogram.edges.count, countStart: countCount)
            probes.append(probe)
            edges += histogram.edges
            countCount += slices * probe.bins
        }
        if let score = reference.score { add("score", -1, score) }
        for (i, name) in featureNames.enumerated() {
            if let histogram = reference.features?[name] { add(name, i, histogram) }
        }
        guard !probes.isEmpty else { return nil }
        version = model.version
        self.names = names
        self.expected = expected
        self.probes = probes
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
        probes.withUnsafeBufferPointer { probes in
            edges.withUnsafeBufferPointer { edges in
                counts.withUnsafeMutableBufferPointer { counts in
                    for p in probes {
                        let value = p.featureIndex < 0 ? score : features[p.featureIndex]
                        let bins = p.bins
                        let bin = value.isNaN ? bins &- 1 : Self.bin(value, edges.baseAddress! + p.edgeStart, count: p.edgeCount)
                        counts[p.countStart &+ slice &* bins &+ bin] &+= 1
                    }
                }
            }
        }
    }

    /// The bin of `value`: the number of the (ascending) edges at or below it.
    /// Reference histograms have a few dozen edges at most: counting every
    /// edge passed is a branch-free loop, where a binary search (which LLVM
    /// compiles to branches) mispredicts about every other step.
    @inline(__always)
    static func bin(_ value: Double, _ edges: UnsafePointer<Double>, count: Int) -> Int {
        guard count > 64 else {
            var passed = 0
            for i in 0..<count { passed &+= (edges[i] <= value).mask }
            return passed
        }
        var low = 0, high = count
        while low < high {
            let mid = (low &+ high) &>> 1
            if value >= edges[mid] { low = mid &+ 1 } else { high = mid }
        }
        return low
    }

    /// Moves the window forward to `now`, forgetting the slices that left it.
    mutating func rotate(now: Double) {
        var steps = 0
        while now - sliceStarted >= sliceSeconds, steps < slices {
            currentSlice = (currentSlice + 1) % slices
            observed[currentSlice] = 0
            for p in probes {
                for b in 0..<p.bins { counts[p.countStart + currentSlice * p.bins + b] = 0 }
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
        return probes.indices.map { i in
            let p = probes[i]
            var value = 0.0
            for b in 0..<p.bins {
                var count = 0
                for slice in 0..<slices { count += Int(counts[p.countStart + slice * p.bins + b]) }
                let actual = max(Double(count) / Double(total), 0.0001)
                let expected = self.expected[i][b]
                value += (actual - expected) * log(actual / expected)
            }
            return (names[i], value)
        }
    }
}

private extension Bool {
    /// 1 for true, 0 for false, without a branch.
    var mask: Int { Int(truncatingIfNeeded: unsafeBitCast(self, to: UInt8.self)) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state Osprey keeps for one entity (one card, one merchant, one user).
///
/// All aggregators of the entity share one buffer of 64-bit words: a header of
/// region lengths, then one region per aggregator. One allocation per entity
/// keeps memory per entity small and checkpoints a plain copy of words.
public struct EntityState: Sendable, Equatable {
    /// The latest event time applied to the entity (`Int64.min`: none yet).
    public internal(set) var clock: Int64
    /// Region lengths, then the regions (see ``Aggregator``).
    public internal(set) var words: [UInt64]

    /// An entity with no events.
    init(aggregators: [Aggregator]) {
        clock = .min
        var words = [UInt64]()
        words.reserveCapacity(aggregators.count * 3)
        for a in aggregators { words.append(UInt64(a.emptyLength)) }
        for a in aggregators {
            for i in 0..<a.emptyLength {
                if case .last = a.kind, i == 0 { words.append(UInt64(bitPattern: .min)) } else { words.append(0) }
            }
        }
        self.words = words
    }

    /// Restores an entity from checkpointed parts.
    init(clock: Int64, words: [UInt64]) {
        self.clock = clock
        self.words = words
    }

    // MARK: Regions

    @inline(__always)
    func regionStart(_ j: Int, headerCount: Int) -> Int {
        var offset = headerCount
        var i = 0
        while i < j { offset += Int(truncatingIfNeeded: words[i]); i += 1 }
        return offset
    }

    @inline(__always)
    func regionLength(_ j: Int) -> Int { Int(truncatingIfNeeded: words[j]) }

    @inline(__always)
    func double(_ i: Int) -> Double { Double(bitPattern: words[i]) }

    @inline(__always)
    func int(_ i: Int) -> Int64 { Int64(bitPattern: words[i]) }

    @inline(__always)
    mutating func setDouble(_ i: Int, _ v: Double) { words[i] = v.bitPattern }

    /// Opens `count` zeroed words at `position` (the generic `insert(contentsOf:)`
    /// costs several times this memmove).
    mutating func insertWords(_ count: Int, at position: Int, region j: Int) {
        let oldCount = words.count
        // Grow by small steps rather than doubling: entity buffers are small
        // and many, and doubling would leave up to half of each one unused.
        if words.capacity < oldCount + count { words.reserveCapacity(oldCount + count + 6) }
        for _ in 0..<count { words.append(0) }
        words.withUnsafeMutableBufferPointer { w in
            let base = w.baseAddress!
            (base + position + count).update(from: base + position, count: oldCount - position)
            (base + position).update(repeating: 0, count: count)
        }
        words[j] &+= UInt64(count)
    }

    mutating func removeWords(_ range: Range<Int>, region j: Int) {
        let n = range.count
        let oldCount = words.count
        words.withUnsafeMutableBufferPointer { w in
            let base = w.baseAddress!
            (base + range.lowerBound).update(from: base + range.upperBound, count: oldCount - range.upperBound)
        }
        words.removeLast(n)
        words[j] &-= UInt64(n)
    }

    // MARK: Updates

    /// Moves the entity's clock to `newClock` and evicts what left the windows.
    mutating func advance(to newClock: Int64, aggregators: [Aggregator]) {
        guard newClock > clock else { return }
        clock = newClock
        let k = aggregators.count
        for j in 0..<k {
            let a = aggregators[j]
            guard a.tileCount > 0 else { continue }
            let start = tileIndex(newClock, a.step) - a.tileCount + 1
            let offset = regionStart(j, headerCount: k)
            switch a.kind {
            case .tiles(let columns):
                evictTiles(region: j, offset: offset, aggregator: a, columns: columns, before: start)
            case .extremum, .distinct:
                let n = regionLength(j) / 2
                var m = 0
                while m < n && int(offset + 2 * m) < start { m += 1 }
                if m > 0 { removeWords(offset..<(offset + 2 * m), region: j) }
            case .last:
                break
            }
        }
    }

    mutating func evictTiles(region j: Int, offset: Int, aggregator a: Aggregator, columns: [TileColumn], before start: Int64) {
        let totals = a.totalsWidth
        let stride = a.tileStride
        let n = (regionLength(j) - totals) / stride
        var m = 0
        while m < n && TileWord.index(words[offset + totals + m * stride]) < start { m += 1 }
        guard m > 0 else { return }
        if m == n {
            // Empty window: reset the totals exactly rather than subtract.
            for i in offset..<(offset + totals) { words[i] = 0 }
        } else {
            for t in 0..<m {
                let tile = offset + totals + t * stride
                setDouble(offset, double(offset) - Double(TileWord.count(words[tile])))
                var to = offset + 1
                var from = tile + 1
                for c in columns {
                    if c.counted {
                        setDouble(to, double(to) - double(from))
                        to += 1
                        from += 1
                    }
                    compensatedAdd(at: to, -double(from))
                    if c.squares { compensatedAdd(at: to + 2, -double(from + 1)) }
                    to += c.squares ? 4 : 2
                    from += c.squares ? 2 : 1
                }
            }
        }
        removeWords((offset + totals)..<(offset + totals + m * stride), region: j)
    }

    /// Neumaier's compensated addition: words[i] is the sum, words[i+1] the
    /// running correction. Keeps add-then-evict from drifting away from the
    /// sum of what is in the window.
    @inline(__always)
    mutating func compensatedAdd(at i: Int, _ x: Double) {
        let s = double(i)
        let t = s + x
        let correction = abs(s) >= abs(x) ? (s - t) + x : (x - t) + s
        setDouble(i, t)
        setDouble(i + 1, double(i + 1) + correction)
    }

    /// Adds one event to aggregator `j` (after ``advance(to:aggregators:)``).
    mutating func add(_ event: DecodedEvent, time: Int64, hashes: UnsafeBufferPointer<UInt64>, aggregator a: Aggregator, region j: Int, headerCount: Int) {
        if let filter = a.filter, !filter.accepts(event) { return }
        let offset = regionStart(j, headerCount: headerCount)
        switch a.kind {
        case .last(let field):
            let value = event.numbers[field]
            if !value.isNaN && time >= int(offset) {
                words[offset] = UInt64(bitPattern: time)
                setDouble(offset + 1, value)
            }
            return
        default:
            break
        }
        let k = tileIndex(time, a.step)
        let start = tileIndex(clock, a.step) - a.tileCount + 1
        guard k >= start else { return }  // older than the window: never visible again
        switch a.kind {
        case .tiles(let columns):
            addToTiles(event, tile: k, region: j, offset: offset, aggregator: a, columns: columns)
        case .extremum(let field, let isMaximum):
            let value = event.numbers[field]
            if !value.isNaN { addExtremum(value == 0 ? 0 : value, tile: k, region: j, offset: offset, isMaximum: isMaximum) }
        case .distinct(let field, _):
            if event.present[field] { addDistinct(hashes[field], tile: k, region: j, offset: offset) }
        case .last:
            break
        }
    }

    mutating func addToTiles(_ event: DecodedEvent, tile k: Int64, region j: Int, offset: Int, aggregator a: Aggregator, columns: [TileColumn]) {
        let totals = a.totalsWidth
        let stride = a.tileStride
        let first = offset + totals
        let n = (regionLength(j) - totals) / stride
        var position = n
        while position > 0 && TileWord.index(words[first + (position - 1) * stride]) > k { position -= 1 }
        var tile = first + (position - 1) * stride
        if position == 0 || TileWord.index(words[tile]) != k || TileWord.count(words[tile]) == TileWord.maximumCount {
            tile = first + position * stride
            insertWords(stride, at: tile, region: j)
            words[tile] = TileWord.make(index: k, count: 0)
        }
        words[tile] &+= 1
        setDouble(offset, double(offset) + 1)
        var to = offset + 1
        var from = tile + 1
        for c in columns {
            let v = event.numbers[c.field]
            if c.counted {
                if !v.isNaN {
                    setDouble(from, double(from) + 1)
                    setDouble(to, double(to) + 1)
                }
                to += 1
                from += 1
            }
            if !v.isNaN {
                setDouble(from, double(from) + v)
                compensatedAdd(at: to, v)
                if c.squares {
                    setDouble(from + 1, double(from + 1) + v * v)
                    compensatedAdd(at: to + 2, v * v)
                }
            }
            to += c.squares ? 4 : 2
            from += c.squares ? 2 : 1
        }
    }

    mutating func addExtremum(_ v: Double, tile k: Int64, region j: Int, offset: Int, isMaximum: Bool) {
        // Entries run oldest to newest with strictly decreasing values (for a
        // maximum): an entry is dropped once a newer one is at least as large.
        @inline(__always) func dominates(_ a: Double, _ b: Double) -> Bool { isMaximum ? a >= b : a <= b }
        let n = regionLength(j) / 2
        var later = n
        while later > 0 && int(offset + 2 * (later - 1)) > k { later -= 1 }
        if later < n && dominates(double(offset + 2 * later + 1), v) { return }
        if later > 0 && int(offset + 2 * (later - 1)) == k && dominates(double(offset + 2 * (later - 1) + 1), v) { return }
        var i = later
        while i > 0 && dominates(v, double(offset + 2 * (i - 1) + 1)) { i -= 1 }
        if i < later { removeWords((offset + 2 * i)..<(offset + 2 * later), region: j) }
        insertWords(2, at: offset + 2 * i, region: j)
        words[offset + 2 * i] = UInt64(bitPattern: k)
        setDouble(offset + 2 * i + 1, v)
    }

    mutating func addDistinct(_ h: UInt64, tile k: Int64, region j: Int, offset: Int) {
        var n = regionLength(j) / 2
        var i = n
        while i > 0 {
            i -= 1
            if words[offset + 2 * i + 1] == h {
                if int(offset + 2 * i) >= k { return }
                removeWords((offset + 2 * i)..<(offset + 2 * i + 2), region: j)
                n -= 1
                break
            }
        }
        var position = n
        while position > 0 && int(offset + 2 * (position - 1)) > k { position -= 1 }
        insertWords(2, at: offset + 2 * position, region: j)
        words[offset + 2 * position] = UInt64(bitPattern: k)
        words[offset + 2 * position + 1] = h
    }

    // MARK: Reads

    /// The value of `read` for this entity's current state.
    @inline(__always)
    func value(of read: FeatureRead, headerCount: Int) -> Double {
        let offset = regionStart(read.aggregator, headerCount: headerCount)
        switch read.operation {
        case .count:
            return double(offset)
        case .sum:
            return double(offset + read.column) + double(offset + read.column + 1)
        case .mean:
            let n = double(offset + read.countColumn)
            return n == 0 ? .nan : (double(offset + read.column) + double(offset + read.column + 1)) / n
        case .stddev:
            let n = double(offset + read.countColumn)
            guard n > 0 else { return .nan }
            let sum = double(offset + read.column) + double(offset + read.column + 1)
            let squares = double(offset + read.column + 2) + double(offset + read.column + 3)
            return (Swift.max(0, (squares - sum * sum / n) / n)).squareRoot()
        case .extremum:
            return regionLength(read.aggregator) == 0 ? .nan : double(offset + 1)
        case .distinct:
            return Double(regionLength(read.aggregator) / 2)
        case .last:
            return int(offset) == .min ? .nan : double(offset + 1)
        }
    }
}

/// Reads one feature value out of an aggregator.
struct FeatureRead: Sendable, Equatable {
    enum Operation: Sendable, Equatable {
        case count, sum, mean, stddev, extremum, distinct, last
    }

    /// The aggregator index in the entity's plan.
    var aggregator: Int
    var operation: Operation
    /// For sum/mean/stddev: the word offset of the column's sum within the totals.
    var column: Int
    /// For mean/stddev: the word offset of the count of the column's values
    /// (0, the aggregator's count, when the field is required).
    var countColumn: Int = 0
}

/// One entity's state, worked on in place: its clock and its words (region
/// lengths, two 32-bit lengths per word, then one region per aggregator; see
/// ``Aggregator``).
///
/// The words are memory the view does not own: a block of a shard's arena, or
/// a scratch copy. Whoever makes the view guarantees room for
/// ``KindProgram/maximumGrowth`` words past `count`, so one event never
/// reallocates in the middle of an update.
struct EntityWords {
    let words: UnsafeMutablePointer<UInt64>
    /// Words in use.
    var count: Int
    /// The latest event time applied to the entity (`Int64.min`: none yet).
    var clock: Int64

    // MARK: Regions

    /// Words taken by the lengths of `regions` regions.
    @inline(__always)
    static func headerWords(regions: Int) -> Int { (regions + 1) >> 1 }

    @inline(__always)
    func regionStart(_ j: Int, headerWords: Int) -> Int {
        var offset = headerWords
        var i = 0
        while i < j { offset += regionLength(i); i += 1 }
        return offset
    }

    /// Sets region `j`'s length in a header of zeroed words (building an
    /// entity's words outside a view).
    @inline(__always)
    static func setRegionLength(_ length: Int, region j: Int, in header: inout [UInt64]) {
        header[j >> 1] |= UInt64(length) << lengthShift(j)
    }

    /// Where region `j`'s length sits in its header word: low half for even
    /// regions, high half for odd ones.
    @inline(__always)
    static func lengthShift(_ j: Int) -> UInt64 { UInt64(j & 1) << 5 }

    @inline(__always)
    func regionLength(_ j: Int) -> Int { Int(truncatingIfNeeded: (words[j >> 1] >> Self.lengthShift(j)) & 0xFFFF_FFFF) }

    /// Adds `delta` (which may be negative) to region `j`'s length.
    @inline(__always)
    func adjustRegionLength(_ j: Int, by delta: Int) {
        // Lengths never go below zero, so adding the two's complement of a
        // negative delta borrows nothing from the other half.
        words[j >> 1] &+= UInt64(bitPattern: Int64(delta)) << Self.lengthShift(j)
    }

    @inline(__always)
    func double(_ i: Int) -> Double { Double(bitPattern: words[i]) }

    @inline(__always)
    func int(_ i: Int) -> Int64 { Int64(bitPattern: words[i]) }

    @inline(__always)
    func setDouble(_ i: Int, _ v: Double) { words[i] = v.bitPattern }

    /// Opens `n` zeroed words at `position`, in region `j`.
    @inline(__always)
    mutating func insertWords(_ n: Int, at position: Int, region j: Int) {
        (words + position + n).update(from: words + position, count: count - position)
        (words + position).update(repeating: 0, count: n)
        count += n
        adjustRegionLength(j, by: n)
    }

    /// Removes `range`, in region `j`.
    @inline(__always)
    mutating func removeWords(_ range: Range<Int>, region j: Int) {
        (words + range.lowerBound).update(from: words + range.upperBound, count: count - range.upperBound)
        count -= range.count
        adjustRegionLength(j, by: -range.count)
    }

    /// Resets the entity to `empty` (the words of an entity with no events).
    mutating func reset(to empty: UnsafeBufferPointer<UInt64>) {
        words.update(from: empty.baseAddress!, count: empty.count)
        count = empty.count
        clock = .min
    }

    // MARK: Updates

    /// Moves the entity's clock to `newClock` and evicts what left the windows.
    ///
    /// One pass over the words: each region drops its expired entries and
    /// slides down over what earlier regions dropped, so an event that expires
    /// entries in several windows moves the words once, not once per window.
    mutating func advance(to newClock: Int64, kind: KindProgram) {
        guard newClock > clock else { return }
        let oldClock = clock
        clock = newClock
        let k = kind.compiled.count
        var from = kind.headerWords  // where region j starts now
        var to = from  // where it starts once the regions before it have shrunk
        for j in 0..<k {
            let a = kind.compiled[j]
            let length = regionLength(j)
            var head = length  // leading words always kept (a tile region's totals)
            var dropped = 0  // expired words after the head
            if a.tileCount > 0 {
                let clockTile = tileIndex(newClock, a.step)
                let start = clockTile - a.tileCount + 1
                switch a.kind {
                case .tiles:
                    head = a.totalsWidth
                    dropped = evictTiles(at: from, length: length, aggregator: a, kind: kind, before: start)
                case .distinct where a.packed:
                    head = 0
                    if oldClock == .min || clockTile - tileIndex(oldClock, a.step) >= a.tileCount {
                        dropped = length
                    } else {
                        while dropped < length && DistinctEntry.age(words[from + dropped], clockTile: clockTile) >= a.tileCount { dropped += 1 }
                    }
                case .extremum, .distinct:
                    head = 0
                    var m = 0
                    while 2 * m < length && int(from + 2 * m) < start { m += 1 }
                    dropped = 2 * m
                case .last:
                    break
                }
            }
            if to != from { move(from, to: to, count: head) }
            if to != from || dropped > 0 { move(from + head + dropped, to: to + head, count: length - head - dropped) }
            if dropped > 0 { adjustRegionLength(j, by: -dropped) }
            from += length
            to += length - dropped
        }
        count = to
    }

    /// Moves `n` words down from `source` to `target` (≤ `source`).
    @inline(__always)
    func move(_ source: Int, to target: Int, count n: Int) {
        if n > 16 {
            (words + target).update(from: words + source, count: n)
        } else {
            for i in 0..<n { words[target + i] = words[source + i] }
        }
    }

    /// Words of the tile whose first word is `word`: a tile of one event has
    /// no sums of squares.
    @inline(__always)
    static func tileWidth(_ word: UInt64, _ a: CompiledAggregator) -> Int {
        TileWord.count(word) == 1 ? a.singleStride : a.tileStride
    }

    /// Takes the tiles of the tile region at `offset` that are before `start`
    /// out of its totals; returns how many words they take (still in place).
    func evictTiles(at offset: Int, length: Int, aggregator a: CompiledAggregator, kind: KindProgram, before start: Int64) -> Int {
        let totals = a.totalsWidth
        let first = offset + totals
        let end = offset + length
        var p = first
        while p < end && TileWord.index(words[p]) < start { p += Self.tileWidth(words[p], a) }
        guard p > first else { return 0 }
        if p == end {
            // Empty window: reset the totals exactly rather than subtract.
            (words + offset).update(repeating: 0, count: totals)
            return p - first
        }
        var tile = first
        while tile < p {
            let single = TileWord.count(words[tile]) == 1
            setDouble(offset, double(offset) - Double(TileWord.count(words[tile])))
            var to = offset + 1
            var from = tile + 1
            for c in a.columns {
                let column = kind.columns[c]
                if column.counted {
                    setDouble(to, double(to) - double(from))
                    to += 1
                    from += 1
                }
                let sum = double(from)
                compensatedAdd(at: to, -sum)
                if column.squares {
                    compensatedAdd(at: to + 2, single ? -(sum * sum) : -double(from + 1))
                    from += single ? 1 : 2
                    to += 4
                } else {
                    from += 1
                    to += 2
                }
            }
            tile = from
        }
        if a.singleStride < a.tileStride { words[offset + totals - 1] -= UInt64(p - first) }
        return p - first
    }

    /// Neumaier's compensated addition: words[i] is the sum, words[i+1] the
    /// running correction. Keeps add-then-evict from drifting away from the
    /// sum of what is in the window.
    @inline(__always)
    func compensatedAdd(at i: Int, _ x: Double) {
        let s = double(i)
        let t = s + x
        let correction = abs(s) >= abs(x) ? (s - t) + x : (x - t) + s
        setDouble(i, t)
        setDouble(i + 1, double(i + 1) + correction)
    }

    /// Adds one event to aggregator `j` (after ``advance(to:kind:)``); `offset`
    /// is where the region starts.
    @inline(__always)
    mutating func add(_ event: EventFields, time: Int64, hashes: UnsafeBufferPointer<UInt64>, kind: KindProgram, region j: Int, offset: Int) {
        let a = kind.compiled[j]
        if a.filter >= 0 && !kind.filters[a.filter].accepts(event) { return }
        if a.kind == .last {
            let value = event.numbers[a.field]
            if !value.isNaN && time >= int(offset) {
                words[offset] = UInt64(bitPattern: time)
                setDouble(offset + 1, value)
            }
            return
        }
        let k = tileIndex(time, a.step)
        let clockTile = tileIndex(clock, a.step)
        guard k > clockTile - a.tileCount else { return }  // older than the window: never visible again
        switch a.kind {
        case .tiles:
            addToTiles(event, tile: k, region: j, offset: offset, aggregator: a, kind: kind)
        case .extremum:
            let value = event.numbers[a.field]
            if !value.isNaN { addExtremum(value == 0 ? 0 : value, tile: k, region: j, offset: offset, isMaximum: a.isMaximum) }
        case .distinct:
            guard event.present[a.field] else { return }
            if a.packed {
                addPackedDistinct(hashes[a.field], age: clockTile - k, tile: k, region: j, offset: offset)
            } else {
                addDistinct(hashes[a.field], tile: k, region: j, offset: offset)
            }
        case .last:
            break
        }
    }

    mutating func addToTiles(_ event: EventFields, tile k: Int64, region j: Int, offset: Int, aggregator a: CompiledAggregator, kind: KindProgram) {
        let totals = a.totalsWidth
        let first = offset + totals
        let end = offset + regionLength(j)
        // The tile of the greatest index ≤ k, if any (`found`), and where a new
        // tile for k goes (`position`).
        var found = -1
        var position = first
        if a.singleStride == a.tileStride {
            // Tiles of one width: search back from the newest.
            let stride = a.tileStride
            var p = end
            while p > first && TileWord.index(words[p - stride]) > k { p -= stride }
            position = p
            if p > first { found = p - stride }
        } else if end > first {
            // The region's last word of totals says where the newest tile
            // starts: an event in order is O(1); an older one walks forward.
            let last = offset + Int(truncatingIfNeeded: words[first - 1])
            if TileWord.index(words[last]) <= k {
                found = last
                position = end
            } else {
                var p = first
                while TileWord.index(words[p]) <= k {
                    found = p
                    p += Self.tileWidth(words[p], a)
                }
                position = p
            }
        }
        var tile: Int
        if found >= 0 && TileWord.index(words[found]) == k && TileWord.count(words[found]) < TileWord.maximumCount {
            tile = found
            if TileWord.count(words[tile]) == 1 && a.singleStride < a.tileStride { widen(tile: tile, region: j, offset: offset, aggregator: a, kind: kind) }
        } else {
            tile = position
            insertWords(a.singleStride, at: tile, region: j)
            words[tile] = TileWord.make(index: k, count: 0)
            if a.singleStride < a.tileStride {
                // The newest tile is either this one or has moved up by its width.
                if tile == end { words[first - 1] = UInt64(tile - offset) } else { words[first - 1] += UInt64(a.singleStride) }
            }
        }
        let single = TileWord.count(words[tile]) == 0
        words[tile] &+= 1
        setDouble(offset, double(offset) + 1)
        var to = offset + 1
        var from = tile + 1
        for c in a.columns {
            let column = kind.columns[c]
            let v = event.numbers[column.field]
            if column.counted {
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
                if column.squares {
                    if !single { setDouble(from + 1, double(from + 1) + v * v) }
                    compensatedAdd(at: to + 2, v * v)
                }
            }
            to += column.squares ? 4 : 2
            from += column.squares && !single ? 2 : 1
        }
    }

    /// Gives a one-event tile its sums of squares (each the square of its
    /// sum), before a second event joins it.
    mutating func widen(tile: Int, region j: Int, offset: Int, aggregator a: CompiledAggregator, kind: KindProgram) {
        let first = offset + a.totalsWidth
        let last = offset + Int(truncatingIfNeeded: words[first - 1])
        insertWords(a.tileStride - a.singleStride, at: tile + a.singleStride, region: j)
        if last > tile { words[first - 1] += UInt64(a.tileStride - a.singleStride) }
        // Right to left, so no value is overwritten before it moves.
        var from = tile + a.singleStride
        var to = tile + a.tileStride
        for c in a.columns.reversed() {
            let column = kind.columns[c]
            if column.squares {
                to -= 1
                let sum = double(from - 1)
                setDouble(to, sum * sum)
            }
            to -= 1
            from -= 1
            words[to] = words[from]
            if column.counted {
                to -= 1
                from -= 1
                words[to] = words[from]
            }
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

    /// `addDistinct` for one-word entries; `age` is the event tile's age
    /// relative to the clock's tile.
    mutating func addPackedDistinct(_ h: UInt64, age: Int64, tile k: Int64, region j: Int, offset: Int) {
        let clockTile = k + age
        var n = regionLength(j)
        var i = n
        while i > 0 {
            i -= 1
            if DistinctEntry.sameValue(words[offset + i], h) {
                if DistinctEntry.age(words[offset + i], clockTile: clockTile) <= age { return }
                removeWords((offset + i)..<(offset + i + 1), region: j)
                n -= 1
                break
            }
        }
        var position = n
        while position > 0 && DistinctEntry.age(words[offset + position - 1], clockTile: clockTile) < age { position -= 1 }
        insertWords(1, at: offset + position, region: j)
        words[offset + position] = DistinctEntry.make(hash: h, tile: k)
    }

    // MARK: Reads

    /// The value of `read` for this entity's current state.
    @inline(__always)
    func value(of read: FeatureRead, headerWords: Int) -> Double {
        let offset = regionStart(read.aggregator, headerWords: headerWords)
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
            return Double(regionLength(read.aggregator) / read.column)
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
    /// For sum/mean/stddev: the word offset of the column's sum within the
    /// totals; for distinct: the words per value (1 or 2).
    var column: Int
    /// For mean/stddev: the word offset of the count of the column's values
    /// (0, the aggregator's count, when the field is required).
    var countColumn: Int = 0
}

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

    /// The top bit of a region's 32-bit length field marks a `distinct`
    /// region kept as a hash table (see ``DistinctTable``) rather than a list.
    static let tableFlag: UInt64 = 1 << 31

    @inline(__always)
    func regionLength(_ j: Int) -> Int { Int(truncatingIfNeeded: (words[j >> 1] >> Self.lengthShift(j)) & (Self.tableFlag - 1)) }

    /// Whether `distinct` region `j` is a hash table.
    @inline(__always)
    func isTable(_ j: Int) -> Bool { (words[j >> 1] >> Self.lengthShift(j)) & Self.tableFlag != 0 }

    @inline(__always)
    func setTable(_ j: Int, _ table: Bool) {
        if table { words[j >> 1] |= Self.tableFlag << Self.lengthShift(j) } else { words[j >> 1] &= ~(Self.tableFlag << Self.lengthShift(j)) }
    }

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
                // The old clock's tile is before the window, and so is every
                // entry: they are dropped unread, as the one-word forms keep
                // their tile modulo a power of two that the jump may wrap.
                let jumped = oldClock < start * a.step
                switch a.kind {
                case .tiles where a.countsOnly:
                    (head, dropped) = evictCounts(at: from, length: length, clockTile: clockTile, tileCount: a.tileCount, all: jumped)
                case .tiles:
                    head = a.totalsWidth
                    dropped = evictTiles(at: from, length: length, aggregator: a, kind: kind, clockTile: clockTile, all: jumped)
                case .distinct where a.packed:
                    head = 0
                    if jumped {
                        dropped = length
                        setTable(j, false)
                    } else if isTable(j) {
                        (head, dropped) = evictTable(at: from, length: length, region: j, clockTile: clockTile, tileCount: a.tileCount, wide: false)
                    } else {
                        while dropped < length && DistinctEntry.age(words[from + dropped], clockTile: clockTile) >= a.tileCount { dropped += 1 }
                    }
                case .distinct where isTable(j):
                    (head, dropped) = evictTable(at: from, length: length, region: j, clockTile: clockTile, tileCount: a.tileCount, wide: true)
                case .extremum where a.packed:
                    head = 0
                    if jumped {
                        dropped = length
                    } else {
                        while dropped < length {
                            let entry = words[from + dropped]
                            if a.pairTileBits != 0 && ExtremumPair.isPair(entry) {
                                let t = a.pairTileBits
                                guard ExtremumPair.olderTile(entry, clockTile: clockTile, tileBits: t) < start else { break }
                                let newer = ExtremumPair.newerTile(entry, clockTile: clockTile, tileBits: t)
                                if newer < start {
                                    dropped += 1
                                    continue
                                }
                                // The newer entry stays, alone (a half always fits one word).
                                words[from + dropped] = ExtremumEntry.compact(thousandths: TilePair.thousandths(half: ExtremumPair.newerHalf(entry, tileBits: t)), tile: newer)
                                break
                            }
                            guard ExtremumEntry.tile(entry, clockTile: clockTile) < start else { break }
                            dropped += ExtremumEntry.width(entry)
                        }
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
    /// no sums of squares, and a compact one (or a pair of them) is one word.
    @inline(__always)
    static func tileWidth(_ word: UInt64, _ a: CompiledAggregator) -> Int {
        let n = TileWord.count(word)
        if n == 1 { return a.singleStride }
        return n == 0 || (a.pairTileBits != 0 && TilePair.isPair(word)) ? 1 : a.tileStride
    }

    /// The index of the tile whose first word is `word` (of a pair, the older
    /// tile); `clockTile` is the clock's tile (a ``CompactTile`` or a
    /// ``TilePair`` keeps only the index's low bits).
    @inline(__always)
    static func indexOfTile(_ word: UInt64, clockTile: Int64, _ a: CompiledAggregator) -> Int64 {
        if CompactTile.isCompact(word) { return CompactTile.index(word, clockTile: clockTile) }
        if a.pairTileBits != 0 && TilePair.isPair(word) { return TilePair.olderTile(word, clockTile: clockTile, tileBits: a.pairTileBits) }
        return TileWord.index(word)
    }

    /// The index of the newest tile in the entry whose first word is `word`.
    @inline(__always)
    static func newestIndexOfTile(_ word: UInt64, clockTile: Int64, _ a: CompiledAggregator) -> Int64 {
        let index = indexOfTile(word, clockTile: clockTile, a)
        return a.pairTileBits != 0 && TilePair.isPair(word) ? index + TilePair.distance(word, tileBits: a.pairTileBits) : index
    }

    /// Takes the tiles of the tile region at `offset` that left the window
    /// ending at `clockTile` out of its totals; returns how many words they
    /// take (still in place). `all`: every tile left it (the clock jumped by
    /// the window or more), so none is read. A pair whose older tile left
    /// and newer one stays becomes a compact tile of the newer one.
    func evictTiles(at offset: Int, length: Int, aggregator a: CompiledAggregator, kind: KindProgram, clockTile: Int64, all: Bool) -> Int {
        let totals = a.totalsWidth
        let first = offset + totals
        let end = offset + length
        guard end > first else { return 0 }
        let start = clockTile - a.tileCount + 1
        var p = end
        var halfPair = false  // words[p] is a pair whose older tile left
        if !all {
            p = first
            while p < end && Self.indexOfTile(words[p], clockTile: clockTile, a) < start {
                if a.pairTileBits != 0 && TilePair.isPair(words[p]) && Self.newestIndexOfTile(words[p], clockTile: clockTile, a) >= start {
                    halfPair = true
                    break
                }
                p += Self.tileWidth(words[p], a)
            }
        }
        if p == end {
            // Empty window: reset the totals exactly rather than subtract.
            (words + offset).update(repeating: 0, count: totals)
            return p - first
        }
        @inline(__always) func subtractCompact(_ v: Double) {
            // One column, of a required field: its sum at 1, squares at 3.
            words[offset] -= NewestTile.countUnit
            compensatedAdd(at: offset + 1, -v)
            if a.singleStride < a.tileStride { compensatedAdd(at: offset + 3, -(v * v)) }
        }
        var tile = first
        while tile < p {
            if CompactTile.isCompact(words[tile]) {
                subtractCompact(CompactTile.value(words[tile]))
                tile += 1
                continue
            }
            if a.pairTileBits != 0 && TilePair.isPair(words[tile]) {
                subtractCompact(TilePair.olderValue(words[tile], tileBits: a.pairTileBits))
                subtractCompact(TilePair.newerValue(words[tile], tileBits: a.pairTileBits))
                tile += 1
                continue
            }
            let single = TileWord.count(words[tile]) == 1
            subtractCount(TileWord.count(words[tile]), offset: offset, aggregator: a)
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
        if halfPair {
            let pair = words[p]
            subtractCompact(TilePair.olderValue(pair, tileBits: a.pairTileBits))
            // A half value always fits a compact tile (``TilePair/tileBits(tileCount:)``).
            words[p] = CompactTile.make(thousandths: TilePair.thousandths(half: TilePair.newerHalf(pair, tileBits: a.pairTileBits)), tile: Self.newestIndexOfTile(pair, clockTile: clockTile, a))
        }
        // The newest tile stays (or the window emptied, above): its position only moves down.
        if a.keepsNewestTile { words[offset] -= UInt64(p - first) }
        return p - first
    }

    /// Takes the tiles that left the window ending at `clockTile` out of a
    /// count-only region (``Aggregator/countsOnly``): no words, one tile
    /// word, or the total and two tile words or more. Returns the words kept
    /// in front (the total, while two tiles or more stay) and the words
    /// dropped after them: when at most one tile stays, the total goes too.
    func evictCounts(at offset: Int, length: Int, clockTile: Int64, tileCount: Int64, all: Bool) -> (head: Int, dropped: Int) {
        guard length > 0 else { return (0, 0) }
        if all { return (0, length) }
        let start = clockTile - tileCount + 1
        if length == 1 { return (0, TileWord.index(words[offset]) < start ? 1 : 0) }
        let end = offset + length
        var p = offset + 1
        var evicted: UInt64 = 0
        while p < end && TileWord.index(words[p]) < start {
            evicted += TileWord.count(words[p])
            p += 1
        }
        guard end - p >= 2 else { return (0, p - offset) }
        setDouble(offset, double(offset) - Double(evicted))
        return (1, p - offset - 1)
    }

    /// Counts an event of tile `k` in count-only region `j` (see
    /// ``evictCounts(at:length:clockTile:tileCount:all:)``), searching back
    /// from the newest tile.
    @inline(__always)
    mutating func addToCounts(tile k: Int64, region j: Int, offset: Int) {
        let length = regionLength(j)
        if length == 0 {
            insertWords(1, at: offset, region: j)
            words[offset] = TileWord.make(index: k, count: 1)
            return
        }
        if length == 1 {
            let only = words[offset]
            if TileWord.index(only) == k && TileWord.count(only) < TileWord.maximumCount {
                words[offset] = only + 1
                return
            }
            // A second tile: the total goes in front, the tiles in order.
            insertWords(2, at: offset, region: j)
            let tile = TileWord.make(index: k, count: 1)
            if TileWord.index(only) <= k {
                words[offset + 1] = only
                words[offset + 2] = tile
            } else {
                words[offset + 1] = tile
            }
            setDouble(offset, Double(TileWord.count(only) + 1))
            return
        }
        let first = offset + 1
        var p = offset + length
        while p > first && TileWord.index(words[p - 1]) > k { p -= 1 }
        if p > first && TileWord.index(words[p - 1]) == k && TileWord.count(words[p - 1]) < TileWord.maximumCount {
            words[p - 1] += 1
        } else {
            insertWords(1, at: p, region: j)
            words[p] = TileWord.make(index: k, count: 1)
        }
        setDouble(offset, double(offset) + 1)
    }

    /// Takes `n` events out of a tile region's count.
    @inline(__always)
    func subtractCount(_ n: UInt64, offset: Int, aggregator a: CompiledAggregator) {
        if a.keepsNewestTile { words[offset] -= n << NewestTile.countShift } else { setDouble(offset, double(offset) - Double(n)) }
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
        case .tiles where a.countsOnly:
            addToCounts(tile: k, region: j, offset: offset)
        case .tiles:
            addToTiles(event, tile: k, clockTile: clockTile, region: j, offset: offset, aggregator: a, kind: kind)
        case .extremum:
            let value = event.numbers[a.field]
            guard !value.isNaN else { return }
            if a.packed {
                addPackedExtremum(value == 0 ? 0 : value, tile: k, clockTile: clockTile, region: j, offset: offset, isMaximum: a.isMaximum, pairTileBits: a.pairTileBits)
            } else {
                addExtremum(value == 0 ? 0 : value, tile: k, region: j, offset: offset, isMaximum: a.isMaximum)
            }
        case .distinct:
            guard event.present[a.field] else { return }
            if isTable(j) {
                addToTable(hashes[a.field], age: clockTile - k, tile: k, region: j, offset: offset, tileCount: a.tileCount, wide: !a.packed)
            } else if a.packed {
                addPackedDistinct(hashes[a.field], age: clockTile - k, tile: k, region: j, offset: offset, tileCount: a.tileCount)
            } else {
                addDistinct(hashes[a.field], age: clockTile - k, tile: k, region: j, offset: offset, tileCount: a.tileCount)
            }
        case .last:
            break
        }
    }

    mutating func addToTiles(_ event: EventFields, tile k: Int64, clockTile: Int64, region j: Int, offset: Int, aggregator a: CompiledAggregator, kind: KindProgram) {
        let totals = a.totalsWidth
        let first = offset + totals
        var end = offset + regionLength(j)
        // The tile of the greatest index ≤ k, if any (`found`), and where a new
        // tile for k goes (`position`).
        var found = -1
        var position = first
        if !a.keepsNewestTile {
            // Tiles of one width: search back from the newest.
            let stride = a.tileStride
            var p = end
            while p > first && TileWord.index(words[p - stride]) > k { p -= stride }
            position = p
            if p > first { found = p - stride }
        } else if end > first {
            // The region's last word of totals says where the newest tile
            // starts: an event in order is O(1); an older one walks forward.
            let last = offset + NewestTile.position(words[offset])
            if Self.newestIndexOfTile(words[last], clockTile: clockTile, a) <= k {
                found = last
                position = end
            } else {
                // Bounded: the newest entry may be a pair whose older tile is ≤ k.
                var p = first
                while p < end && Self.indexOfTile(words[p], clockTile: clockTile, a) <= k {
                    found = p
                    p += Self.tileWidth(words[p], a)
                }
                position = p
            }
            if a.pairTileBits != 0 && found >= 0 && TilePair.isPair(words[found])
                && k <= Self.newestIndexOfTile(words[found], clockTile: clockTile, a) {
                // The event joins one of the pair's tiles or falls between them.
                let newer = splitPair(at: found, clockTile: clockTile, region: j, offset: offset, aggregator: a)
                end += 1
                if k >= newer { found += 1 }
                position = found + 1
            }
        }
        var tile: Int
        if found >= 0 && Self.indexOfTile(words[found], clockTile: clockTile, a) == k && TileWord.count(words[found]) < a.maximumTileCount {
            tile = found
            let n = TileWord.count(words[tile])
            if n == 0 {
                widenCompact(tile: tile, index: k, region: j, offset: offset, aggregator: a)
            } else if n == 1 && a.singleStride < a.tileStride {
                widen(tile: tile, region: j, offset: offset, aggregator: a, kind: kind)
            }
        } else {
            tile = position
            var width = a.singleStride
            // One column, of a required field: its sum at 1 in the totals, squares at 3.
            let v = a.compact ? event.numbers[kind.columns[a.columns.lowerBound].field] : .nan
            // Its thousandths, found once for a pair or a compact tile.
            let m = a.compact ? Thousandths.of(v, below: CompactTile.limit) : nil
            if let m, a.pairTileBits != 0 && found >= 0 && position == found + 1 && CompactTile.isCompact(words[found]),
               let newer = TilePair.half(thousandths: m, bits: 32 - a.pairTileBits),
               let older = TilePair.half(thousandths: CompactTile.thousandths(words[found]), bits: 32 - a.pairTileBits) {
                // Right after a compact tile: the two share its word, and the
                // newest tile, if this is it, starts where it did.
                let olderTile = CompactTile.index(words[found], clockTile: clockTile)
                if k - olderTile < Int64(1) << (a.pairTileBits - 1) {
                    words[found] = TilePair.make(older: older, newer: newer, tile: olderTile, distance: k - olderTile, tileBits: a.pairTileBits)
                    addCompact(v, offset: offset, aggregator: a)
                    return
                }
            }
            let compactWord = m.map { CompactTile.make(thousandths: $0, tile: k) }
            if let compactWord {
                width = 1
                insertWords(1, at: tile, region: j)
                words[tile] = compactWord
            } else {
                insertWords(a.singleStride, at: tile, region: j)
                words[tile] = TileWord.make(index: k, count: 0)
            }
            if a.keepsNewestTile {
                // The newest tile is either this one or has moved up by its width.
                if tile == end {
                    words[offset] = words[offset] & ~NewestTile.positionMask | UInt64(tile - offset)
                } else {
                    words[offset] += UInt64(width)
                }
            }
            if compactWord != nil {
                addCompact(v, offset: offset, aggregator: a)
                return
            }
        }
        let single = TileWord.count(words[tile]) == 0
        words[tile] &+= 1
        if a.keepsNewestTile { words[offset] += NewestTile.countUnit } else { setDouble(offset, double(offset) + 1) }
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

    /// Adds a compact tile's value to the totals of a region of one column of
    /// a required field: its sum at 1, squares at 3.
    @inline(__always)
    func addCompact(_ v: Double, offset: Int, aggregator a: CompiledAggregator) {
        words[offset] += NewestTile.countUnit
        compensatedAdd(at: offset + 1, v)
        if a.singleStride < a.tileStride { compensatedAdd(at: offset + 3, v * v) }
    }

    /// Turns the ``TilePair`` at `tile` into two compact tiles, before an
    /// event joins one of them or comes between them; returns the newer
    /// tile's index.
    mutating func splitPair(at tile: Int, clockTile: Int64, region j: Int, offset: Int, aggregator a: CompiledAggregator) -> Int64 {
        let pair = words[tile]
        let older = TilePair.olderTile(pair, clockTile: clockTile, tileBits: a.pairTileBits)
        let newer = older + TilePair.distance(pair, tileBits: a.pairTileBits)
        insertWords(1, at: tile + 1, region: j)
        // Whether the pair was the newest tile or before it, the newest has moved up by one.
        words[offset] += 1
        // A half value always fits a compact tile (``TilePair/tileBits(tileCount:)``).
        words[tile] = CompactTile.make(thousandths: TilePair.thousandths(half: TilePair.olderHalf(pair, tileBits: a.pairTileBits)), tile: older)
        words[tile + 1] = CompactTile.make(thousandths: TilePair.thousandths(half: TilePair.newerHalf(pair, tileBits: a.pairTileBits)), tile: newer)
        return newer
    }

    /// Turns the ``CompactTile`` at `tile` (of index `k`) into a tile word
    /// of count 1 and its full width of sums (the sum of squares the square
    /// of its sum), before a second event joins it.
    mutating func widenCompact(tile: Int, index k: Int64, region j: Int, offset: Int, aggregator a: CompiledAggregator) {
        let last = offset + NewestTile.position(words[offset])
        let v = CompactTile.value(words[tile])
        insertWords(a.tileStride - 1, at: tile + 1, region: j)
        if last > tile { words[offset] += UInt64(a.tileStride - 1) }
        words[tile] = TileWord.make(index: k, count: 1)
        setDouble(tile + 1, v)
        if a.tileStride > 2 { setDouble(tile + 2, v * v) }
    }

    /// Gives a one-event tile its sums of squares (each the square of its
    /// sum), before a second event joins it.
    mutating func widen(tile: Int, region j: Int, offset: Int, aggregator a: CompiledAggregator, kind: KindProgram) {
        let last = offset + NewestTile.position(words[offset])
        insertWords(a.tileStride - a.singleStride, at: tile + a.singleStride, region: j)
        if last > tile { words[offset] += UInt64(a.tileStride - a.singleStride) }
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

    /// ``addExtremum(_:tile:region:offset:isMaximum:)`` for a queue of
    /// ``ExtremumEntry``s, which are one or three words, and ``ExtremumPair``s
    /// of two one-word entries: it is walked back from its newest entry, each
    /// entry's last word giving its width. A pair that the new entry would
    /// cut (by its tile or by dominating only the newer half) is split first.
    mutating func addPackedExtremum(_ v: Double, tile k: Int64, clockTile: Int64, region j: Int, offset: Int, isMaximum: Bool, pairTileBits t: UInt64) {
        @inline(__always) func dominates(_ a: Double, _ b: Double) -> Bool { isMaximum ? a >= b : a <= b }
        @inline(__always) func start(before end: Int) -> Int { end - ExtremumEntry.width(words[end - 1]) }
        @inline(__always) func isPair(_ p: Int) -> Bool { t != 0 && ExtremumPair.isPair(words[p]) }
        /// The value of the entry at `p` (of a pair, the older one's).
        @inline(__always) func value(at p: Int) -> Double {
            let word = words[p]
            if ExtremumEntry.isCompact(word) { return ExtremumEntry.value(word) }
            return isPair(p) ? ExtremumPair.olderValue(word, tileBits: t) : double(p + 1)
        }
        var end = offset + regionLength(j)
        // The first entry of a later tile than k (or the end); a pair with
        // one entry on each side of k is split.
        var later = end
        while later > offset {
            let p = start(before: later)
            if isPair(p) {
                let pair = words[p]
                if ExtremumPair.olderTile(pair, clockTile: clockTile, tileBits: t) > k {
                    later = p
                    continue
                }
                if ExtremumPair.newerTile(pair, clockTile: clockTile, tileBits: t) > k {
                    splitExtremumPair(at: p, clockTile: clockTile, region: j, tileBits: t)
                    end += 1
                    later = p + 1
                }
                break
            }
            if ExtremumEntry.tile(words[p], clockTile: clockTile) <= k { break }
            later = p
        }
        if later < end && dominates(value(at: later), v) { return }
        if later > offset {
            let p = start(before: later)
            let (tile, last) = isPair(p)
                ? (ExtremumPair.newerTile(words[p], clockTile: clockTile, tileBits: t), ExtremumPair.newerValue(words[p], tileBits: t))
                : (ExtremumEntry.tile(words[p], clockTile: clockTile), value(at: p))
            if tile == k && dominates(last, v) { return }
        }
        var i = later
        while i > offset {
            let p = start(before: i)
            if isPair(p) {
                // The older entry dominates the newer: if v dominates it, both go.
                if dominates(v, ExtremumPair.olderValue(words[p], tileBits: t)) {
                    i = p
                    continue
                }
                if dominates(v, ExtremumPair.newerValue(words[p], tileBits: t)) {
                    splitExtremumPair(at: p, clockTile: clockTile, region: j, tileBits: t)
                    later += 1
                    i = p + 1
                }
                break
            }
            if !dominates(v, value(at: p)) { break }
            i = p
        }
        // Right after a one-word entry (of an earlier tile: one of tile k
        // would have dominated v or been dominated), the two may share it.
        // Its thousandths, found once for a pair or a one-word entry.
        let m = Thousandths.of(v, below: ExtremumEntry.limit)
        if let m, t != 0 && i > offset && ExtremumEntry.isCompact(words[i - 1]), let newer = TilePair.half(thousandths: m, bits: 31 - t) {
            let before = words[i - 1]
            let olderTile = ExtremumEntry.tile(before, clockTile: clockTile)
            if k - olderTile < Int64(1) << (t - 1), let older = TilePair.half(thousandths: ExtremumEntry.thousandths(before), bits: 31 - t) {
                if later > i { removeWords(i..<later, region: j) }
                words[i - 1] = ExtremumPair.make(older: older, newer: newer, tile: olderTile, distance: k - olderTile, tileBits: t)
                return
            }
        }
        let compact = m.map { ExtremumEntry.compact(thousandths: $0, tile: k) }
        let width = compact == nil ? 3 : 1
        if later - i > width {
            removeWords((i + width)..<later, region: j)
        } else if later - i < width {
            insertWords(width - (later - i), at: later, region: j)
        }
        if let compact {
            words[i] = compact
        } else {
            words[i] = ExtremumEntry.tileWord(k)
            setDouble(i + 1, v)
            words[i + 2] = ExtremumEntry.tileWord(k)
        }
    }

    /// Turns the ``ExtremumPair`` at `p` into its two one-word entries.
    mutating func splitExtremumPair(at p: Int, clockTile: Int64, region j: Int, tileBits t: UInt64) {
        let pair = words[p]
        insertWords(1, at: p + 1, region: j)
        // A half always fits one word.
        words[p] = ExtremumEntry.compact(thousandths: TilePair.thousandths(half: ExtremumPair.olderHalf(pair, tileBits: t)), tile: ExtremumPair.olderTile(pair, clockTile: clockTile, tileBits: t))
        words[p + 1] = ExtremumEntry.compact(thousandths: TilePair.thousandths(half: ExtremumPair.newerHalf(pair, tileBits: t)), tile: ExtremumPair.newerTile(pair, clockTile: clockTile, tileBits: t))
    }

    /// Adds value `h` seen at tile `k` to a list of (tile, hash) entries,
    /// oldest first. A new value that would make the list longer than
    /// ``DistinctTable/listLimit`` turns it into a hash table.
    mutating func addDistinct(_ h: UInt64, age: Int64, tile k: Int64, region j: Int, offset: Int, tileCount: Int64) {
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
        if n >= DistinctTable.listLimit {
            makeTable(region: j, offset: offset, clockTile: k + age, tileCount: tileCount, wide: true)
            addToTable(h, age: age, tile: k, region: j, offset: offset, tileCount: tileCount, wide: true)
            return
        }
        var position = n
        while position > 0 && int(offset + 2 * (position - 1)) > k { position -= 1 }
        insertWords(2, at: offset + 2 * position, region: j)
        words[offset + 2 * position] = UInt64(bitPattern: k)
        words[offset + 2 * position + 1] = h
    }

    /// `addDistinct` for one-word entries; `age` is the event tile's age
    /// relative to the clock's tile. A new value that would make the list
    /// longer than ``DistinctTable/listLimit`` turns it into a hash table.
    mutating func addPackedDistinct(_ h: UInt64, age: Int64, tile k: Int64, region j: Int, offset: Int, tileCount: Int64) {
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
        if n >= DistinctTable.listLimit {
            makeTable(region: j, offset: offset, clockTile: clockTile, tileCount: tileCount, wide: false)
            addToTable(h, age: age, tile: k, region: j, offset: offset, tileCount: tileCount, wide: false)
            return
        }
        var position = n
        while position > 0 && DistinctEntry.age(words[offset + position - 1], clockTile: clockTile) < age { position -= 1 }
        insertWords(1, at: offset + position, region: j)
        words[offset + position] = DistinctEntry.make(hash: h, tile: k)
    }

    // MARK: Distinct values in a hash table

    @inline(__always)
    func tableCapacity(at offset: Int) -> Int { Int(truncatingIfNeeded: words[offset + 1] & 0xFFFF_FFFF) }

    @inline(__always)
    func tableOccupied(at offset: Int) -> Int { Int(truncatingIfNeeded: words[offset + 1] >> 32) }

    /// The entries of a table are one word (``DistinctEntry``, 0: empty) or,
    /// when `wide`, two: the tile (`Int64.min`: empty) and the value's hash.
    @inline(__always)
    func isEmpty(slot i: Int, table: Int, wide: Bool) -> Bool {
        wide ? words[table + 2 * i] == DistinctTable.emptyTile : words[table + i] == 0
    }

    /// Tiles between slot `i`'s tile and `clockTile`.
    @inline(__always)
    func age(slot i: Int, table: Int, wide: Bool, clockTile: Int64) -> Int64 {
        wide ? clockTile - int(table + 2 * i) : DistinctEntry.age(words[table + i], clockTile: clockTile)
    }

    @inline(__always)
    func setEntry(slot i: Int, table: Int, wide: Bool, hash h: UInt64, tile k: Int64) {
        if wide {
            words[table + 2 * i] = UInt64(bitPattern: k)
            words[table + 2 * i + 1] = h
        } else {
            words[table + i] = DistinctEntry.make(hash: h, tile: k)
        }
    }

    /// The slot holding `h`'s entry in the table of `capacity` slots starting
    /// at `table`, or the empty slot where it would go.
    @inline(__always)
    func probe(_ h: UInt64, table: Int, capacity: Int, wide: Bool) -> Int {
        let mask = capacity - 1
        var i = Int(truncatingIfNeeded: h >> DistinctEntry.tileBits) & mask
        while true {
            if wide {
                if words[table + 2 * i] == DistinctTable.emptyTile || words[table + 2 * i + 1] == h { return i }
            } else {
                let e = words[table + i]
                if e == 0 || DistinctEntry.sameValue(e, h) { return i }
            }
            i = (i + 1) & mask
        }
    }

    /// Empties the table of `capacity` slots at `table`.
    func clearTable(_ table: Int, capacity: Int, wide: Bool) {
        if wide {
            for i in 0..<capacity {
                words[table + 2 * i] = DistinctTable.emptyTile
                words[table + 2 * i + 1] = 0
            }
        } else {
            (words + table).update(repeating: 0, count: capacity)
        }
    }

    /// Adds value `h` seen at tile `k` (`age` tiles before the clock's) to the
    /// hash-table region `j` at `offset`.
    mutating func addToTable(_ h: UInt64, age: Int64, tile k: Int64, region j: Int, offset: Int, tileCount: Int64, wide: Bool) {
        let clockTile = k + age
        let table = offset + DistinctTable.headerWords
        var capacity = tableCapacity(at: offset)
        var i = probe(h, table: table, capacity: capacity, wide: wide)
        if !isEmpty(slot: i, table: table, wide: wide) {
            let seen = self.age(slot: i, table: table, wide: wide, clockTile: clockTile)
            if seen < tileCount {
                // In the window already: only a later tile moves it.
                if seen <= age { return }
                countTile(clockTile - seen, by: -1, region: j, offset: offset, wide: wide)
                setEntry(slot: i, table: table, wide: wide, hash: h, tile: k)
                countTile(k, by: 1, region: j, offset: offset, wide: wide)
                return
            }
            // An entry that left the window and was not purged yet.
            setEntry(slot: i, table: table, wide: wide, hash: h, tile: k)
        } else {
            if (tableOccupied(at: offset) + 1) * 4 > capacity * 3 {
                rebuildTable(region: j, offset: offset, clockTile: clockTile, tileCount: tileCount,
                             capacity: DistinctTable.capacity(forLive: Int(truncatingIfNeeded: words[offset]) + 1), wide: wide)
                capacity = tableCapacity(at: offset)
                i = probe(h, table: table, capacity: capacity, wide: wide)
            }
            setEntry(slot: i, table: table, wide: wide, hash: h, tile: k)
            words[offset + 1] += 1 << 32
        }
        words[offset] += 1
        countTile(k, by: 1, region: j, offset: offset, wide: wide)
    }

    /// Adds `delta` (±1) to the count of values whose latest tile is `tile`, in
    /// the (tile, count) pairs after the table; a new tile gets a pair. Pairs
    /// whose count falls to 0 stay until their tile leaves the window.
    mutating func countTile(_ tile: Int64, by delta: Int, region j: Int, offset: Int, wide: Bool) {
        let first = offset + DistinctTable.headerWords + tableCapacity(at: offset) * (wide ? 2 : 1)
        let end = offset + regionLength(j)
        if delta > 0 && (end == first || int(end - 2) <= tile) {
            // The newest tile, or a newer one: events mostly come in order.
            if end > first && int(end - 2) == tile {
                words[end - 1] += 1
            } else {
                insertWords(2, at: end, region: j)
                words[end] = UInt64(bitPattern: tile)
                words[end + 1] = 1
            }
            return
        }
        var low = 0
        var high = (end - first) / 2
        while low < high {
            let middle = (low + high) / 2
            if int(first + 2 * middle) < tile { low = middle + 1 } else { high = middle }
        }
        let p = first + 2 * low
        if p < end && int(p) == tile {
            words[p + 1] = UInt64(bitPattern: Int64(bitPattern: words[p + 1]) + Int64(delta))
        } else {
            assert(delta > 0, "a value's tile has no count")
            insertWords(2, at: p, region: j)
            words[p] = UInt64(bitPattern: tile)
            words[p + 1] = 1
        }
    }

    /// Turns list region `j` (entries of the window, oldest first) into a hash
    /// table holding the same values.
    mutating func makeTable(region j: Int, offset: Int, clockTile: Int64, tileCount: Int64, wide: Bool) {
        let width = wide ? 2 : 1
        let length = regionLength(j)
        let n = length / width
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Swift.max(length, 1)) { saved in
            saved.baseAddress!.update(from: words + offset, count: length)
            // Entry e's tile and hash in the saved list.
            func entry(_ e: Int) -> (tile: Int64, hash: UInt64) {
                wide ? (Int64(bitPattern: saved[2 * e]), saved[2 * e + 1])
                     : (clockTile - DistinctEntry.age(saved[e], clockTile: clockTile), saved[e])
            }
            var tiles = 0
            var previous = Int64.min
            for e in 0..<n where entry(e).tile != previous {
                tiles += 1
                previous = entry(e).tile
            }
            let capacity = DistinctTable.capacity(forLive: n + 1)
            insertWords(DistinctTable.headerWords + capacity * width + 2 * tiles - length, at: offset + length, region: j)
            setTable(j, true)
            words[offset] = UInt64(n)
            words[offset + 1] = UInt64(capacity) | UInt64(n) << 32
            words[offset + 2] = UInt64(bitPattern: clockTile)
            let table = offset + DistinctTable.headerWords
            clearTable(table, capacity: capacity, wide: wide)
            for e in 0..<n {
                let (tile, hash) = entry(e)
                setEntry(slot: probe(hash, table: table, capacity: capacity, wide: wide), table: table, wide: wide, hash: hash, tile: tile)
            }
            var p = table + capacity * width - 2
            previous = Int64.min
            for e in 0..<n {
                let tile = entry(e).tile
                if tile != previous {
                    p += 2
                    words[p] = UInt64(bitPattern: tile)
                    words[p + 1] = 0
                    previous = tile
                }
                words[p + 1] += 1
            }
        }
    }

    /// Rehashes table region `j` into `capacity` slots, keeping the values
    /// still in the window and purging those that left it. The region changes
    /// length only when `capacity` does (never within ``advance(to:kind:)``).
    mutating func rebuildTable(region j: Int, offset: Int, clockTile: Int64, tileCount: Int64, capacity: Int, wide: Bool) {
        let width = wide ? 2 : 1
        let old = tableCapacity(at: offset)
        let table = offset + DistinctTable.headerWords
        withUnsafeTemporaryAllocation(of: (tile: Int64, hash: UInt64).self, capacity: old) { saved in
            var n = 0
            for i in 0..<old where !isEmpty(slot: i, table: table, wide: wide) {
                let age = self.age(slot: i, table: table, wide: wide, clockTile: clockTile)
                if age < tileCount {
                    saved[n] = (clockTile - age, wide ? words[table + 2 * i + 1] : words[table + i])
                    n += 1
                }
            }
            if capacity > old {
                insertWords((capacity - old) * width, at: table + old * width, region: j)
            } else if capacity < old {
                removeWords((table + capacity * width)..<(table + old * width), region: j)
            }
            clearTable(table, capacity: capacity, wide: wide)
            for e in 0..<n {
                setEntry(slot: probe(saved[e].hash, table: table, capacity: capacity, wide: wide), table: table, wide: wide,
                         hash: saved[e].hash, tile: saved[e].tile)
            }
            words[offset + 1] = UInt64(capacity) | UInt64(n) << 32
            words[offset + 2] = UInt64(bitPattern: clockTile)
        }
    }

    /// ``advance(to:kind:)`` for a table region at `offset`: takes the tiles
    /// before the window out of the live count. Returns the words to keep at
    /// the region's start and the words dropped after them. A table whose
    /// window emptied goes back to an empty list; one whose one-word entries
    /// could outlive their 20-bit tile counter is purged first (see ``DistinctTable``).
    mutating func evictTable(at offset: Int, length: Int, region j: Int, clockTile: Int64, tileCount: Int64, wide: Bool) -> (head: Int, dropped: Int) {
        let capacity = tableCapacity(at: offset)
        let head = DistinctTable.headerWords + capacity * (wide ? 2 : 1)
        let first = offset + head
        let start = clockTile - tileCount + 1
        var p = first
        var expired: UInt64 = 0
        while p < offset + length && int(p) < start {
            expired += words[p + 1]
            p += 2
        }
        words[offset] -= expired
        if words[offset] == 0 {
            setTable(j, false)
            return (0, length)
        }
        if !wide && clockTile - int(offset + 2) >= DistinctTable.purgeInterval {
            rebuildTable(region: j, offset: offset, clockTile: clockTile, tileCount: tileCount, capacity: capacity, wide: false)
        }
        return (head, p - first)
    }

    /// Words beyond ``KindProgram/maximumGrowth`` that the next event may add:
    /// a `distinct` list about to become a table, or a table about to grow.
    func extraGrowth(kind: KindProgram) -> Int {
        var extra = 0
        var offset = kind.headerWords
        // `distinct` regions come first (``EntityKindBuilder/finish()``).
        for j in 0..<kind.distinctRegions {
            let length = regionLength(j)
            let width = kind.compiled[j].packed ? 1 : 2
            if isTable(j) {
                let capacity = tableCapacity(at: offset)
                extra += 2
                if (tableOccupied(at: offset) + 1) * 4 > capacity * 3 { extra += capacity * width }
            } else if length >= DistinctTable.listLimit * width {
                extra += DistinctTable.conversionGrowth(listEntries: length / width, width: width)
            }
            offset += length
        }
        return extra
    }

    // MARK: Reads

    /// The value of `read` for this entity's current state.
    @inline(__always)
    func value(of read: FeatureRead, headerWords: Int) -> Double {
        let offset = regionStart(read.aggregator, headerWords: headerWords)
        switch read.operation {
        case .count:
            return read.integerCount ? NewestTile.count(words[offset]) : double(offset)
        case .counter:
            // A count-only region: its total, or its one tile's count, or none.
            let length = regionLength(read.aggregator)
            return length > 1 ? double(offset) : length == 1 ? Double(TileWord.count(words[offset])) : 0
        case .sum:
            return double(offset + read.column) + double(offset + read.column + 1)
        case .mean:
            let n = read.integerCount ? NewestTile.count(words[offset]) : double(offset + read.countColumn)
            return n == 0 ? .nan : (double(offset + read.column) + double(offset + read.column + 1)) / n
        case .stddev:
            let n = read.integerCount ? NewestTile.count(words[offset]) : double(offset + read.countColumn)
            guard n > 0 else { return .nan }
            let sum = double(offset + read.column) + double(offset + read.column + 1)
            let squares = double(offset + read.column + 2) + double(offset + read.column + 3)
            return (Swift.max(0, (squares - sum * sum / n) / n)).squareRoot()
        case .extremum:
            // The front entry: (tile, value), or an ``ExtremumEntry`` when
            // `column` is 1, whose value is the word itself or the next one.
            guard regionLength(read.aggregator) > 0 else { return .nan }
            if read.column == 1 {
                let front = words[offset]
                if ExtremumEntry.isCompact(front) { return ExtremumEntry.value(front) }
                if read.pairTileBits != 0 && ExtremumPair.isPair(front) { return ExtremumPair.olderValue(front, tileBits: read.pairTileBits) }
            }
            return double(offset + 1)
        case .distinct:
            return isTable(read.aggregator) ? Double(words[offset]) : Double(regionLength(read.aggregator) / read.column)
        case .last:
            return int(offset) == .min ? .nan : double(offset + 1)
        }
    }
}

/// Reads one feature value out of an aggregator.
struct FeatureRead: Sendable, Equatable {
    enum Operation: Sendable, Equatable {
        /// `counter` reads a count-only region (``Aggregator/countsOnly``);
        /// `count` the count in other tile regions' totals.
        case count, counter, sum, mean, stddev, extremum, distinct, last
    }

    /// The aggregator index in the entity's plan.
    var aggregator: Int
    var operation: Operation
    /// For sum/mean/stddev: the word offset of the column's sum within the
    /// totals; for distinct: the words per value (1 or 2); for extremum: 1
    /// for a queue of ``ExtremumEntry``s, 2 for (tile, value) pairs.
    var column: Int
    /// For mean/stddev: the word offset of the count of the column's values
    /// (0, the aggregator's count, when the field is required).
    var countColumn: Int = 0
    /// For count/mean/stddev: the count read is the aggregator's, packed
    /// with its newest tile's position (``NewestTile``).
    var integerCount = false
    /// For extremum: T of the queue's ``ExtremumPair``s (0: none).
    var pairTileBits: UInt64 = 0
}

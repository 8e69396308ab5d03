/// One piece of per-entity state and the rule that maintains it.
///
/// Aggregators live in an entity's single word buffer (see ``EntityState``);
/// features that share a window, a filter and an entity share one aggregator,
/// so `count`, `sum`, `mean` and `stddev` of the amount over 24 h cost one tile
/// series, not four.
struct Aggregator: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// Tiles of counts, sums and sums of squares, with running totals over
        /// the window (compensated sums, so eviction does not drift).
        case tiles(columns: [TileColumn])
        /// A monotonic queue of (tile, value): the window's maximum (or minimum)
        /// is at its front.
        case extremum(field: Int, isMaximum: Bool)
        /// Each value's latest tile in the window, as a ``DistinctEntry``.
        case distinct(field: Int, isString: Bool)
        /// The field's value on the entity's latest event by event time.
        case last(field: Int)
    }

    var kind: Kind
    /// Tile length (ms); 0 for `last`.
    var step: Int64
    /// Tiles per window; 0 for `last`.
    var tileCount: Int64
    /// Only events passing the filter update the aggregator.
    var filter: CompiledFilter?

    /// Words of running totals at the start of a tile region: the count, then
    /// per column its own count (optional fields only), the compensated sum and,
    /// for `stddev`, the compensated sum of squares. When its tiles are not
    /// all one width (``keepsNewestTile``), the count word also says where the
    /// newest tile starts (``NewestTile``).
    var totalsWidth: Int {
        guard case .tiles(let columns) = kind else { return 0 }
        return 1 + columns.reduce(0) { $0 + $1.totalsWidth }
    }

    /// ``totalsWidth`` in checkpoint formats 3 to 7, where the newest tile's
    /// position took a word of its own after the sums.
    var totalsWidthBefore8: Int { totalsWidth + (keepsNewestTile ? 1 : 0) }

    /// Whether a tile of one event may be kept in one word (``CompactTile``):
    /// a tile region of one column of a required field, whose window has at
    /// most ``CompactTile/maximumTiles`` tiles.
    var compactsTiles: Bool {
        guard case .tiles(let columns) = kind else { return false }
        return columns.count == 1 && !columns[0].counted && tileCount <= CompactTile.maximumTiles
    }

    /// Whether a tile region only counts events (no columns). Such a region
    /// keeps its total only while it has two tiles or more: empty, it has no
    /// words; with one tile, that tile's word, whose count is the total (see
    /// ``EntityWords/addToCounts(tile:region:offset:)``).
    var countsOnly: Bool {
        guard case .tiles(let columns) = kind else { return false }
        return columns.isEmpty
    }

    /// T of the ``TilePair``s of a region that keeps compact tiles, or of the
    /// ``ExtremumPair``s of a `min`/`max` queue of at most
    /// ``CompactTile/maximumTiles`` tiles; 0 for others.
    var pairTileBits: UInt64 {
        compactsTiles || (packsExtremum && tileCount <= CompactTile.maximumTiles) ? TilePair.tileBits(tileCount: tileCount) : 0
    }

    /// Events one tile word counts at most (more continue in another tile
    /// word of the same index): fewer where bit 19 marks a ``TilePair``.
    var maximumTileCount: UInt64 { compactsTiles ? TilePair.maximumTileCount : TileWord.maximumCount }

    /// Whether a tile region's tiles come in several widths (one-event tiles
    /// without sums of squares, or compact ones), so that its totals end with
    /// where the newest tile starts: a new event in order is then O(1).
    var keepsNewestTile: Bool { squareColumns > 0 || compactsTiles }

    /// Words per tile in a tile region: tile index and count packed in one word
    /// (see ``TileWord``), then per column its count (optional fields only), sum
    /// and sum of squares (for `stddev`). A tile of one event leaves the sums
    /// of squares out: each is the square of its sum, bit for bit.
    var tileStride: Int {
        guard case .tiles(let columns) = kind else { return 2 }
        return 1 + columns.reduce(0) { $0 + $1.tileWidth }
    }

    /// Columns that keep sums of squares.
    var squareColumns: Int {
        guard case .tiles(let columns) = kind else { return 0 }
        return columns.reduce(0) { $0 + ($1.squares ? 1 : 0) }
    }

    /// Whether a `distinct` region keeps one word per value (see
    /// ``DistinctEntry``); two (tile, hash) words when the window has too many
    /// tiles for that.
    var packsDistinct: Bool { tileCount <= DistinctEntry.maximumPackedTiles }

    /// Whether an `extremum` region keeps ``ExtremumEntry``s (one word, or
    /// three for a value that does not fit); (tile, value) pairs when the
    /// window has too many tiles for that.
    var packsExtremum: Bool {
        guard case .extremum = kind else { return false }
        return tileCount <= ExtremumEntry.maximumPackedTiles
    }

    var isDistinct: Bool {
        if case .distinct = kind { return true }
        return false
    }

    /// Words an empty region takes.
    var emptyLength: Int {
        switch kind {
        case .tiles: return countsOnly ? 0 : totalsWidth
        case .extremum, .distinct: return 0
        case .last: return 2
        }
    }
}

/// A value column of a tile aggregator.
struct TileColumn: Sendable, Equatable {
    /// The field index in ``DecodedEvent``.
    var field: Int
    /// Whether sums of squares are kept (for `stddev`).
    var squares: Bool
    /// Whether the column counts its own values: only for optional fields; a
    /// required field is present on every event the aggregator counts.
    var counted: Bool

    var totalsWidth: Int { (counted ? 1 : 0) + (squares ? 4 : 2) }
    var tileWidth: Int { (counted ? 1 : 0) + (squares ? 2 : 1) }
}

/// A tile's index and event count packed in one word: the index in the high
/// 44 bits (signed; event times are limited to ±2^43 ms so any tile index
/// fits) and the count in the low 20 bits. A tile with more than 2^20 - 1
/// events continues in a second entry with the same index. A count of 0
/// marks a ``CompactTile`` instead.
enum TileWord {
    static let countBits: UInt64 = 20
    static let maximumCount: UInt64 = (1 << countBits) - 1

    @inline(__always) static func make(index: Int64, count: UInt64) -> UInt64 { UInt64(bitPattern: index << Int64(countBits)) | count }
    @inline(__always) static func index(_ word: UInt64) -> Int64 { Int64(bitPattern: word) >> Int64(countBits) }
    @inline(__always) static func count(_ word: UInt64) -> UInt64 { word & maximumCount }
}

/// The first word of the totals of a tile region that keeps where its newest
/// tile starts (``Aggregator/keepsNewestTile``): the count of events in the
/// window in the high 40 bits, and that position, in words from the region's
/// start, in the low 24 (a block holds fewer than 2^24 words). Other tile
/// regions keep their count as a double.
enum NewestTile {
    static let countShift: UInt64 = 24
    /// One event in the count.
    static let countUnit: UInt64 = 1 << countShift
    static let positionMask: UInt64 = countUnit - 1

    // Signed: the count is under 2^40, and a signed conversion is one instruction.
    @inline(__always) static func count(_ word: UInt64) -> Double { Double(Int64(bitPattern: word >> countShift)) }
    @inline(__always) static func position(_ word: UInt64) -> Int { Int(truncatingIfNeeded: word & positionMask) }
}

/// A tile of one event in one word, in regions that allow it
/// (``Aggregator/compactsTiles``): the event's value as a count of
/// thousandths in the high 31 bits (signed), the low 13 bits of the tile
/// index in the next 13, and 0 in the low 20 (a ``TileWord`` count, which
/// is never 0 in a tile word).
///
/// Only a value that its thousandths give back bit for bit is kept this way
/// (amounts in cents up to ±1,073,741.823, integers up to ±1,073,741): the
/// tile's sum is then the event's value exactly, as in a tile word followed
/// by its sum, and its sum of squares the square of that. Any other value
/// takes the wide form. The tile index is read as an age relative to the
/// entity's clock tile, modulo 2^13, as ``DistinctEntry`` does: tiles stay
/// only inside the window (at most 2^12 tiles), and a clock that jumps by a
/// whole window drops them all without looking.
enum CompactTile {
    static let tileBits: UInt64 = 13
    static let tileMask: UInt64 = (1 << tileBits) - 1
    static let maximumTiles: Int64 = 1 << (tileBits - 1)
    static let valueShift: UInt64 = TileWord.countBits + tileBits
    /// Thousandths of the largest magnitude kept (2^30: the value field is 31 bits, signed).
    static let limit: Double = 1_073_741_824  // 2^30

    @inline(__always) static func isCompact(_ word: UInt64) -> Bool { TileWord.count(word) == 0 }

    /// The compact word for `value` at `tile`, or `nil` when the value does
    /// not fit.
    @inline(__always)
    static func make(_ value: Double, tile: Int64) -> UInt64? {
        Thousandths.of(value, below: limit).map { make(thousandths: $0, tile: tile) }
    }

    /// The compact word of a value of `m` thousandths (|m| < 2^30) at `tile`.
    @inline(__always)
    static func make(thousandths m: Int64, tile: Int64) -> UInt64 {
        UInt64(bitPattern: m << Int64(valueShift)) | (UInt64(bitPattern: tile) & tileMask) << TileWord.countBits
    }

    /// The event's value, bit for bit (but for -0.0, which reads as +0.0).
    @inline(__always)
    static func value(_ word: UInt64) -> Double { Thousandths.value(thousandths(word)) }

    /// The event's value as a count of thousandths.
    @inline(__always)
    static func thousandths(_ word: UInt64) -> Int64 { Int64(bitPattern: word) >> Int64(valueShift) }

    /// The tile index, given the entity's clock tile (at or after it, by less than 2^13).
    @inline(__always)
    static func index(_ word: UInt64, clockTile: Int64) -> Int64 {
        clockTile - Int64(bitPattern: (UInt64(bitPattern: clockTile) &- (word >> TileWord.countBits)) & tileMask)
    }
}

/// Two neighbouring one-event tiles in one word, in regions that keep
/// ``CompactTile``s: a tile's event joins the tile before it this way when
/// both values fit in a half (see ``half(_:bits:)``) and the tiles are less
/// than 2^(T - 1) apart, T being the region's ``Aggregator/pairTileBits``.
///
/// Bit 19 marks a pair: tile words in such regions count at most 2^19 - 1
/// events (``maximumTileCount``), so their bit 19 is 0, and a compact tile's
/// low 20 bits are all 0. The other 63 bits hold, from the lowest: the older
/// tile's index modulo 2^T (an age relative to the clock's tile, as in a
/// compact tile), the distance to the newer tile (T - 1 bits), then the older
/// and the newer value (32 - T bits each).
enum TilePair {
    static let tag: UInt64 = 1 << 19
    /// Events a tile word of a region with pairs counts at most.
    static let maximumTileCount: UInt64 = tag - 1

    @inline(__always) static func isPair(_ word: UInt64) -> Bool { word & tag != 0 }

    /// T for a window of `tileCount` tiles: ages below twice the window stay
    /// apart, and at least 5, so that a half value always fits a compact tile.
    static func tileBits(tileCount: Int64) -> UInt64 {
        var bits: UInt64 = 5
        while (Int64(1) << (bits - 1)) < tileCount { bits += 1 }
        return bits
    }

    /// `value` in `bits` (32 - T) bits, or `nil`: a value ≥ 0 as hundredths
    /// (low bit 0) or else thousandths (low bit 1), below 2^(bits - 1) either way.
    @inline(__always)
    static func half(_ value: Double, bits: UInt64) -> UInt64? {
        guard value >= 0, let m = Thousandths.of(value, below: CompactTile.limit) else { return nil }
        return half(thousandths: m, bits: bits)
    }

    /// The half of a value kept as `m` thousandths (by a compact tile or a
    /// one-word min/max entry, which give it back exactly), or `nil`.
    @inline(__always)
    static func half(thousandths m: Int64, bits: UInt64) -> UInt64? {
        let limit = Int64(1) << (bits - 1)
        guard m >= 0 else { return nil }
        if m % 10 == 0 && m / 10 < limit { return UInt64(m / 10) << 1 }
        return m < limit ? UInt64(m) << 1 | 1 : nil
    }

    /// The value of a half: exactly the value it was made from (as in
    /// ``Thousandths``, hundredths over 100 and their thousandths over 1000
    /// are one quotient, correctly rounded), -0.0 read as +0.0.
    @inline(__always)
    static func value(half: UInt64) -> Double { Thousandths.value(thousandths(half: half)) }

    /// The value of a half as a count of thousandths (below 2^27 · 10, so
    /// it always fits a compact tile or a one-word min/max entry).
    @inline(__always)
    static func thousandths(half: UInt64) -> Int64 {
        half & 1 == 0 ? Int64(half >> 1) * 10 : Int64(half >> 1)
    }

    /// The pair of `older` at `tile` and `newer` at `tile + distance`
    /// (0 < distance < 2^(T - 1)), halves from ``half(_:bits:)``.
    @inline(__always)
    static func make(older: UInt64, newer: UInt64, tile: Int64, distance: Int64, tileBits t: UInt64) -> UInt64 {
        let payload = (UInt64(bitPattern: tile) & ((1 << t) - 1)) | UInt64(distance) << t | older << (2 * t - 1) | newer << (t + 31)
        return (payload >> 19) << 20 | tag | (payload & (tag - 1))
    }

    @inline(__always) static func payload(_ word: UInt64) -> UInt64 { (word >> 20) << 19 | (word & (tag - 1)) }

    /// The older tile's index, given the clock's tile.
    @inline(__always)
    static func olderTile(_ word: UInt64, clockTile: Int64, tileBits t: UInt64) -> Int64 {
        clockTile - Int64(bitPattern: (UInt64(bitPattern: clockTile) &- payload(word)) & ((1 << t) - 1))
    }

    /// Tiles from the older tile to the newer one.
    @inline(__always)
    static func distance(_ word: UInt64, tileBits t: UInt64) -> Int64 { Int64(bitPattern: (payload(word) >> t) & ((1 << (t - 1)) - 1)) }

    @inline(__always) static func olderHalf(_ word: UInt64, tileBits t: UInt64) -> UInt64 { (payload(word) >> (2 * t - 1)) & ((1 << (32 - t)) - 1) }
    @inline(__always) static func newerHalf(_ word: UInt64, tileBits t: UInt64) -> UInt64 { payload(word) >> (t + 31) }
    @inline(__always) static func olderValue(_ word: UInt64, tileBits t: UInt64) -> Double { value(half: olderHalf(word, tileBits: t)) }
    @inline(__always) static func newerValue(_ word: UInt64, tileBits t: UInt64) -> Double { value(half: newerHalf(word, tileBits: t)) }
}

/// A value as a whole number of thousandths, where that number gives it back
/// exactly: decimals of up to three places as the decoder reads them (the
/// nearest double to the decimal is the quotient of two exact doubles, one
/// rounding), and integers.
enum Thousandths {
    /// `value`'s thousandths if they give it back (-0.0 as +0.0) and their
    /// magnitude is below `limit`; `nil` for any other value, NaN and the
    /// infinities included.
    @inline(__always)
    static func of(_ value: Double, below limit: Double) -> Int64? {
        let thousandths = (value * 1000).rounded()
        guard abs(thousandths) < limit else { return nil }
        let m = Int64(thousandths)
        // `==`, not bit patterns: -0.0 comes back as +0.0, which is what a
        // wide tile's sum (0 + -0.0) holds too.
        guard Double(m) / 1000 == value else { return nil }
        return m
    }

    @inline(__always)
    static func value(_ thousandths: Int64) -> Double { Double(thousandths) / 1000 }
}

/// An entry of a `min` or `max` queue (see ``EntityWords/addPackedExtremum``)
/// in a window of at most 2^19 tiles: one word when its value fits, the
/// value's thousandths in the high 43 bits (signed), the low 20 bits of its
/// tile index, then a 1; otherwise three words, the whole tile index shifted
/// left by one (so the low bit is 0), the value, and the tile word again. The
/// queue can thus be read from either end. As in ``DistinctEntry``, a
/// one-word entry's tile is an age relative to the clock's tile, modulo 2^20.
enum ExtremumEntry {
    static let tileBits: UInt64 = 20
    static let tileMask: UInt64 = (1 << tileBits) - 1
    static let maximumPackedTiles: Int64 = 1 << (tileBits - 1)
    static let valueShift: UInt64 = tileBits + 1
    /// 2^42: the value field is 43 bits, signed.
    static let limit: Double = 4_398_046_511_104

    /// The one-word entry for `value` at `tile`, or `nil` when the value does not fit.
    @inline(__always)
    static func compact(_ value: Double, tile: Int64) -> UInt64? {
        Thousandths.of(value, below: limit).map { compact(thousandths: $0, tile: tile) }
    }

    /// The one-word entry of a value of `m` thousandths (|m| < 2^42) at `tile`.
    @inline(__always)
    static func compact(thousandths m: Int64, tile: Int64) -> UInt64 {
        UInt64(bitPattern: m << Int64(valueShift)) | (UInt64(bitPattern: tile) & tileMask) << 1 | 1
    }

    @inline(__always) static func isCompact(_ word: UInt64) -> Bool { word & 1 != 0 }
    /// The first and last word of a three-word entry.
    @inline(__always) static func tileWord(_ tile: Int64) -> UInt64 { UInt64(bitPattern: tile << 1) }
    /// Words of the entry (or ``ExtremumPair``) whose first (or last) word is `word`.
    @inline(__always) static func width(_ word: UInt64) -> Int { isCompact(word) || ExtremumPair.isPair(word) ? 1 : 3 }

    /// The tile of the entry whose first (or last) word is `word`, given the clock's tile.
    @inline(__always)
    static func tile(_ word: UInt64, clockTile: Int64) -> Int64 {
        isCompact(word)
            ? clockTile - Int64(bitPattern: (UInt64(bitPattern: clockTile) &- (word >> 1)) & tileMask)
            : Int64(bitPattern: word) >> 1
    }

    /// A one-word entry's value.
    @inline(__always)
    static func value(_ word: UInt64) -> Double { Thousandths.value(thousandths(word)) }

    /// A one-word entry's value as a count of thousandths.
    @inline(__always)
    static func thousandths(_ word: UInt64) -> Int64 { Int64(bitPattern: word) >> Int64(valueShift) }
}

/// Two neighbouring entries of a `min`/`max` queue in one word, in queues of
/// windows of at most 2^12 tiles: a new entry joins the one-word entry before
/// it this way when both values fit a half of 31 - T bits (as in
/// ``TilePair/half(_:bits:)``) and their tiles are less than 2^(T - 1) apart,
/// T being ``Aggregator/pairTileBits``.
///
/// Bit 0 clear, bit 63 clear and bit 62 set mark a pair: a one-word entry has
/// bit 0 set, and a three-word entry's tile word holds a tile index of at most
/// 2^43 in magnitude shifted left by one, so its bits 45 to 63 are all equal.
/// Bits 1 to 61 hold, from the lowest: the older entry's tile modulo 2^T (an
/// age, as in ``ExtremumEntry``), the distance to the newer one's tile
/// (T - 1 bits), then the older and the newer value.
enum ExtremumPair {
    static let tag: UInt64 = 1 << 62
    static let tagMask: UInt64 = 1 << 63 | 1 << 62 | 1

    @inline(__always) static func isPair(_ word: UInt64) -> Bool { word & tagMask == tag }

    /// The pair of `older` at `tile` and `newer` at `tile + distance`
    /// (0 < distance < 2^(T - 1)), halves of 31 - T bits.
    @inline(__always)
    static func make(older: UInt64, newer: UInt64, tile: Int64, distance: Int64, tileBits t: UInt64) -> UInt64 {
        tag | ((UInt64(bitPattern: tile) & ((1 << t) - 1)) | UInt64(distance) << t | older << (2 * t - 1) | newer << (t + 30)) << 1
    }

    @inline(__always) static func payload(_ word: UInt64) -> UInt64 { (word >> 1) & ((1 << 61) - 1) }

    @inline(__always)
    static func olderTile(_ word: UInt64, clockTile: Int64, tileBits t: UInt64) -> Int64 {
        clockTile - Int64(bitPattern: (UInt64(bitPattern: clockTile) &- payload(word)) & ((1 << t) - 1))
    }

    @inline(__always)
    static func newerTile(_ word: UInt64, clockTile: Int64, tileBits t: UInt64) -> Int64 {
        olderTile(word, clockTile: clockTile, tileBits: t) + Int64(bitPattern: (payload(word) >> t) & ((1 << (t - 1)) - 1))
    }

    @inline(__always) static func olderHalf(_ word: UInt64, tileBits t: UInt64) -> UInt64 { (payload(word) >> (2 * t - 1)) & ((1 << (31 - t)) - 1) }
    @inline(__always) static func newerHalf(_ word: UInt64, tileBits t: UInt64) -> UInt64 { payload(word) >> (t + 30) }
    @inline(__always) static func olderValue(_ word: UInt64, tileBits t: UInt64) -> Double { TilePair.value(half: olderHalf(word, tileBits: t)) }
    @inline(__always) static func newerValue(_ word: UInt64, tileBits t: UInt64) -> Double { TilePair.value(half: newerHalf(word, tileBits: t)) }
}

/// An event filter resolved to a field index.
struct CompiledFilter: Sendable, Equatable {
    var field: Int
    var values: [String]

    @inline(__always)
    func accepts(_ event: EventFields) -> Bool {
        guard let value = event.strings[field] else { return false }
        return values.contains(value)
    }
}

/// The tile index of `time`: floor(time / step), also for times before 1970.
@inline(__always)
func tileIndex(_ time: Int64, _ step: Int64) -> Int64 {
    time >= 0 ? time / step : (time - step + 1) / step
}

/// An ``Aggregator`` in the form the hot path reads: plain values only, so
/// reading one per event costs no reference counting. Its columns and filter
/// live in the owning kind's tables (``KindProgram``).
struct CompiledAggregator: Sendable {
    enum Kind: UInt8, Sendable { case tiles, extremum, distinct, last }

    var kind: Kind
    /// The field read by `extremum`, `distinct` and `last`.
    var field: Int
    var isMaximum: Bool
    /// A `distinct` region of one-word entries (``Aggregator/packsDistinct``),
    /// or an `extremum` one of ``ExtremumEntry``s (``Aggregator/packsExtremum``).
    var packed: Bool
    var step: Int64
    var tileCount: Int64
    /// Index into ``KindProgram/filters``; -1: every event counts.
    var filter: Int
    /// The range of ``KindProgram/columns`` holding a tile aggregator's columns.
    var columns: Range<Int>
    var totalsWidth: Int
    var tileStride: Int
    /// Words of a tile holding one event in a tile word; less than
    /// `tileStride` when the region keeps sums of squares.
    var singleStride: Int
    /// One-event tiles may be one word (``CompactTile``).
    var compact: Bool
    /// A tile region without columns (``Aggregator/countsOnly``).
    var countsOnly: Bool
    /// T of its ``TilePair``s or ``ExtremumPair``s (``Aggregator/pairTileBits``); 0: no pairs.
    var pairTileBits: UInt64
    /// ``Aggregator/maximumTileCount``.
    var maximumTileCount: UInt64
    /// The totals end with where the newest tile starts (``Aggregator/keepsNewestTile``).
    var keepsNewestTile: Bool
    /// The most words one event can add to the region.
    var growth: Int

    init(_ a: Aggregator, columns: Range<Int>, filter: Int) {
        switch a.kind {
        case .tiles:
            kind = .tiles
            field = -1
            isMaximum = false
        case .extremum(let f, let maximum):
            kind = .extremum
            field = f
            isMaximum = maximum
        case .distinct(let f, _):
            kind = .distinct
            field = f
            isMaximum = false
        case .last(let f):
            kind = .last
            field = f
            isMaximum = false
        }
        packed = (kind == .distinct && a.packsDistinct) || a.packsExtremum
        step = a.step
        tileCount = a.tileCount
        self.filter = filter
        self.columns = columns
        totalsWidth = a.totalsWidth
        tileStride = a.tileStride
        singleStride = a.tileStride - a.squareColumns
        compact = a.compactsTiles
        countsOnly = a.countsOnly
        pairTileBits = a.pairTileBits
        maximumTileCount = a.maximumTileCount
        keepsNewestTile = a.keepsNewestTile
        switch kind {
        // Splitting a pair takes a word before the event widens a tile or adds one.
        // A count-only region of one tile gains its total with a second.
        case .tiles: growth = a.countsOnly ? 2 : a.tileStride + (a.compactsTiles ? 1 : 0)
        // Splitting a pair takes a word before a three-word entry goes in.
        case .extremum: growth = packed ? (a.pairTileBits > 0 ? 4 : 3) : 2
        // A packed list adds one word; a table's (tile, count) pair and its
        // growth are counted apart (``EntityWords/extraGrowth(kind:)``).
        case .distinct: growth = packed ? 1 : 2
        case .last: growth = 0
        }
    }
}

/// A value of a `distinct` window in one word: the top 44 bits of the value's
/// hash and the low 20 bits of its latest tile index.
///
/// The tile is read as an age relative to the entity's clock tile, modulo
/// 2^20. That is exact while entries are younger than 2^20 tiles: an entity
/// keeps entries only inside its window (at most ``maximumPackedTiles`` tiles),
/// and when the clock jumps by a whole window or more every entry is dropped
/// without looking at its tile, so no age seen is ever 2^19 + 2^19 or more.
/// Windows of more tiles keep (tile, hash) pairs instead.
enum DistinctEntry {
    static let tileBits: UInt64 = 20
    static let tileMask: UInt64 = (1 << tileBits) - 1
    static let maximumPackedTiles: Int64 = 1 << (tileBits - 1)

    @inline(__always) static func make(hash: UInt64, tile: Int64) -> UInt64 { (hash & ~tileMask) | (UInt64(bitPattern: tile) & tileMask) }
    @inline(__always) static func sameValue(_ entry: UInt64, _ hash: UInt64) -> Bool { (entry ^ hash) & ~tileMask == 0 }
    /// Tiles between the entry's tile and `clockTile`.
    @inline(__always) static func age(_ entry: UInt64, clockTile: Int64) -> Int64 { Int64(bitPattern: (UInt64(bitPattern: clockTile) &- entry) & tileMask) }
}

/// How a `distinct` region is kept once it holds more than ``listLimit``
/// values: an open-addressing hash table of its entries (one word, a
/// ``DistinctEntry``, or two, tile and hash, as in its list), so that a new
/// event costs O(1) instead of a scan of the list.
///
/// Layout (words): the number of values in the window; the table's capacity
/// (a power of two, low half) and occupied slots (high half); the clock tile
/// of the last purge; the table; then (tile, count) pairs in tile order: how
/// many values have that tile as their latest. Advancing the clock takes
/// whole tiles out of the count, in O(1) per tile; their entries stay in the
/// table as stale until the next rebuild (at 3/4 occupancy, to at most 5/8)
/// purges them. A table of one-word entries is also purged whenever the
/// clock has moved 2^19 tiles since the last purge, so no entry gets older
/// than the 2^20 tiles its tile field can tell apart. An empty slot is 0 for
/// one-word entries (so an entry of a value whose hash has 44 zero top bits,
/// seen at a tile that is a multiple of 2^20, would read as empty: one value
/// in 2^64) and has the tile `Int64.min` for two-word ones.
enum DistinctTable {
    /// Lists longer than this become tables.
    static let listLimit = 32
    static let headerWords = 3
    static let minimumCapacity = 64
    static let purgeInterval: Int64 = 1 << 19

    /// The table capacity for `live` values: at most 5/8 full.
    static func capacity(forLive live: Int) -> Int {
        var capacity = minimumCapacity
        while live * 8 > capacity * 5 { capacity <<= 1 }
        return capacity
    }

    /// An empty slot of a table of two-word entries (its tile word).
    static let emptyTile = UInt64(bitPattern: Int64.min)

    /// The most words a list of `listEntries` entries of `width` words grows
    /// by when one more value turns it into a table.
    static func conversionGrowth(listEntries: Int, width: Int) -> Int {
        headerWords + capacity(forLive: listEntries + 1) * width + 2 * (listEntries + 1) - listEntries * width
    }
}

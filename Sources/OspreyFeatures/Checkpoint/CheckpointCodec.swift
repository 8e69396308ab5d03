/// What a checkpoint covers, besides the state itself.
public struct CheckpointMetadata: Sendable, Equatable {
    /// The input topic.
    public var topic: String
    /// The input partition.
    public var partition: Int32
    /// The first offset the state does not include: consumption resumes here.
    public var nextOffset: Int64
    /// Wall-clock time the snapshot was taken (epoch ms).
    public var createdAt: Int64
    /// ``FeatureSpec/fingerprint`` of the spec the state was computed under.
    public var specFingerprint: UInt64
    /// Entity kind names, in state order (`payment.card_id`, ...).
    public var entityKinds: [String]

    /// Creates metadata.
    public init(topic: String, partition: Int32, nextOffset: Int64, createdAt: Int64, specFingerprint: UInt64, entityKinds: [String]) {
        self.topic = topic
        self.partition = partition
        self.nextOffset = nextOffset
        self.createdAt = createdAt
        self.specFingerprint = specFingerprint
        self.entityKinds = entityKinds
    }
}

/// Why a checkpoint could not be used.
public enum CheckpointError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a checkpoint file (wrong magic bytes).
    case notACheckpoint
    /// Written by a format version this build does not read.
    case unsupportedVersion(UInt32)
    /// The file ends before its content does.
    case truncated
    /// The checksum does not match: the file is corrupt.
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// Written under another feature spec: its state means something else.
    case specMismatch(checkpoint: UInt64, current: UInt64)
    /// The structure is inconsistent (with a detail).
    case malformed(String)
    /// The file could not be read or written.
    case io(String)

    public var description: String {
        switch self {
        case .notACheckpoint: return "not an Osprey checkpoint (bad magic bytes)"
        case .unsupportedVersion(let v): return "checkpoint format version \(v) is not supported by this build (reads versions \(CheckpointCodec.readableVersions.lowerBound) to \(CheckpointCodec.readableVersions.upperBound))"
        case .truncated: return "the checkpoint is truncated"
        case .checksumMismatch(let stored, let computed):
            return "checksum mismatch (stored \(hex(stored)), computed \(hex(computed))): the file is corrupt"
        case .specMismatch(let checkpoint, let current):
            return "written under another feature spec (fingerprint \(hex(checkpoint)), current \(hex(current))); its state does not apply to this config"
        case .malformed(let detail): return "malformed checkpoint: \(detail)"
        case .io(let detail): return detail
        }
    }
}

func hex<T: BinaryInteger>(_ v: T) -> String { "0x" + String(v, radix: 16) }

/// Encodes and decodes partition state in Osprey's checkpoint format, version 9
/// (and reads versions 2 to 8).
///
/// Layout (little-endian): magic `OSPRYCKP`, u32 version, u64 spec fingerprint,
/// i64 created-at, string topic, i32 partition, i64 next offset, i64 stream
/// time, u64 applied / late / expired counters, u32 kind count, then per kind
/// a string name, u64 entity count and the entities (u16 key length, key bytes,
/// i64 clock, u32 word count, the words), and last a u32 CRC-32C of all bytes
/// before it. Strings are a u32 length and UTF-8 bytes.
public enum CheckpointCodec {
    /// The format version written. 9: two neighbouring entries of a
    /// `min`/`max` queue may share a word (``ExtremumPair``); a version-8
    /// queue is read as it is. 8: a tile region that keeps where its
    /// newest tile starts packs that position with its count in one word
    /// (``NewestTile``); version 7 is converted on restore. 7: a region that only counts events
    /// keeps no total while it has at most one tile (the tile's count is the
    /// total); version 6 is converted on restore. 6: two neighbouring compact tiles may
    /// share a word (``TilePair``, bit 19 set), so a tile word in a region of
    /// compact tiles counts at most 2^19 - 1 events; version 5 tiles of more
    /// are split on restore. 5: a tile of one event may be one word
    /// (``CompactTile``) in a tile region of one column of a required field
    /// whose window has at most 2^12 tiles, and such a region's totals end
    /// with where its newest tile starts, also without sums of squares; a
    /// `min`/`max` queue of a window of at most 2^19 tiles keeps
    /// ``ExtremumEntry``s; version 4 is converted on restore.
    /// 4: an entity's regions in the plan's order,
    /// `distinct` aggregators first (see ``EntityKindBuilder/finish()``); a
    /// `distinct` region of more than ``DistinctTable/listLimit`` values may
    /// be a hash table, marked by the top bit of its length. Versions 2 and 3
    /// kept the regions in creation order: reordered on restore. 3: region lengths two to a word; distinct
    /// values in one word (``DistinctEntry``) when their window has at most
    /// 2^19 tiles; tiles of one event without sums of squares, and the
    /// newest tile's position at the end of the totals. 2: packed tile words, per-column counts only for
    /// optional fields; still read, and converted on restore.
    public static let version: UInt32 = 9
    static let readableVersions: ClosedRange<UInt32> = 2...9
    static let magic: [UInt8] = Array("OSPRYCKP".utf8)

    /// Encodes `state` and `metadata`.
    public static func encode(_ state: PartitionState, metadata: CheckpointMetadata) -> [UInt8] {
        var out = ByteWriter(capacity: 128 + state.tables.reduce(0) { $0 + $1.count * 40 + $1.wordCount * 8 })
        out.bytes(magic)
        out.u32(version)
        out.u64(metadata.specFingerprint)
        out.i64(metadata.createdAt)
        out.string(metadata.topic)
        out.u32(UInt32(bitPattern: metadata.partition))
        out.i64(metadata.nextOffset)
        out.i64(state.streamTime)
        out.u64(state.appliedEvents)
        out.u64(state.lateEvents)
        out.u64(state.expiredEntities)
        out.u32(UInt32(state.tables.count))
        for (k, table) in state.tables.enumerated() {
            out.string(k < metadata.entityKinds.count ? metadata.entityKinds[k] : "")
            out.u64(UInt64(table.count))
            table.forEachBlock { key, clock, words in
                out.u16(UInt16(truncatingIfNeeded: key.count))
                out.bytes(key)
                out.i64(clock)
                out.u32(UInt32(words.count))
                out.words(words)
            }
        }
        out.u32(out.buffer.withUnsafeBytes { CRC32C.checksum($0) })
        return out.buffer
    }

    /// Reads only the metadata and counts (for `osprey checkpoint inspect`);
    /// the checksum is verified.
    public static func decode(_ bytes: [UInt8], plan: FeaturePlan?) throws(CheckpointError) -> (CheckpointMetadata, PartitionState?, CheckpointSummary) {
        guard bytes.count >= magic.count + 4, Array(bytes[0..<magic.count]) == magic else {
            throw bytes.count < magic.count ? .truncated : .notACheckpoint
        }
        var reader = ByteReader(bytes: bytes, offset: magic.count)
        let version = try reader.u32()
        guard Self.readableVersions.contains(version) else { throw .unsupportedVersion(version) }
        guard bytes.count >= magic.count + 8 else { throw .truncated }
        let stored = UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8 | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24
        let computed = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 4)])) }
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }
        reader.end = bytes.count - 4

        let fingerprint = try reader.u64()
        let createdAt = try reader.i64()
        let topic = try reader.string()
        let partition = Int32(bitPattern: try reader.u32())
        let nextOffset = try reader.i64()
        let streamTime = try reader.i64()
        let applied = try reader.u64()
        let late = try reader.u64()
        let expired = try reader.u64()
        let kindCount = Int(try reader.u32())
        if let plan {
            guard fingerprint == plan.fingerprint else { throw .specMismatch(checkpoint: fingerprint, current: plan.fingerprint) }
            guard kindCount == plan.kinds.count else { throw .malformed("\(kindCount) entity kinds, the spec has \(plan.kinds.count)") }
        }
        var names: [String] = []
        var tables: [EntityTable] = []
        var counts: [Int] = []
        var words = 0
        for k in 0..<kindCount {
            names.append(try reader.string())
            let n = try reader.u64()
            guard n <= UInt64(reader.end - reader.offset) / 14 else { throw .malformed("entity count \(n) exceeds the file size") }
            counts.append(Int(n))
            var table = EntityTable()
            let aggregators = plan?.kinds[k].aggregators
            let creationOrder = plan?.kinds[k].creationOrder ?? []
            // Versions 2 and 3 kept the regions in creation order.
            let inCreationOrder = aggregators.map { a in creationOrder.indices.map { c in a[creationOrder.firstIndex(of: c)!] } }
            let headerWords = EntityWords.headerWords(regions: aggregators?.count ?? 0)
            // The conversions an entity of this version goes through, oldest first.
            var conversions: [(UnsafeBufferPointer<UInt64>) -> [UInt64]?] = []
            if let aggregators {
                func uses(_ used: (Aggregator) -> Bool) -> Bool { aggregators.contains(where: used) }
                if version == 2 { conversions.append { Self.convertFromVersion2($0, aggregators: inCreationOrder!) } }
                // Then the regions in the plan's order.
                if version <= 3 { conversions.append { Self.reorder($0, creationOrder: creationOrder) } }
                // Version 4 kept every tile in a tile word and every min/max entry in two words.
                if version <= 4 && uses({ $0.compactsTiles || $0.packsExtremum }) { conversions.append { Self.convertFromVersion4($0, aggregators: aggregators) } }
                // Version 5 counted up to 2^20 - 1 events in any tile word.
                if version <= 5 && uses(\.compactsTiles) { conversions.append { Self.convertFromVersion5($0, aggregators: aggregators) } }
                // Version 6 kept a total in every region that only counts.
                if version <= 6 && uses(\.countsOnly) { conversions.append { Self.convertFromVersion6($0, aggregators: aggregators) } }
                // Version 7 kept the newest tile's position in a word of its own.
                if version <= 7 && uses(\.keepsNewestTile) { conversions.append { Self.convertFromVersion7($0, aggregators: aggregators) } }
            }
            for _ in 0..<Int(n) {
                let keyRange = try reader.take(Int(try reader.u16()))
                let clock = try reader.i64()
                let count = Int(try reader.u32())
                let wordRange = try reader.take(count * 8)
                words += count
                guard let aggregators else { continue }
                let consistent = bytes.withUnsafeBytes { raw in
                    // The words sit at any byte offset in the file: copy them out aligned.
                    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Swift.max(count, 1)) { buffer in
                        UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[wordRange]))
                        let key = UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[keyRange])
                        if !conversions.isEmpty {
                            var old = Array(UnsafeBufferPointer(rebasing: buffer[0..<count]))
                            for convert in conversions {
                                guard let converted = old.withUnsafeBufferPointer(convert) else { return false }
                                old = converted
                            }
                            old.withUnsafeBufferPointer { table.insertRestored(key, clock: clock, words: $0) }
                            return true
                        }
                        let entityWords = EntityWords(words: buffer.baseAddress!, count: count, clock: clock)
                        guard count >= headerWords,
                              (0..<aggregators.count).reduce(headerWords, { $0 &+ entityWords.regionLength($1) }) == count else { return false }
                        table.insertRestored(key, clock: clock, words: UnsafeBufferPointer(rebasing: buffer[0..<count]))
                        return true
                    }
                }
                guard consistent else {
                    throw .malformed("entity '\(String(decoding: bytes[keyRange], as: UTF8.self))' of \(names[k]) has an inconsistent state layout")
                }
            }
            tables.append(table)
        }
        guard reader.offset == reader.end else { throw .malformed("\(reader.end - reader.offset) unexpected bytes before the checksum") }
        let metadata = CheckpointMetadata(topic: topic, partition: partition, nextOffset: nextOffset, createdAt: createdAt, specFingerprint: fingerprint, entityKinds: names)
        let summary = CheckpointSummary(
            version: version, bytes: bytes.count, checksum: stored, streamTime: streamTime,
            appliedEvents: applied, lateEvents: late, expiredEntities: expired, entityCounts: counts, stateWords: words)
        let state = plan.map { _ in PartitionState(streamTime: streamTime, tables: tables, applied: applied, late: late, expired: expired) }
        return (metadata, state, summary)
    }
}

extension CheckpointCodec {
    /// An entity's words with each region of an aggregator that `selected`
    /// accepts rewritten by `rewrite`, and the others copied as they are.
    /// `rewrite` is given the region's aggregator and old words and appends
    /// the new ones to the words so far (the region starts at their count
    /// then); it returns `false` if the old words are inconsistent. Region
    /// lengths are two to a word, and a region keeps its table flag. `nil` if
    /// inconsistent.
    static func rewritingRegions(
        _ old: UnsafeBufferPointer<UInt64>, aggregators: [Aggregator], where selected: (Aggregator) -> Bool,
        _ rewrite: (Aggregator, Slice<UnsafeBufferPointer<UInt64>>, inout [UInt64]) -> Bool
    ) -> [UInt64]? {
        let header = EntityWords.headerWords(regions: aggregators.count)
        guard old.count >= header else { return nil }
        var words = [UInt64](repeating: 0, count: header)
        words.reserveCapacity(old.count + aggregators.count)
        var from = header
        for (j, a) in aggregators.enumerated() {
            let field = (old[j >> 1] >> EntityWords.lengthShift(j)) & 0xFFFF_FFFF
            let length = Int(truncatingIfNeeded: field & (EntityWords.tableFlag - 1))
            guard from + length <= old.count else { return nil }
            let start = words.count
            let region = old[from..<(from + length)]
            if selected(a) {
                guard rewrite(a, region, &words) else { return nil }
            } else {
                words += region
            }
            EntityWords.setRegionLength(words.count - start, region: j, in: &words)
            words[j >> 1] |= (field & EntityWords.tableFlag) << EntityWords.lengthShift(j)
            from += length
        }
        guard from == old.count else { return nil }
        return words
    }

    /// An entity's words in version 7 as version 8 keeps them: a tile region
    /// that kept its newest tile's position in a word of its own after the
    /// sums packs it with the count (``NewestTile``). `nil` if inconsistent.
    static func convertFromVersion7(_ old: UnsafeBufferPointer<UInt64>, aggregators: [Aggregator]) -> [UInt64]? {
        rewritingRegions(old, aggregators: aggregators, where: \.keepsNewestTile) { a, region, words in
            let totals = a.totalsWidthBefore8
            guard region.count >= totals else { return false }
            let count = Double(bitPattern: region[region.startIndex])
            let position = region[region.startIndex + totals - 1]
            guard count >= 0, count < 0x1p40, count == count.rounded(), position <= NewestTile.positionMask,
                  position == 0 ? region.count == totals : position >= totals && Int(position) < region.count else { return false }
            // Tiles move down by the word the position left.
            words.append(UInt64(count) << NewestTile.countShift | (position == 0 ? 0 : position - 1))
            words += region[(region.startIndex + 1)..<(region.startIndex + totals - 1)]
            words += region[(region.startIndex + totals)...]
            return true
        }
    }

    /// An entity's words in version 6 as version 7 keeps them: a region that
    /// only counts events (``Aggregator/countsOnly``) keeps its total only
    /// with two tiles or more. `nil` if inconsistent.
    static func convertFromVersion6(_ old: UnsafeBufferPointer<UInt64>, aggregators: [Aggregator]) -> [UInt64]? {
        rewritingRegions(old, aggregators: aggregators, where: \.countsOnly) { _, region, words in
            guard !region.isEmpty else { return false }
            words += region.count <= 2 ? region.dropFirst() : region
            return true
        }
    }

    /// An entity's words in version 5 as version 6 keeps them: in regions of
    /// compact tiles, a tile word counting 2^19 events or more (which would
    /// read as a ``TilePair``) is split into tile words of at most
    /// 2^19 - 1, the first with the tile's sums and the others with sums of
    /// 0, so that evicting them all takes out what the tile held. `nil` if
    /// inconsistent.
    static func convertFromVersion5(_ old: UnsafeBufferPointer<UInt64>, aggregators: [Aggregator]) -> [UInt64]? {
        rewritingRegions(old, aggregators: aggregators, where: \.compactsTiles) { a, region, words in
            let start = words.count
            let totals = a.totalsWidthBefore8
            let single = a.tileStride - a.squareColumns
            guard region.count >= totals else { return false }
            words += region.prefix(totals)
            var p = region.startIndex + totals
            while p < region.endIndex {
                let count = TileWord.count(region[p])
                let width = count == 0 ? 1 : count == 1 ? single : a.tileStride
                guard p + width <= region.endIndex else { return false }
                words[start + totals - 1] = UInt64(words.count - start)
                guard count > a.maximumTileCount else {
                    words += region[p..<(p + width)]
                    p += width
                    continue
                }
                let index = TileWord.index(region[p])
                words.append(TileWord.make(index: index, count: a.maximumTileCount))
                words += region[(p + 1)..<(p + width)]
                var rest = count - a.maximumTileCount
                while rest > 0 {
                    let n = Swift.min(rest, a.maximumTileCount)
                    words[start + totals - 1] = UInt64(words.count - start)
                    words.append(TileWord.make(index: index, count: n))
                    words += repeatElement(0, count: (n == 1 ? single : a.tileStride) - 1)
                    rest -= n
                }
                p += width
            }
            return true
        }
    }

    /// An entity's words in version 4 as version 5 keeps them: in tile
    /// regions that may hold ``CompactTile``s, a tile of one event whose sum
    /// fits is one word, and the totals end with where the newest tile
    /// starts (version 4 had that word only with sums of squares); and a
    /// `min`/`max` queue of a short enough window holds ``ExtremumEntry``s
    /// instead of (tile, value) pairs. `nil` if inconsistent.
    static func convertFromVersion4(_ old: UnsafeBufferPointer<UInt64>, aggregators: [Aggregator]) -> [UInt64]? {
        rewritingRegions(old, aggregators: aggregators, where: { $0.compactsTiles || $0.packsExtremum }) { a, region, words in
            let start = words.count
            if a.compactsTiles {
                let totals = a.squareColumns > 0 ? a.totalsWidthBefore8 : a.totalsWidthBefore8 - 1
                guard region.count >= totals else { return false }
                words += region.prefix(totals)
                if a.squareColumns == 0 { words.append(0) }
                var p = region.startIndex + totals
                while p < region.endIndex {
                    let count = TileWord.count(region[p])
                    let width = count == 1 ? a.tileStride - a.squareColumns : a.tileStride
                    guard count > 0, p + width <= region.endIndex else { return false }
                    words[start + a.totalsWidthBefore8 - 1] = UInt64(words.count - start)
                    if count == 1, let compact = CompactTile.make(Double(bitPattern: region[p + 1]), tile: TileWord.index(region[p])) {
                        words.append(compact)
                    } else {
                        words += region[p..<(p + width)]
                    }
                    p += width
                }
            } else {
                guard region.count % 2 == 0 else { return false }
                for e in stride(from: region.startIndex, to: region.endIndex, by: 2) {
                    let tile = Int64(bitPattern: region[e])
                    if let compact = ExtremumEntry.compact(Double(bitPattern: region[e + 1]), tile: tile) {
                        words.append(compact)
                    } else {
                        words += [ExtremumEntry.tileWord(tile), region[e + 1], ExtremumEntry.tileWord(tile)]
                    }
                }
            }
            return true
        }
    }

    /// An entity's words in version 3, its regions in creation order, with
    /// the regions in the plan's order; `nil` if inconsistent.
    static func reorder(_ old: UnsafeBufferPointer<UInt64>, creationOrder: [Int]) -> [UInt64]? {
        let k = creationOrder.count
        let header = EntityWords.headerWords(regions: k)
        guard old.count >= header else { return nil }
        var starts: [Int] = []
        var lengths: [Int] = []
        var offset = header
        for c in 0..<k {
            // The whole 32-bit field: a version-3 region is never a table.
            let length = Int(truncatingIfNeeded: (old[c >> 1] >> EntityWords.lengthShift(c)) & 0xFFFF_FFFF)
            starts.append(offset)
            lengths.append(length)
            offset &+= length
        }
        guard offset == old.count else { return nil }
        var words = [UInt64](repeating: 0, count: header)
        words.reserveCapacity(old.count)
        for (n, c) in creationOrder.enumerated() {
            EntityWords.setRegionLength(lengths[c], region: n, in: &words)
            words += old[starts[c]..<(starts[c] + lengths[c])]
        }
        return words
    }

    /// An entity's words in version 2 (one word per region length, two words
    /// per distinct value, every tile with its sums of squares) rewritten in
    /// version 3; `nil` if inconsistent.
    static func convertFromVersion2(_ old: UnsafeBufferPointer<UInt64>, aggregators: [Aggregator]) -> [UInt64]? {
        let k = aggregators.count
        guard old.count >= k, old[0..<k].reduce(k, { $0 &+ Int(truncatingIfNeeded: $1) }) == old.count else { return nil }
        var words = [UInt64](repeating: 0, count: EntityWords.headerWords(regions: k))
        words.reserveCapacity(old.count)
        var from = k
        for (j, a) in aggregators.enumerated() {
            let length = Int(truncatingIfNeeded: old[j])
            var kept = length
            if case .distinct = a.kind, a.packsDistinct {
                guard length % 2 == 0 else { return nil }
                for e in stride(from: from, to: from + length, by: 2) { words.append(DistinctEntry.make(hash: old[e + 1], tile: Int64(bitPattern: old[e]))) }
                kept = length / 2
            } else if case .tiles(let columns) = a.kind, a.squareColumns > 0 {
                // Totals gain the newest tile's position; one-event tiles lose
                // their sums of squares.
                let totals = a.totalsWidthBefore8 - 1
                let stride = a.tileStride
                guard length >= totals, (length - totals) % stride == 0 else { return nil }
                let start = words.count
                words += old[from..<(from + totals)]
                words.append(0)
                for tile in Swift.stride(from: from + totals, to: from + length, by: stride) {
                    words[start + totals] = UInt64(words.count - start)
                    guard TileWord.count(old[tile]) == 1 else {
                        words += old[tile..<(tile + stride)]
                        continue
                    }
                    words.append(old[tile])
                    var value = tile + 1
                    for column in columns {
                        if column.counted {
                            words.append(old[value])
                            value += 1
                        }
                        words.append(old[value])
                        value += column.squares ? 2 : 1
                    }
                }
                kept = words.count - start
            } else {
                words += old[from..<(from + length)]
            }
            EntityWords.setRegionLength(kept, region: j, in: &words)
            from += length
        }
        return words
    }
}

/// Counts and sizes of a checkpoint, for inspection.
public struct CheckpointSummary: Sendable, Equatable {
    /// Format version.
    public var version: UInt32
    /// File size in bytes.
    public var bytes: Int
    /// The stored (and verified) CRC-32C.
    public var checksum: UInt32
    /// The partition's stream time (epoch ms; `Int64.min`: none).
    public var streamTime: Int64
    /// Counters at the time of the snapshot: events applied, late events, entity expiries.
    public var appliedEvents: UInt64
    public var lateEvents: UInt64
    public var expiredEntities: UInt64
    /// Entities per kind, in ``CheckpointMetadata/entityKinds`` order.
    public var entityCounts: [Int]
    /// Total state words.
    public var stateWords: Int
}

struct ByteWriter {
    var buffer: [UInt8]

    init(capacity: Int) {
        buffer = []
        buffer.reserveCapacity(capacity)
    }

    mutating func bytes<S: Sequence>(_ s: S) where S.Element == UInt8 { buffer.append(contentsOf: s) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func string(_ s: String) {
        u32(UInt32(s.utf8.count))
        buffer.append(contentsOf: s.utf8)
    }
    mutating func words(_ w: UnsafeBufferPointer<UInt64>) {
        // Little-endian hosts only (x86-64, arm64): the words are copied as they are.
        buffer.append(contentsOf: UnsafeRawBufferPointer(w))
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var offset: Int
    var end: Int

    init(bytes: [UInt8], offset: Int) {
        self.bytes = bytes
        self.offset = offset
        end = bytes.count
    }

    mutating func take(_ n: Int) throws(CheckpointError) -> Range<Int> {
        guard n >= 0, end - offset >= n else { throw .truncated }
        defer { offset += n }
        return offset..<(offset + n)
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type) throws(CheckpointError) -> T {
        let range = try take(MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: range.lowerBound, as: T.self)) }
    }

    mutating func u16() throws(CheckpointError) -> UInt16 { try load(UInt16.self) }
    mutating func u32() throws(CheckpointError) -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws(CheckpointError) -> UInt64 { try load(UInt64.self) }
    mutating func i64() throws(CheckpointError) -> Int64 { Int64(bitPattern: try load(UInt64.self)) }
    mutating func skip(_ n: Int) throws(CheckpointError) { _ = try take(n) }

    mutating func string() throws(CheckpointError) -> String {
        let n = Int(try u32())
        return try string(length: n)
    }

    mutating func string(length n: Int) throws(CheckpointError) -> String {
        let range = try take(n)
        return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

}

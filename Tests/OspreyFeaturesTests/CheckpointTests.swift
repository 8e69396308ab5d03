import Foundation
import Testing
@testable import OspreyFeatures

@Suite("Checkpoints")
struct CheckpointTests {
    func metadata(_ plan: FeaturePlan, offset: Int64, at time: Int64 = 1) -> CheckpointMetadata {
        CheckpointMetadata(topic: "payments", partition: 3, nextOffset: offset, createdAt: time, specFingerprint: plan.fingerprint, entityKinds: plan.entityKindNames)
    }

    @Test("restore then replay gives the features of an uninterrupted run")
    func restoreAndReplay() throws {
        let plan = try FeatureFixtures.plan()
        let lines = try FeatureFixtures.lines()
        var full = PartitionState(plan: plan)
        let expected = FeatureFixtures.stream(lines, plan: plan, state: &full)

        let store = CheckpointStore(directory: FeatureFixtures.temporaryDirectory(), keep: 2)
        var first = PartitionState(plan: plan)
        let cut = 3_100
        var vectors = FeatureFixtures.stream(Array(lines[..<cut]), plan: plan, state: &first)
        try store.write(first, metadata: metadata(plan, offset: Int64(cut)))

        let restored = store.restoreLatest(topic: "payments", partition: 3, plan: plan)
        #expect(restored.rejected.isEmpty)
        let (meta, state, _) = try #require(restored.restored)
        #expect(meta.nextOffset == Int64(cut))
        #expect(state == first)
        var resumed = state
        vectors += FeatureFixtures.stream(Array(lines[cut...]), plan: plan, state: &resumed)
        #expect(vectors.count == expected.count)
        for (a, b) in zip(vectors, expected) {
            #expect(a.id == b.id && a.vector == b.vector || a.vector.values.elementsEqual(b.vector.values) { $0.bitPattern == $1.bitPattern })
        }
        #expect(resumed == full)
    }

    @Test("a corrupt newest checkpoint is reported by name and the previous one is used")
    func corruptCheckpointFallsBack() throws {
        let plan = try FeatureFixtures.plan()
        let lines = try FeatureFixtures.lines()
        let store = CheckpointStore(directory: FeatureFixtures.temporaryDirectory(), keep: 3)
        var state = PartitionState(plan: plan)
        _ = FeatureFixtures.stream(Array(lines[..<1000]), plan: plan, state: &state)
        try store.write(state, metadata: metadata(plan, offset: 1000, at: 10))
        let good = state
        _ = FeatureFixtures.stream(Array(lines[1000..<2000]), plan: plan, state: &state)
        let (newest, _) = try store.write(state, metadata: metadata(plan, offset: 2000, at: 20))

        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: newest)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: newest))

        let result = store.restoreLatest(topic: "payments", partition: 3, plan: plan)
        #expect(result.rejected.count == 1)
        #expect(result.rejected.first?.path == newest)
        if case .checksumMismatch = result.rejected.first?.error {} else { Issue.record("expected a checksum mismatch, got \(String(describing: result.rejected.first?.error))") }
        #expect(result.restored?.0.nextOffset == 1000)
        #expect(result.restored?.1 == good)
    }

    @Test("a checkpoint from another feature spec is refused with both fingerprints")
    func otherSpecIsRefused() throws {
        let plan = try FeatureFixtures.plan()
        var state = PartitionState(plan: plan)
        _ = FeatureFixtures.stream(Array(try FeatureFixtures.lines()[..<200]), plan: plan, state: &state)
        let bytes = CheckpointCodec.encode(state, metadata: metadata(plan, offset: 200))
        let other = try FeatureFixtures.plan(FeatureFixtures.repository.appendingPathComponent("Deploy/examples/payments/osprey.yaml").path)
        #expect(throws: CheckpointError.specMismatch(checkpoint: plan.fingerprint, current: other.fingerprint)) {
            _ = try CheckpointCodec.decode(bytes, plan: other)
        }
        #expect(throws: CheckpointError.truncated) { _ = try CheckpointCodec.decode(Array(bytes[..<5]), plan: plan) }
        #expect(throws: CheckpointError.notACheckpoint) { _ = try CheckpointCodec.decode(Array("not a checkpoint at all".utf8), plan: plan) }
        var cut = Array(bytes.dropLast(9))
        cut += bytes.suffix(4)
        #expect(throws: (any Error).self) { _ = try CheckpointCodec.decode(cut, plan: plan) }
    }

    @Test("only the last N checkpoints are kept, per partition folder")
    func keepsLastN() throws {
        let plan = try FeatureFixtures.plan()
        let directory = FeatureFixtures.temporaryDirectory()
        let store = CheckpointStore(directory: directory, keep: 2)
        let state = PartitionState(plan: plan)
        for i in 1...5 { try store.write(state, metadata: metadata(plan, offset: Int64(i * 10), at: Int64(i))) }
        let files = store.checkpointFiles(in: store.folder(topic: "payments", partition: 3))
        #expect(files.count == 2)
        #expect(files.last?.hasSuffix("0000000000000000050.osck") == true)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: store.folder(topic: "payments", partition: 3)).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test("a version-2 checkpoint is read and converted: its state equals this build's for the same events")
    func readsVersion2() throws {
        // checkpoint-v2.bin: the fixture stream's state, written by the
        // version-2 codec (commit 8822724) with nextOffset 6000. It holds an
        // exact 1 h distinct window (two words per value in both versions) and
        // a 1 d / 1 h one (one word per value from version 3).
        let plan = try FeatureFixtures.plan()
        let path = FeatureFixtures.referenceDirectory.appendingPathComponent("checkpoint-v2.bin").path
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let (meta, restored, summary) = try CheckpointCodec.decode(bytes, plan: plan)
        #expect(summary.version == 2)
        #expect(meta.nextOffset == 6_000)
        var state = PartitionState(plan: plan)
        _ = FeatureFixtures.stream(try FeatureFixtures.lines(), plan: plan, state: &state)
        let converted = try #require(restored)
        #expect(converted.entityCount == 85)
        #expect(converted == Self.unpaired(state, plan: plan))
        let rewritten = try CheckpointCodec.decode(CheckpointCodec.encode(converted, metadata: meta), plan: plan)
        #expect(rewritten.2.version == CheckpointCodec.version)
        #expect(rewritten.1 == converted)
    }

    /// An entity's words with each region replaced by what `rewrite` makes of
    /// it (lengths two to a word, 31 bits each, a `distinct` table's top bit kept).
    static func regions(of words: [UInt64], kind: EntityKind, _ rewrite: (Aggregator, [UInt64]) -> [UInt64]) -> [UInt64] {
        let header = EntityWords.headerWords(regions: kind.aggregators.count)
        var out = [UInt64](repeating: 0, count: header)
        var offset = header
        for (j, a) in kind.aggregators.enumerated() {
            let field = (words[j >> 1] >> UInt64(32 * (j & 1))) & 0xFFFF_FFFF
            let length = Int(field & 0x7FFF_FFFF)
            let converted = rewrite(a, Array(words[offset..<(offset + length)]))
            offset += length
            out[j >> 1] |= (UInt64(converted.count) | (field & 0x8000_0000)) << UInt64(32 * (j & 1))
            out += converted
        }
        return out
    }

    /// An entity's words with each pair of compact tiles written as the two
    /// compact tiles it holds (as versions 5 and before kept them). Written
    /// from the layout's description: bit 19 marks a pair; without it, the
    /// other 63 bits hold the older tile modulo 2^T, the distance to the
    /// newer one in T - 1 bits, and the two values in 32 - T bits each
    /// (hundredths, or thousandths when the low bit is 1), T being the
    /// smallest number from 5 up with 2^(T - 1) at least the window's tiles.
    ///
    /// With `extremumOnly`, only the pairs of `min`/`max` queue entries (as
    /// versions 8 and before kept them, each a one-word entry): bit 0 and bit
    /// 63 clear and bit 62 set mark such a pair; bits 1 to 61 hold the older
    /// entry's tile modulo 2^T, the distance (T - 1 bits) and the two values
    /// in 31 - T bits each, for windows of at most 4,096 tiles.
    static func unpairedWords(_ words: [UInt64], clock: Int64, kind: EntityKind, extremumOnly: Bool = false) -> [UInt64] {
        regions(of: words, kind: kind) { a, region in
            var converted = region
            func value(_ half: UInt64) -> Double { half & 1 == 0 ? Double(half >> 1) / 100 : Double(half >> 1) / 1000 }
            if a.packsExtremum && a.tileCount <= 4_096 {
                var t: UInt64 = 5
                while (Int64(1) << (t - 1)) < a.tileCount { t += 1 }
                let clockTile = clock >= 0 ? clock / a.step : (clock - a.step + 1) / a.step
                // One-word entries: thousandths above 20 bits of tile and a low 1.
                func entry(_ v: Double, _ tile: Int64) -> UInt64 {
                    UInt64(bitPattern: Int64((v * 1000).rounded()) << 21) | (UInt64(bitPattern: tile) & 0xFFFFF) << 1 | 1
                }
                converted = []
                var p = 0
                while p < region.count {
                    let word = region[p]
                    if word & (1 << 63 | 1 << 62 | 1) == 1 << 62 {
                        let payload = (word >> 1) & ((1 << 61) - 1)
                        let older = clockTile - Int64((UInt64(bitPattern: clockTile) &- payload) & ((1 << t) - 1))
                        let newer = older + Int64((payload >> t) & ((1 << (t - 1)) - 1))
                        converted.append(entry(value((payload >> (2 * t - 1)) & ((1 << (31 - t)) - 1)), older))
                        converted.append(entry(value(payload >> (t + 30)), newer))
                        p += 1
                    } else {
                        let width = word & 1 == 1 ? 1 : 3
                        converted += region[p..<(p + width)]
                        p += width
                    }
                }
            }
            if a.compactsTiles && !extremumOnly {
                var t: UInt64 = 5
                while (Int64(1) << (t - 1)) < a.tileCount { t += 1 }
                let clockTile = clock >= 0 ? clock / a.step : (clock - a.step + 1) / a.step
                let totals = a.totalsWidth
                // The count word: the count above 24 bits of the newest tile's position.
                let newest = Int(region[0] & 0xFF_FFFF)
                converted = Array(region[0..<totals])
                var p = totals
                while p < region.count {
                    let word = region[p]
                    if word & 0xFFFFF != 0 && word & (1 << 19) != 0 {
                        let payload = (word >> 20) << 19 | (word & 0x7FFFF)
                        let older = clockTile - Int64((UInt64(bitPattern: clockTile) &- payload) & ((1 << t) - 1))
                        let newer = older + Int64((payload >> t) & ((1 << (t - 1)) - 1))
                        func compact(_ v: Double, _ tile: Int64) -> UInt64 {
                            UInt64(bitPattern: Int64((v * 1000).rounded()) << 33) | (UInt64(bitPattern: tile) & 0x1FFF) << 20
                        }
                        converted.append(compact(value((payload >> (2 * t - 1)) & ((1 << (32 - t)) - 1)), older))
                        converted.append(compact(value(payload >> (t + 31)), newer))
                        if p == newest { converted[0] = converted[0] & ~0xFF_FFFF | UInt64(converted.count - 1) }
                        p += 1
                    } else {
                        let width = word & 0xFFFFF == 0 ? 1 : word & 0xFFFFF == 1 ? a.tileStride - a.squareColumns : a.tileStride
                        if p == newest { converted[0] = converted[0] & ~0xFF_FFFF | UInt64(converted.count) }
                        converted += region[p..<(p + width)]
                        p += width
                    }
                }
            }
            return converted
        }
    }

    /// An entity's words as version 7 kept them: in tile regions that keep
    /// where their newest tile starts, the count a double and the position
    /// a word after the sums (in version 8, the count's high 40 bits and the
    /// position's low 24 share the first word).
    static func version7Words(_ words: [UInt64], kind: EntityKind) -> [UInt64] {
        regions(of: words, kind: kind) { a, region in
            guard a.keepsNewestTile else { return region }
            let totals = a.totalsWidth
            let position = region[0] & 0xFF_FFFF
            let count = Double(region[0] >> 24)
            return [count.bitPattern] + region[1..<totals] + [position == 0 ? 0 : position + 1] + region[totals...]
        }
    }

    /// `state` with every pair of compact tiles written as two compact tiles
    /// (``unpairedWords(_:clock:kind:)``): what a restore of a checkpoint of
    /// version 5 or before gives; with `extremumOnly`, of versions 6 to 8.
    static func unpaired(_ state: PartitionState, plan: FeaturePlan, extremumOnly: Bool = false) -> PartitionState {
        var result = state
        for (k, kind) in plan.kinds.enumerated() {
            var table = EntityTable()
            state.tables[k].forEach { key, entity in
                let words = unpairedWords(entity.words, clock: entity.clock, kind: kind, extremumOnly: extremumOnly)
                var key = key
                key.withUTF8 { key in words.withUnsafeBufferPointer { table.insertRestored(key, clock: entity.clock, words: $0) } }
            }
            result.tables[k] = table
        }
        return result
    }

    /// An entity's words in version 7 as version 4 kept them: a total in every tile
    /// region, also one that only counts, every tile in a tile word
    /// (a compact tile becomes a tile word of count 1 and its sum), a
    /// newest-tile word only in tile regions with sums of squares, and
    /// (tile, value) pairs in min/max queues. Written from the layout's
    /// description, not with the codec's converter.
    static func version4Words(_ words: [UInt64], clock: Int64, kind: EntityKind) -> [UInt64] {
        regions(of: words, kind: kind) { a, region in
            var converted = region
            let clockTile = a.step == 0 ? 0 : clock >= 0 ? clock / a.step : (clock - a.step + 1) / a.step
            if a.packsExtremum {
                // One word (low bit 1: thousandths above 20 bits of tile) or
                // three (tile << 1, value, tile << 1).
                converted = []
                var p = 0
                while p < region.count {
                    if region[p] & 1 == 1 {
                        let tile = clockTile - Int64((UInt64(bitPattern: clockTile) &- (region[p] >> 1)) & 0xFFFFF)
                        converted += [UInt64(bitPattern: tile), (Double(Int64(bitPattern: region[p]) >> 21) / 1000).bitPattern]
                        p += 1
                    } else {
                        converted += [UInt64(bitPattern: Int64(bitPattern: region[p]) >> 1), region[p + 1]]
                        p += 3
                    }
                }
            }
            if a.countsOnly && region.count < 2 {
                // The total (a double) before the tile words, also of none or one.
                converted = [(region.first.map { Double($0 & 0xFFFFF) } ?? 0).bitPattern] + region
            }
            if a.compactsTiles {
                let squares = a.squareColumns > 0
                let totals = a.totalsWidthBefore8
                converted = Array(region[0..<(squares ? totals : totals - 1)])
                var p = totals
                while p < region.count {
                    let word = region[p]
                    if word & 0xFFFFF == 0 {
                        // A compact tile: thousandths in the top 31 bits, the
                        // tile's low 13 bits below them.
                        let value = Double(Int64(bitPattern: word) >> 33) / 1000
                        let tile = clockTile - Int64((UInt64(bitPattern: clockTile) &- (word >> 20)) & 0x1FFF)
                        if squares { converted[totals - 1] = UInt64(converted.count) }
                        converted += [UInt64(bitPattern: tile << 20) | 1, value.bitPattern]
                        p += 1
                    } else {
                        let width = word & 0xFFFFF == 1 ? a.tileStride - a.squareColumns : a.tileStride
                        if squares { converted[totals - 1] = UInt64(converted.count) }
                        converted += region[p..<(p + width)]
                        p += width
                    }
                }
            }
            return converted
        }
    }

    /// `state` as a checkpoint of format `version` (7, 4 or 3) would hold it.
    static func legacyCheckpoint(_ state: PartitionState, plan: FeaturePlan, version: UInt8, metadata: CheckpointMetadata) -> [UInt8] {
        var old = state
        for (k, kind) in plan.kinds.enumerated() {
            var table = EntityTable()
            state.tables[k].forEach { key, entity in
                var words = version7Words(unpairedWords(entity.words, clock: entity.clock, kind: kind, extremumOnly: version == 7), kind: kind)
                if version <= 4 { words = version4Words(words, clock: entity.clock, kind: kind) }
                if version == 3 {
                    // Region n of version 4 is region creationOrder[n] of version 3.
                    let count = kind.aggregators.count
                    let header = EntityWords.headerWords(regions: count)
                    var regions: [ArraySlice<UInt64>] = []
                    var offset = header
                    for n in 0..<count {
                        let length = Int((words[n >> 1] >> UInt64(32 * (n & 1))) & 0xFFFF_FFFF)
                        regions.append(words[offset..<(offset + length)])
                        offset += length
                    }
                    var reordered = [UInt64](repeating: 0, count: header)
                    for c in 0..<count {
                        let region = regions[kind.creationOrder.firstIndex(of: c)!]
                        reordered[c >> 1] |= UInt64(region.count) << UInt64(32 * (c & 1))
                        reordered += region
                    }
                    words = reordered
                }
                var key = key
                key.withUTF8 { key in words.withUnsafeBufferPointer { table.insertRestored(key, clock: entity.clock, words: $0) } }
            }
            old.tables[k] = table
        }
        var bytes = CheckpointCodec.encode(old, metadata: metadata)
        bytes.replaceSubrange(8..<12, with: [version, 0, 0, 0])
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 4)])) }
        bytes.replaceSubrange((bytes.count - 4)..., with: withUnsafeBytes(of: crc.littleEndian, Array.init))
        return bytes
    }

    @Test("the version follows the 8-byte magic")
    func versionAfterMagic() throws {
        let plan = try FeatureFixtures.plan()
        let bytes = CheckpointCodec.encode(PartitionState(plan: plan), metadata: metadata(plan, offset: 0))
        #expect(bytes[8..<12].elementsEqual([UInt8(CheckpointCodec.version), 0, 0, 0]))
        #expect(CheckpointCodec.version == 9)
    }

    @Test("a version-4 checkpoint, every tile in a tile word and min/max entries in pairs, is read into this build's compact forms",
          arguments: ["events.jsonl", "odd-amounts/events.jsonl"])
    func readsVersion4(events: String) throws {
        // The fixture's card kind has tile regions that compact with sums of
        // squares (24 h mean and stddev) and without (10 min sum), and min/max
        // queues packed (1 h at 1 min) and not (1 h exact); its merchant kind
        // a tile region of an optional field (tip), which never compacts.
        // odd-amounts adds values that take the wide forms.
        let plan = try FeatureFixtures.plan()
        #expect(plan.kinds.contains { $0.aggregators.contains { $0.compactsTiles && $0.squareColumns > 0 } })
        #expect(plan.kinds.contains { $0.aggregators.contains { $0.compactsTiles && $0.squareColumns == 0 } })
        #expect(plan.kinds.contains { $0.aggregators.contains(where: \.packsExtremum) })
        #expect(plan.kinds.contains { $0.aggregators.contains { if case .extremum = $0.kind { return !$0.packsExtremum }; return false } })
        var state = PartitionState(plan: plan)
        _ = FeatureFixtures.stream(try FeatureFixtures.lines(FeatureFixtures.referenceDirectory.appendingPathComponent(events).path), plan: plan, state: &state)
        let bytes = Self.legacyCheckpoint(state, plan: plan, version: 4, metadata: metadata(plan, offset: 6_000))
        let (_, restored, summary) = try CheckpointCodec.decode(bytes, plan: plan)
        #expect(summary.version == 4)
        #expect(summary.stateWords > state.tables.reduce(0) { $0 + $1.wordCount }, "version 4 takes more words")
        #expect(restored == Self.unpaired(state, plan: plan))
    }

    @Test("a version-5 tile word of 2^19 events or more, which would read as a pair, is split on restore")
    func readsVersion5LargeTiles() throws {
        // A count and a sum over one window share a region of compact tiles.
        // Version 5 counted up to 2^20 - 1 events in one tile word; the
        // checkpoint claims that many in the first tile (sum 6) and one in
        // the second (sum 4).
        let yaml = FeatureFixtures.config(
            """
                  - {name: n, entity: card_id, aggregation: count, window: 10m, resolution: 1s}
                  - {name: s, entity: card_id, aggregation: sum, field: amount, window: 10m, resolution: 1s}
            """,
            extra: "    entity_ttl: 30d\n    allowed_lateness: 1h\n")
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: yaml, baseDirectory: "."))
        #expect(plan.kinds[0].aggregators.count == 1 && plan.kinds[0].aggregators[0].compactsTiles)
        func line(_ i: Int, _ t: Int64, _ amount: Double) -> [UInt8] {
            Array(#"{"event_id":"e\#(i)","event_time":\#(1_000_000 + t),"card_id":"c","amount":\#(amount)}"#.utf8)
        }
        var state = PartitionState(plan: plan)
        _ = FeatureFixtures.stream([line(0, 0, 1), line(1, 1, 2), line(2, 2, 3), line(3, 60_000, -4)], plan: plan, state: &state)
        let entity = try #require(state.tables[0].entity("c"))
        let header = EntityWords.headerWords(regions: 1)
        // Version 5 kept the count as a double, the newest tile's position after the sums.
        let totals = plan.kinds[0].aggregators[0].totalsWidth
        var words = Self.version7Words(entity.words, kind: plan.kinds[0])
        let many: UInt64 = (1 << 20) - 1
        #expect(TileWord.count(words[header + totals + 1]) == 3)
        words[header + totals + 1] += many - 3
        words[header] = (Double(bitPattern: words[header]) + Double(many - 3)).bitPattern
        var table = EntityTable()
        "c".utf8.withContiguousStorageIfAvailable { key in words.withUnsafeBufferPointer { table.insertRestored(key, clock: entity.clock, words: $0) } }
        var old = state
        old.tables[0] = table
        var bytes = CheckpointCodec.encode(old, metadata: metadata(plan, offset: 4))
        bytes.replaceSubrange(8..<12, with: [5, 0, 0, 0])
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 4)])) }
        bytes.replaceSubrange((bytes.count - 4)..., with: withUnsafeBytes(of: crc.littleEndian, Array.init))

        let (_, restored, summary) = try CheckpointCodec.decode(bytes, plan: plan)
        #expect(summary.version == 5)
        let split = try #require(restored?.tables[0].entity("c")?.words)
        // Tile words of 2^19 - 1, 2^19 - 1 and 1 events (the tile's sum in the
        // first, 0 in the others), then the compact tile of -4.
        let tiles = Array(split[(header + totals)...])
        let cap = TilePair.maximumTileCount
        #expect(tiles.count == 2 + 2 + 2 + 1)
        #expect([tiles[0], tiles[2], tiles[4]].map(TileWord.count) == [cap, cap, 1])
        #expect([tiles[1], tiles[3], tiles[5]].map { Double(bitPattern: $0) } == [6, 0, 0])
        #expect(Set([tiles[0], tiles[2], tiles[4]].map(TileWord.index)).count == 1)
        #expect(CompactTile.isCompact(tiles[6]))
        #expect(split[header] == UInt64(many + 1) << 24 | UInt64(totals + 6), "the count of events, and the newest tile is the compact one")

        // Both tiles count; an event in the first tile joins its last word;
        // once the window has passed the first tile, only the others remain.
        var next = try #require(restored)
        let values = FeatureFixtures.stream([line(4, 3, 5), line(5, 600_500, 7)], plan: plan, state: &next).map(\.vector.values)
        #expect(values[0] == [Double(many) + 2, 6 + 5 - 4])
        #expect(values[1] == [2, 3])
    }

    @Test("a version-7 checkpoint, the count and the newest tile's position in two words, restores to the same state",
          arguments: ["events.jsonl", "odd-amounts/events.jsonl"])
    func readsVersion7(events: String) throws {
        let plan = try FeatureFixtures.plan()
        var state = PartitionState(plan: plan)
        _ = FeatureFixtures.stream(try FeatureFixtures.lines(FeatureFixtures.referenceDirectory.appendingPathComponent(events).path), plan: plan, state: &state)
        let bytes = Self.legacyCheckpoint(state, plan: plan, version: 7, metadata: metadata(plan, offset: 6_000))
        let (_, restored, summary) = try CheckpointCodec.decode(bytes, plan: plan)
        #expect(summary.version == 7)
        #expect(summary.stateWords > state.tables.reduce(0) { $0 + $1.wordCount })
        #expect(restored == Self.unpaired(state, plan: plan, extremumOnly: true))
    }

    @Test("a version-3 checkpoint, its regions in feature order, is read into this build's order")
    func readsVersion3() throws {
        // Version 3 is version 4 without distinct tables and with each
        // entity's regions in the order the features created them; version 4
        // puts distinct regions first. The fixture's card kind has two.
        let plan = try FeatureFixtures.plan()
        #expect(plan.kinds.contains { $0.creationOrder != Array($0.creationOrder.indices) })
        var state = PartitionState(plan: plan)
        _ = FeatureFixtures.stream(try FeatureFixtures.lines(), plan: plan, state: &state)
        let bytes = Self.legacyCheckpoint(state, plan: plan, version: 3, metadata: metadata(plan, offset: 6_000))
        let (_, restored, summary) = try CheckpointCodec.decode(bytes, plan: plan)
        #expect(summary.version == 3)
        #expect(restored == Self.unpaired(state, plan: plan))
    }
}

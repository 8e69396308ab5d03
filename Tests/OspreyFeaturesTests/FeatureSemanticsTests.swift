import Foundation
import Testing
@testable import OspreyFeatures

/// The feature values against an independent brute-force implementation of the
/// README's semantics (Tests/Fixtures/features/reference_features.py): every
/// aggregation, window type, filters, late and very late events, expiry after
/// idleness, missing optional fields and invalid events in the stream.
@Suite("Feature semantics")
struct FeatureSemanticsTests {
    @Test("backfill equals the independent reference on every value")
    func backfillMatchesReference() throws {
        let report = try expectReferenceValues(events: FeatureFixtures.referenceEvents, expected: FeatureFixtures.referenceExpected)
        #expect(report.lateEvents > 20, "the fixture must contain late events")
        #expect(report.rejected.count > 20, "the fixture must contain invalid events")
    }

    @Test("amounts that a compact tile cannot hold (more decimals, too large) give the reference's values too")
    func oddAmountsMatchReference() throws {
        // odd-amounts/: the same generator and config with 30% of amounts
        // replaced (`--odd-amounts 0.3 --events 2000 --seed 11`).
        let directory = FeatureFixtures.referenceDirectory.appendingPathComponent("odd-amounts")
        let events = directory.appendingPathComponent("events.jsonl").path
        try expectReferenceValues(events: events, expected: directory.appendingPathComponent("expected.csv").path)

        // The card kind's tiles then come in both forms.
        let plan = try FeatureFixtures.plan()
        var state = PartitionState(plan: plan)
        var compact = 0, paired = 0, wide = 0
        let lines = try FeatureFixtures.lines(events)
        for chunk in stride(from: 0, to: lines.count, by: 50) {
            _ = FeatureFixtures.stream(Array(lines[chunk..<Swift.min(chunk + 50, lines.count)]), plan: plan, state: &state)
            let kind = plan.kinds[0]
            state.tables[0].forEach { _, entity in
                var offset = EntityWords.headerWords(regions: kind.aggregators.count)
                for (j, a) in kind.aggregators.enumerated() {
                    let length = Int((entity.words[j >> 1] >> UInt64(32 * (j & 1))) & 0x7FFF_FFFF)
                    if a.compactsTiles {
                        var p = offset + a.totalsWidth
                        while p < offset + length {
                            let word = entity.words[p]
                            let pair = TilePair.isPair(word) && !CompactTile.isCompact(word)
                            if CompactTile.isCompact(word) { compact += 1 } else if pair { paired += 2 } else if TileWord.count(word) == 1 { wide += 1 }
                            p += TileWord.count(word) == 0 || pair ? 1 : TileWord.count(word) == 1 ? a.tileStride - a.squareColumns : a.tileStride
                        }
                    }
                    offset += length
                }
            }
        }
        #expect(compact > 1_000 && paired > 1_000 && wide > 300, "\(compact) compact, \(paired) paired and \(wide) wide one-event tiles")
    }

    /// Runs `events` through backfill and compares every value with `expected`.
    @discardableResult
    func expectReferenceValues(events: String, expected expectedPath: String) throws -> Backfill.Report {
        let plan = try FeatureFixtures.plan()
        let output = FeatureFixtures.temporaryDirectory() + "/features.csv"
        let report = try Backfill.run(
            engine: FeatureEngine(plan: plan), eventsPath: events, outputPath: output,
            options: .init(eventType: 0, withMetadata: true))
        let expected = try FeatureFixtures.csv(expectedPath)
        let actual = try FeatureFixtures.csv(output)
        #expect(actual.first == expected.first)
        #expect(actual.count == expected.count)
        let header = expected[0]
        var mismatches: [String] = []
        for (e, a) in zip(expected.dropFirst(), actual.dropFirst()) {
            #expect(e[0] == a[0])
            for i in 1..<header.count {
                let x = e[i].isEmpty ? Double.nan : Double(e[i])!
                let y = a[i].isEmpty ? Double.nan : Double(a[i])!
                if x.isNaN && y.isNaN { continue }
                // Sums differ from the reference's exactly rounded fsum by
                // rounding only; everything else is exact.
                if x.isNaN != y.isNaN || abs(x - y) > 1e-9 * Swift.max(1, abs(x)) {
                    mismatches.append("\(e[0]) \(header[i]): expected \(e[i]), got \(a[i])")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(5))")
        return report
    }

    @Test("the daemon's path and backfill give identical vectors, bit for bit")
    func streamEqualsBackfill() throws {
        let plan = try FeatureFixtures.plan()
        var state = PartitionState(plan: plan)
        let streamed = FeatureFixtures.stream(try FeatureFixtures.lines(), plan: plan, state: &state)
        let output = FeatureFixtures.temporaryDirectory() + "/features.csv"
        _ = try Backfill.run(engine: FeatureEngine(plan: plan), eventsPath: FeatureFixtures.referenceEvents, outputPath: output, options: .init(eventType: 0))
        let rows = try FeatureFixtures.csv(output).dropFirst()
        #expect(rows.count == streamed.count)
        for (row, (id, vector)) in zip(rows, streamed) {
            #expect(row[0] == id)
            let parsed = row.dropFirst().map { $0.isEmpty ? Double.nan : Double($0)! }
            let same = zip(parsed, vector.values).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
            #expect(same, "event \(id)")
        }
    }

    @Test("processing with lookahead (keys hashed once, state asked for events ahead) gives the same vectors and state")
    func lookaheadChangesNothing() throws {
        let plan = try FeatureFixtures.plan()
        let engine = FeatureEngine(plan: plan)
        let decoder = plan.decoder(forEventType: 0)
        var events: [DecodedEvent] = []
        var event = decoder.makeEvent()
        for line in try FeatureFixtures.lines() {
            do { try decoder.decode(line, into: &event) } catch { continue }
            events.append(event)
        }
        #expect(events.contains { $0.strings[decoder.index(ofField: "device_id")!] == nil }, "the fixture must have events without one of their keys")

        var plain = PartitionState(plan: plan)
        let expected = FeatureFixtures.stream(try FeatureFixtures.lines(), plan: plan, state: &plain)

        var state = PartitionState(plan: plan)
        var vector = engine.makeVector(eventType: 0)
        let stride = plan.keysPerEvent
        var keys = [UInt64](repeating: 0, count: events.count * stride)
        keys.withUnsafeMutableBufferPointer { keys in
            let keys = keys.baseAddress!
            for i in events.indices { engine.hashKeys(of: &events[i], eventType: 0, into: keys + i * stride) }
            for i in events.indices {
                let id = events[i].id
                if i + FeatureEngine.slotLookahead < events.count {
                    engine.prefetch(keys: keys + (i + FeatureEngine.slotLookahead) * stride, eventType: 0, state: &state, stage: .slots)
                }
                if i + FeatureEngine.blockLookahead < events.count {
                    engine.prefetch(keys: keys + (i + FeatureEngine.blockLookahead) * stride, eventType: 0, state: &state, stage: .blocks)
                }
                engine.process(&events[i], eventType: 0, keys: keys + i * stride, state: &state, into: &vector)
                #expect(vector.values.elementsEqual(expected[i].vector.values) { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "event \(id)")
                #expect(vector.late == expected[i].vector.late && vector.lag == expected[i].vector.lag)
            }
        }
        #expect(state == plain)
    }

    @Test("preview reads the features of processing without changing state")
    func previewMatchesProcessing() throws {
        let plan = try FeatureFixtures.plan()
        let engine = FeatureEngine(plan: plan)
        let decoder = plan.decoder(forEventType: 0)
        var state = PartitionState(plan: plan)
        var event = decoder.makeEvent()
        var previewed = engine.makeVector(eventType: 0)
        var processed = engine.makeVector(eventType: 0)
        for line in try FeatureFixtures.lines().prefix(1500) {
            do { try decoder.decode(line, into: &event) } catch { continue }
            let before = state
            engine.preview(event, eventType: 0, state: state, into: &previewed)
            #expect(state == before)
            engine.process(event, eventType: 0, state: &state, into: &processed)
            #expect(previewed.values.elementsEqual(processed.values) { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) })
            #expect(previewed.late == processed.late && previewed.lag == processed.lag)
        }
    }

    @Test("sweeping idle entities frees memory and never changes a value")
    func sweepingDoesNotChangeValues() throws {
        let plan = try FeatureFixtures.plan()
        let engine = FeatureEngine(plan: plan)
        let decoder = plan.decoder(forEventType: 0)
        var swept = PartitionState(plan: plan)
        var kept = PartitionState(plan: plan)
        var event = decoder.makeEvent()
        var a = engine.makeVector(eventType: 0)
        var b = engine.makeVector(eventType: 0)
        var removed = 0
        for line in try FeatureFixtures.lines() {
            do { try decoder.decode(line, into: &event) } catch { continue }
            engine.process(event, eventType: 0, state: &swept, into: &a)
            engine.process(event, eventType: 0, state: &kept, into: &b)
            for shard in 0..<EntityTable.shardCount { removed += swept.sweep(shard: shard, plan: plan) }
            #expect(a.values.elementsEqual(b.values) { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) })
        }
        #expect(removed > 0, "the fixture's three idle days must expire entities")
        #expect(swept.entityCount < kept.entityCount)
    }

    @Test("a sliding window at 1 ms resolution holds exactly the events in (t - size, t]")
    func exactSlidingWindow() throws {
        let yaml = FeatureFixtures.config("""
                  - {name: n, entity: card_id, aggregation: count, window: 10s, resolution: exact}
                  - {name: s, entity: card_id, aggregation: sum, field: amount, window: 10s, resolution: exact}
            """)
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: yaml, baseDirectory: "."))
        var state = PartitionState(plan: plan)
        let times: [Int64] = [0, 5_000, 9_999, 10_000, 10_001, 20_001]
        let lines = times.enumerated().map { i, t in Array(#"{"event_id":"e\#(i)","event_time":\#(1_000_000 + t),"card_id":"c","amount":\#(i + 1)}"#.utf8) }
        let counts = FeatureFixtures.stream(lines, plan: plan, state: &state).map { $0.vector.values }
        // At t=10000 the event at 0 has left; at 10001 so has nothing else; 20001 is alone.
        #expect(counts.map { $0[0] } == [1, 2, 3, 3, 4, 1])
        #expect(counts.map { $0[1] } == [1, 3, 6, 9, 14, 6])
    }

    @Test("one-word distinct entries stay exact across an idle gap longer than their 20-bit tile counter")
    func packedDistinctAcrossLongGaps() throws {
        // 10 s at 1 ms is 10,000 tiles: one word per value, the tile kept
        // modulo 2^20. The entity lives for 30 days, so a gap of 2^20 + 3 ms
        // would bring an old tile back into the window if ages were taken
        // modulo 2^20 without the whole-window rule.
        let yaml = FeatureFixtures.config(
            "      - {name: d, entity: card_id, aggregation: distinct_count, field: merchant, window: 10s, resolution: exact}",
            fields: "      event_id: string\n      event_time: timestamp\n      card_id: string\n      merchant: string\n",
            extra: "    entity_ttl: 30d\n")
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: yaml, baseDirectory: "."))
        #expect(plan.kinds[0].program.compiled[0].packed)
        var state = PartitionState(plan: plan)
        let gap: Int64 = (1 << 20) + 3
        let events: [(Int64, String)] = [
            (0, "A"), (5_000, "B"), (9_999, "A"),
            (9_999 + gap, "C"), (9_999 + gap + 4_000, "A"), (9_999 + gap + 9_999, "C"), (9_999 + gap + 14_000, "B"),
        ]
        let lines = events.enumerated().map { i, e in
            Array(#"{"event_id":"e\#(i)","event_time":\#(1_000_000 + e.0),"card_id":"c","merchant":"\#(e.1)"}"#.utf8)
        }
        let counts = FeatureFixtures.stream(lines, plan: plan, state: &state).map { $0.vector.values[0] }
        #expect(counts == [1, 2, 2, 1, 2, 2, 2])
    }

    @Test("tiles of one event keep no sums of squares, and stddev stays exact through late events that widen them or split pairs",
          arguments: [false, true], [700, 4_000])
    func singleEventTilesUnderDisorder(oddAmounts: Bool, spacing: UInt64) throws {
        // 10 tiles of 1 s; events up to 8 s late land in older tiles, often
        // in one holding a single event (which must then gain its sum of
        // squares) or between two tiles. Checked against a brute force over
        // the events each window holds. Amounts in cents make compact tiles;
        // with `oddAmounts` a quarter have a fourth decimal and an eighth are
        // negative (compact, but never paired), so all forms mix. Events up
        // to 4 s apart leave most tiles with one event, mostly paired, and
        // late ones then split pairs.
        let yaml = FeatureFixtures.config(
            """
                  - {name: n, entity: card_id, aggregation: count, window: 10s, resolution: 1s}
                  - {name: m, entity: card_id, aggregation: mean, field: amount, window: 10s, resolution: 1s}
                  - {name: s, entity: card_id, aggregation: stddev, field: amount, window: 10s, resolution: 1s}
            """,
            extra: "    allowed_lateness: 1h\n")
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: yaml, baseDirectory: "."))
        var random = LateStream(seed: 7)
        let stream = random.events(3_000, spacing: spacing) { next in
            (Double(next(100_000)) / 100 + (oddAmounts && next(4) == 0 ? 0.0001 : 0)) * (oddAmounts && next(8) == 0 ? -1 : 1)
        }
        var state = PartitionState(plan: plan)
        let vectors = FeatureFixtures.stream(stream.lines, plan: plan, state: &state).map(\.vector.values)
        var mismatches = 0
        for (i, held) in stream.windows().enumerated() {
            let n = Double(held.count)
            let mean = held.reduce(0, +) / n
            let variance = max(0, held.reduce(0) { $0 + $1 * $1 } / n - mean * mean)
            let got = vectors[i]
            if got[0] != n || abs(got[1] - mean) > 1e-9 * max(1, abs(mean)) || abs(got[2] - variance.squareRoot()) > 1e-6 * max(1, variance.squareRoot()) {
                mismatches += 1
            }
        }
        #expect(mismatches == 0)
        // Never more than full tiles; with sparse events, most tiles hold one
        // event, so the state is smaller.
        let words = try #require(state.tables[0].entity("c")?.words.count)
        let fullWords = plan.kinds[0].program.headerWords + plan.kinds[0].program.compiled[0].totalsWidth + 10 * plan.kinds[0].program.compiled[0].tileStride
        #expect(words <= fullWords)
        if spacing > 1_000 {
            #expect(words < fullWords)
            let entity = try #require(state.tables[0].entity("c"))
            let tiles = entity.words[(plan.kinds[0].program.headerWords + plan.kinds[0].program.compiled[0].totalsWidth)...]
            #expect(tiles.contains { !CompactTile.isCompact($0) && TilePair.isPair($0) }, "sparse events make pairs")
        }
    }

    @Test("compact tiles and pairs of them stay exact across an idle gap longer than their tile counter",
          arguments: [(gapTiles: Int64(1 << 13) + 3, sign: -1.0), (gapTiles: Int64(1 << 11) + 3, sign: 1.0)])
    func compactTilesAcrossLongGaps(gapTiles: Int64, sign: Double) throws {
        // 10 min at 1 s is 600 tiles. A negative one-event tile is a compact
        // word holding its tile index modulo 2^13; two positive ones share a
        // word holding the older index modulo 2^11 (T = 11 for 600 tiles). A
        // gap of 2^13 + 3 s (2^11 + 3 s) would bring the old tiles back into
        // the window (as ages 3 and 8) if ages were taken modulo 2^13 (2^11)
        // without the whole-window rule.
        let gap = gapTiles * 1_000
        let (sums, plan, state) = try Self.oneFeature(
            "{name: s, entity: card_id, aggregation: sum, field: amount, window: 10m, resolution: 1s}",
            events: [(0, sign * 1), (5_000, sign * 2), (5_000 + gap, sign * 4), (5_000 + gap + 4_000, sign * 8), (5_000 + gap + 600_000, sign * 16)])
        #expect(plan.kinds[0].program.compiled[0].compact)
        #expect(plan.kinds[0].program.compiled[0].pairTileBits == 11)
        #expect(sums == [1, 3, 4, 12, 24].map { sign * $0 })
        #expect(state.tables[0].entity("c")?.words.count == EntityWords.headerWords(regions: 1) + plan.kinds[0].aggregators[0].totalsWidth + (sign > 0 ? 1 : 2),
                sign > 0 ? "two one-event tiles in one word" : "two compact tiles of one word each")
    }

    @Test("a window that only counts keeps its total only with two tiles or more, and counts exactly through late events")
    func countOnlyWindows() throws {
        // Windows of 2 and 10 tiles of 1 s over events up to 3 s apart, a
        // quarter of them up to 8 s late: the regions go from no tile to one
        // and to several and back, against a brute force.
        let yaml = FeatureFixtures.config(
            """
                  - {name: short, entity: card_id, aggregation: count, window: 2s, resolution: 1s}
                  - {name: long, entity: card_id, aggregation: count, window: 10s, resolution: 1s}
            """,
            extra: "    allowed_lateness: 1h\n")
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: yaml, baseDirectory: "."))
        #expect(plan.kinds[0].aggregators.allSatisfy { $0.countsOnly })
        var random = LateStream(seed: 11)
        let stream = random.events(3_000, spacing: 3_000) { _ in 1 }
        var state = PartitionState(plan: plan)
        var lengths: [Int: Int] = [:]  // the short window's region lengths seen
        var vectors: [[Double]] = []
        for line in stream.lines {
            vectors += FeatureFixtures.stream([line], plan: plan, state: &state).map(\.vector.values)
            let words = try #require(state.tables[0].entity("c")?.words)
            lengths[Int(words[0] & 0x7FFF_FFFF), default: 0] += 1
        }
        let short = stream.windows(tiles: 2).map { Double($0.count) }
        let long = stream.windows(tiles: 10).map { Double($0.count) }
        #expect(vectors.map { $0[0] } == short)
        #expect(vectors.map { $0[1] } == long)
        // One tile is one word, two are a total and two tile words.
        #expect(Set(lengths.keys).isSubset(of: [0, 1, 3]) && lengths[1, default: 0] > 1_000 && lengths[3, default: 0] > 100, "\(lengths)")

        // An empty window reads 0 and takes no words.
        let empty = EntityState(aggregators: plan.kinds[0].aggregators)
        #expect(empty.words == [0])

        // Events the filter leaves out move the clock without adding a tile:
        // the window can drop to one tile, and its total goes with the others.
        let filtered = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: FeatureFixtures.config(
            "      - {name: web, entity: card_id, aggregation: count, window: 2s, resolution: 1s, where: {channel: web}}",
            fields: "      event_id: string\n      event_time: timestamp\n      card_id: string\n      channel: string\n"), baseDirectory: "."))
        var filteredState = PartitionState(plan: filtered)
        var lengthsAfter: [UInt64] = []
        var counts: [Double] = []
        for (i, (t, channel)) in [(0, "web"), (1_000, "web"), (2_500, "app"), (3_500, "app")].enumerated() {
            let line = Array(#"{"event_id":"e\#(i)","event_time":\#(1_000_000 + t),"card_id":"c","channel":"\#(channel)"}"#.utf8)
            counts += FeatureFixtures.stream([line], plan: filtered, state: &filteredState).map { $0.vector.values[0] }
            lengthsAfter.append(try #require(filteredState.tables[0].entity("c")?.words[0]))
        }
        #expect(counts == [1, 2, 1, 0])
        #expect(lengthsAfter == [1, 3, 1, 0])
    }

    @Test("a late event between the two tiles of the newest pair keeps the tiles in order")
    func lateEventInsideNewestPair() throws {
        // 10 s of 1 s tiles. Tiles 0 and 5 share a word and are the newest;
        // an event in tile 2 splits them and goes between (negative, so it
        // pairs with neither), so tile 5 is still the newest; an event in
        // tile 3 then goes between 2 and 5, not after 5, or the window of
        // tile 13 would not let it go.
        let yaml = FeatureFixtures.config(
            "      - {name: s, entity: card_id, aggregation: sum, field: amount, window: 10s, resolution: 1s}",
            extra: "    allowed_lateness: 1h\n")
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: yaml, baseDirectory: "."))
        let events: [(Int64, Double)] = [(0, 1), (5_000, 2), (2_000, -4), (3_000, 8), (12_500, 16), (13_500, 32)]
        let lines = events.enumerated().map { i, e in
            Array(#"{"event_id":"e\#(i)","event_time":\#(1_000_000 + e.0),"card_id":"c","amount":\#(e.1)}"#.utf8)
        }
        var state = PartitionState(plan: plan)
        let sums = FeatureFixtures.stream(lines, plan: plan, state: &state).map { $0.vector.values[0] }
        #expect(sums == [1, 3, -1, 7, 26, 50])
    }

    @Test("min and max queues of one- and three-word entries, and pairs of them, stay exact through late events",
          arguments: [false, true], [700, 3_000])
    func extremumQueuesUnderDisorder(oddValues: Bool, spacing: UInt64) throws {
        // 10 tiles of 1 s, events up to 8 s late, checked against a brute
        // force over the events each window holds. With `oddValues` a third
        // of the values take three words, so both widths mix in the queues.
        // Non-negative values of neighbouring one-word entries share a word;
        // late events split such pairs, and eviction halves them.
        let yaml = FeatureFixtures.config(
            """
                  - {name: hi, entity: card_id, aggregation: max, field: amount, window: 10s, resolution: 1s}
                  - {name: lo, entity: card_id, aggregation: min, field: amount, window: 10s, resolution: 1s}
            """,
            extra: "    allowed_lateness: 1h\n")
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: yaml, baseDirectory: "."))
        #expect(plan.kinds[0].program.compiled[0].packed && plan.kinds[0].program.compiled[1].packed)
        var random = LateStream(seed: 11)
        let stream = random.events(4_000) { next in
            let value = Double(Int64(next(2_000)) - 1_000) / 10
            guard oddValues && next(3) == 0 else { return value }
            return next(2) == 0 ? value + 0.0001 : value * 1e12
        }
        var state = PartitionState(plan: plan)
        var vectors: [[Double]] = []
        var paired = 0  // events after which a queue holds a pair
        for line in stream.lines {
            vectors += FeatureFixtures.stream([line], plan: plan, state: &state).map(\.vector.values)
            let words = try #require(state.tables[0].entity("c")?.words)
            var p = plan.kinds[0].program.headerWords
            let end = p + Int(words[0] & 0x7FFF_FFFF) + Int((words[0] >> 32) & 0x7FFF_FFFF)
            var pair = false
            while p < end {
                pair = pair || ExtremumPair.isPair(words[p])
                p += ExtremumEntry.width(words[p])
            }
            if pair { paired += 1 }
        }
        var mismatches = 0
        for (i, held) in stream.windows().enumerated() where vectors[i][0] != held.max()! || vectors[i][1] != held.min()! {
            mismatches += 1
        }
        #expect(mismatches == 0)
        #expect(paired > 100, "\(paired) events left a pair in a queue")
    }

    @Test("one-word min/max entries stay exact across an idle gap longer than their 20-bit tile counter")
    func packedExtremumAcrossLongGaps() throws {
        // 10 s at 1 ms is 10,000 tiles: one-word entries with the tile modulo
        // 2^20. A gap of 2^20 + 3 ms would bring the old maximum back.
        let gap: Int64 = (1 << 20) + 3
        let (maxima, plan, state) = try Self.oneFeature(
            "{name: hi, entity: card_id, aggregation: max, field: amount, window: 10s, resolution: exact}",
            events: [(0, 9), (9_999, 5), (9_999 + gap, 1), (9_999 + gap + 9_999, 2), (9_999 + gap + 20_000, 0.5)])
        #expect(plan.kinds[0].program.compiled[0].packed)
        #expect(maxima == [9, 9, 1, 2, 0.5])
        #expect(state.tables[0].entity("c")?.words.count == EntityWords.headerWords(regions: 1) + 1, "one one-word entry")
    }

    /// The values of `feature` (a YAML flow mapping) for card "c"'s events
    /// of (ms after a base time, amount), with entities kept for 30 days;
    /// also the plan and the state afterwards.
    static func oneFeature(_ feature: String, events: [(Int64, Double)]) throws -> ([Double], FeaturePlan, PartitionState) {
        let yaml = FeatureFixtures.config("      - \(feature)", extra: "    entity_ttl: 30d\n")
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: yaml, baseDirectory: "."))
        var state = PartitionState(plan: plan)
        let lines = events.enumerated().map { i, e in
            Array(#"{"event_id":"e\#(i)","event_time":\#(1_000_000 + e.0),"card_id":"c","amount":\#(e.1)}"#.utf8)
        }
        let values = FeatureFixtures.stream(lines, plan: plan, state: &state).map { $0.vector.values[0] }
        return (values, plan, state)
    }

    @Test("a compact tile holds exactly the values its thousandths give back")
    func compactTileValues() throws {
        var random: UInt64 = 3
        for i in 0..<20_000 {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Half within ±1,073,741.82, half beyond.
            let cents = Int64(bitPattern: random) % 200_000_000
            // Parsed from text, as the decoder does: the nearest double to the decimal.
            let text = "\(cents < 0 ? "-" : "")\(abs(cents) / 100).\(String(abs(cents) % 100 + 100).dropFirst())"
            let value = Double(text)!
            let tile = Int64(i) * 7_919 - 50_000_000
            let word = CompactTile.make(value, tile: tile)
            if abs(cents) <= 107_374_182 {
                let w = try #require(word, "\(text)")
                #expect(CompactTile.isCompact(w))
                #expect(CompactTile.value(w).bitPattern == (value + 0).bitPattern, "\(text)")
                #expect(CompactTile.index(w, clockTile: tile) == tile)
                #expect(CompactTile.index(w, clockTile: tile + 8_191) == tile)
            } else {
                #expect(word == nil, "\(text)")
            }
        }
        #expect(CompactTile.make(1_073_741.823, tile: 0) != nil)
        #expect(CompactTile.make(-1_073_741.823, tile: 0) != nil)
        for refused in [1_073_741.824, 12.3456, 0.1 + 0.2, 1e-9, .nan, .infinity, -.infinity, Double.ulpOfOne] {
            #expect(CompactTile.make(refused, tile: 0) == nil, "\(refused)")
        }
        // -0.0 reads back as +0.0, which is what a wide tile's sum holds (0 + -0.0).
        #expect(CompactTile.make(-0.0, tile: 0).map { CompactTile.value($0).bitPattern } == (0.0).bitPattern)
    }

    @Test("a pair of one-event tiles holds exactly the values and tiles it was made of")
    func tilePairValues() throws {
        // T = 8 (windows of 65 to 128 tiles): halves of 24 bits, so amounts
        // in cents up to 83,886.07 and in thousandths up to 8,388.607.
        let t = TilePair.tileBits(tileCount: 96)
        #expect(t == 8)
        #expect(TilePair.tileBits(tileCount: 1) == 5 && TilePair.tileBits(tileCount: 16) == 5 && TilePair.tileBits(tileCount: 17) == 6)
        #expect(TilePair.tileBits(tileCount: CompactTile.maximumTiles) == 13)
        var random: UInt64 = 5
        for i in 0..<20_000 {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Thousandths below 10^8: within the limits for cents, beyond them for thousandths.
            let thousandths = Int64(random >> 20) % 100_000_000
            let decimals = random & 1 == 0 ? 2 : 3
            let scaled = decimals == 2 ? thousandths / 10 : thousandths
            let unit: Int64 = decimals == 2 ? 100 : 1000
            let text = "\(scaled / unit).\(String(scaled % unit + unit).dropFirst())"
            let value = Double(text)!
            // Whole hundredths below 2^23, or else thousandths below 2^23.
            let cents = decimals == 2 || scaled % 10 == 0
            let fits = cents ? (decimals == 2 ? scaled : scaled / 10) < 1 << 23 : scaled < 1 << 23
            let made = TilePair.half(value, bits: 32 - t)
            #expect((made != nil) == fits, "\(text)")
            guard let half = made else { continue }
            let older = TilePair.half(Double(i % 1000) / 100, bits: 32 - t)!
            let tile = Int64(i) * 7_919 - 50_000_000
            let distance = Int64(i % 127) + 1
            let pair = TilePair.make(older: older, newer: half, tile: tile, distance: distance, tileBits: t)
            #expect(TilePair.isPair(pair) && !CompactTile.isCompact(pair))
            #expect(TilePair.newerValue(pair, tileBits: t).bitPattern == value.bitPattern, "\(text)")
            #expect(TilePair.olderValue(pair, tileBits: t).bitPattern == (Double(i % 1000) / 100).bitPattern)
            #expect(TilePair.distance(pair, tileBits: t) == distance)
            #expect(TilePair.olderTile(pair, clockTile: tile + distance, tileBits: t) == tile)
            #expect(TilePair.olderTile(pair, clockTile: tile + 255, tileBits: t) == tile)
        }
        #expect(TilePair.half(83_886.07, bits: 24) != nil && TilePair.half(8_388.607, bits: 24) != nil)
        for refused in [83_886.08, 8_388.609, -0.01, -1, 12.3456, 0.1 + 0.2, .nan, .infinity] {
            #expect(TilePair.half(refused, bits: 24) == nil, "\(refused)")
        }
        #expect(TilePair.half(-0.0, bits: 24).map { TilePair.value(half: $0).bitPattern } == (0.0).bitPattern)
    }
}

/// A card's events about 0.35 s apart, a quarter of them up to 8 s late, with
/// a seeded generator: the disorder tests' stream, and what a window of 10
/// tiles of 1 s holds at each event, by brute force.
struct LateStream {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    /// A number below `n`.
    mutating func next(_ n: UInt64) -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (state >> 33) % n
    }

    /// `count` events whose amounts `value` draws (it is given `next`), less
    /// than `spacing` ms apart.
    mutating func events(_ count: Int, spacing: UInt64 = 700, value: (_ next: (UInt64) -> UInt64) -> Double) -> Events {
        var events = Events()
        var clock: Int64 = 0
        for i in 0..<count {
            clock += Int64(next(spacing))
            let t = clock - Int64(next(4) == 0 ? next(8_000) : 0)
            let amount = value { next($0) }
            events.times.append(t)
            events.values.append(amount)
            events.lines.append(Array(#"{"event_id":"e\#(i)","event_time":\#(1_000_000_000 + t),"card_id":"c","amount":\#(amount)}"#.utf8))
        }
        return events
    }

    struct Events {
        var lines: [[UInt8]] = []
        var times: [Int64] = []
        var values: [Double] = []

        /// For each event, the amounts its 10 s window of 1 s tiles holds
        /// once it is applied: tiles after the newest time seen minus 10.
        func windows(tiles: Int64 = 10) -> [[Double]] {
            var held: [(tile: Int64, value: Double)] = []
            var seen = Int64.min
            return times.indices.map { i in
                seen = max(seen, times[i])
                let newest = (1_000_000_000 + seen) / 1_000
                let tile = (1_000_000_000 + times[i]) / 1_000
                if tile > newest - tiles { held.append((tile, values[i])) }
                held.removeAll { $0.tile <= newest - tiles }
                return held.map(\.value)
            }
        }
    }
}

import Foundation
import Testing
import OspreyRandom
@testable import OspreyFeatures

/// `distinct_count` past ``DistinctTable/listLimit`` values, where the list
/// becomes a hash table, against a brute-force count of the README's rule:
/// the values of the entity's applied events whose tile is among the
/// window's `tileCount` tiles ending at the tile of the entity's clock.
@Suite("Distinct values in a hash table")
struct DistinctTableTests {
    struct Event {
        var time: Int64
        var card: Int
        var merchant: Int
    }

    /// Streams `events` through the engine (with a checkpoint round trip at
    /// `checkpointAt`) and checks every value against the brute force.
    /// Returns the largest expected count seen in each window.
    func check(_ events: [Event], windows: [(name: String, size: Int64, resolution: Int64, text: String)], lateness: Int64,
               checkpointAt: Int? = nil) throws -> [Int] {
        let features = windows.map { "      - {name: \($0.name), entity: card_id, aggregation: distinct_count, field: merchant, \($0.text)}" }.joined(separator: "\n")
        let yaml = FeatureFixtures.config(features,
            fields: "      event_id: string\n      event_time: timestamp\n      card_id: string\n      merchant: string\n",
            extra: "    allowed_lateness: \(lateness)ms\n    entity_ttl: 30d\n")
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: yaml, baseDirectory: "."))
        #expect(plan.kinds[0].program.compiled.map(\.packed) == windows.map { $0.size / $0.resolution <= DistinctEntry.maximumPackedTiles })
        let lines = events.enumerated().map { i, e in
            Array(#"{"event_id":"e\#(i)","event_time":\#(e.time),"card_id":"c\#(e.card)","merchant":"m\#(e.merchant)"}"#.utf8)
        }
        var state = PartitionState(plan: plan)
        var vectors: [FeatureVector] = []
        if let cut = checkpointAt {
            vectors = FeatureFixtures.stream(Array(lines[..<cut]), plan: plan, state: &state).map(\.vector)
            let metadata = CheckpointMetadata(topic: "t", partition: 0, nextOffset: Int64(cut), createdAt: 1,
                                              specFingerprint: plan.fingerprint, entityKinds: plan.entityKindNames)
            let (_, restored, _) = try CheckpointCodec.decode(CheckpointCodec.encode(state, metadata: metadata), plan: plan)
            state = try #require(restored)
            vectors += FeatureFixtures.stream(Array(lines[cut...]), plan: plan, state: &state).map(\.vector)
        } else {
            vectors = FeatureFixtures.stream(lines, plan: plan, state: &state).map(\.vector)
        }
        #expect(vectors.count == events.count)

        // The brute force: every applied event of every card, kept in full.
        var applied: [Int: [Event]] = [:]
        var clocks: [Int: Int64] = [:]
        var streamTime = Int64.min
        var largest = [Int](repeating: 0, count: windows.count)
        var mismatches: [String] = []
        for (i, e) in events.enumerated() {
            let late = streamTime != .min && e.time < streamTime - lateness
            if !late {
                streamTime = max(streamTime, e.time)
                applied[e.card, default: []].append(e)
                clocks[e.card] = max(clocks[e.card] ?? .min, e.time)
            }
            for (w, window) in windows.enumerated() {
                var expected = 0
                if let clock = clocks[e.card] {
                    let tiles = window.size / window.resolution
                    let clockTile = tileIndex(clock, window.resolution)
                    let values = Set(applied[e.card, default: []].filter { tileIndex($0.time, window.resolution) > clockTile - tiles }.map(\.merchant))
                    expected = values.count
                }
                largest[w] = max(largest[w], expected)
                if vectors[i].values[w] != Double(expected) && mismatches.count < 5 {
                    mismatches.append("event \(i) (t=\(e.time), card \(e.card)) \(window.name): expected \(expected), got \(vectors[i].values[w])")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
        return largest
    }

    @Test("lists of one- and two-word entries become tables and go back to lists, through disorder, late events, idle gaps and a checkpoint")
    func mixedStream() throws {
        var random = SplitMix64(seed: 7)
        var events: [Event] = []
        var time: Int64 = 1_800_000_000_000
        for phase in 0..<40 {
            // Wide phases (hundreds of merchants) make tables; narrow ones let
            // them drain; some phases end in a gap longer than every window.
            let pool = phase % 3 == 0 ? 8 : 400
            for _ in 0..<Int(random.next() % 400 + 100) {
                time += Int64(random.next() % 1_500)
                var t = time
                if random.next() % 10 == 0 { t -= Int64(random.next() % 25_000) }  // out of order; beyond 20 s is late
                events.append(Event(time: t, card: Int(random.next() % 3), merchant: Int(random.next() % UInt64(pool))))
            }
            if phase % 5 == 4 { time += 11 * 60_000 }
        }
        // The exact 10-minute window has 600,000 tiles: two-word entries.
        let windows = [("d1m", Int64(60_000), Int64(1_000), "window: 1m, resolution: 1s"),
                       ("d10m", Int64(600_000), Int64(10_000), "window: 10m, resolution: 10s"),
                       ("d10m_exact", Int64(600_000), Int64(1), "window: 10m, resolution: exact")]
        let largest = try check(events, windows: windows, lateness: 20_000, checkpointAt: events.count / 2)
        #expect(largest.allSatisfy { $0 > DistinctTable.listLimit }, "every window must hold more values than a list keeps: \(largest)")
    }

    @Test("a table that stays busy for longer than 2^20 tiles is purged in time and stays exact")
    func purgedAcrossTheTileCounter() throws {
        // 10 s at 1 ms: 10,000 tiles. Forty values cycle through one card's
        // window for 2^20 + 5,000 ms, so its table (64 slots) neither empties
        // nor fills up enough to be rebuilt. Value 0, seen once at the start,
        // comes back when its tile, taken modulo 2^20, would look 5,000 tiles
        // old: only the purge every 2^19 tiles tells it apart from a value
        // still in the window.
        var random = SplitMix64(seed: 11)
        let start: Int64 = 1_800_000_000_000
        var events = [Event(time: start, card: 0, merchant: 0)]
        var time = start
        while time < start + (1 << 20) + 4_900 {
            time += Int64(random.next() % 100) + 1
            events.append(Event(time: time, card: 0, merchant: 1 + Int(random.next() % 40)))
        }
        events.append(Event(time: start + (1 << 20) + 5_000, card: 0, merchant: 0))
        let largest = try check(events, windows: [("d", 10_000, 1, "window: 10s, resolution: exact")], lateness: 0)
        #expect(largest == [41])
    }
}

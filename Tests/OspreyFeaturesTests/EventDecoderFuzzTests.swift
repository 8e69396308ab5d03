import Foundation
import OspreyJSON
import OspreyRandom
import Testing
@testable import OspreyFeatures

/// Seeded mutation fuzzing of the event decoder: whatever the bytes, it never
/// crashes, and it accepts only strict JSON that carries every required field
/// with its type. `OSPREY_FUZZ_ITERATIONS` and `OSPREY_FUZZ_SEED` run it longer
/// or elsewhere (e.g. `OSPREY_FUZZ_ITERATIONS=2000000 swift test --filter EventDecoderFuzz`);
/// `OSPREY_FUZZ_SECONDS` runs it for a time instead (Deploy/reliability/fuzz.sh).
@Suite("Event decoder fuzzing")
struct EventDecoderFuzzTests {
    static let fragments: [[UInt8]] = [
        "NaN", "Infinity", "-", "1e999", "-0", "0.0e-400", "\"", "\\u", "\\ud800", "{", "}", "[", "]", ",", ":", "null",
        "true", "\"event_id\":", "\"amount\":", "\"amount\":\"1\"", "\"event_time\":\"2026-02-30T00:00:00Z\"",
        "\"event_time\":1e20", "[[[[[[[[[[", String(repeating: "[", count: 80), " ", "\u{00e9}", "\u{1F600}",
    ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0x00], [0xF4, 0x90, 0x80, 0x80]]

    func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + rng.below(4)) {
            switch rng.below(6) {
            case 0 where !bytes.isEmpty: bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 1 where !bytes.isEmpty: bytes.removeSubrange(rng.below(bytes.count)...)
            case 2: bytes.insert(contentsOf: Self.fragments[rng.below(Self.fragments.count)], at: rng.below(bytes.count + 1))
            case 3 where bytes.count > 2:
                let a = rng.below(bytes.count), b = rng.below(bytes.count)
                bytes.removeSubrange(min(a, b)..<max(a, b))
            case 4 where !bytes.isEmpty:
                let i = rng.below(bytes.count)
                bytes.insert(bytes[i], at: i)
            default:
                bytes += Self.fragments[rng.below(Self.fragments.count)]
            }
        }
        return bytes
    }

    @Test("mutated events never crash the decoder; whatever it accepts is strict JSON with every required field")
    func mutations() throws {
        let environment = ProcessInfo.processInfo.environment
        let iterations = Int(environment["OSPREY_FUZZ_ITERATIONS"] ?? "") ?? 30_000
        var rng = SplitMix64(seed: UInt64(environment["OSPREY_FUZZ_SEED"] ?? "") ?? 20_261_123)
        let plan = try FeatureFixtures.plan()
        let decoder = plan.decoder(forEventType: 0)
        let engine = FeatureEngine(plan: plan)
        var state = PartitionState(plan: plan)
        var vector = engine.makeVector(eventType: 0)
        var event = decoder.makeEvent()
        let seeds = try FeatureFixtures.lines().prefix(200).map { $0 }
        var accepted = 0
        var reasons: [EventError.Reason: Int] = [:]
        let seconds = Double(environment["OSPREY_FUZZ_SECONDS"] ?? "")
        let started = Date()
        var i = 0
        while seconds.map({ i & 1023 != 0 || Date().timeIntervalSince(started) < $0 }) ?? (i < iterations) {
            defer { i += 1 }
            let input = mutate(seeds[i % seeds.count], &rng)
            do {
                try decoder.decode(input, into: &event)
                accepted += 1
                // Accepted bytes are valid JSON for an independent strict parser too.
                let value = try JSONReader.parse(input)
                for field in decoder.type.fields where field.required {
                    #expect(event.present[decoder.index(ofField: field.name)!], "required \(field.name) missing in an accepted event")
                    #expect(value[field.name] != nil && value[field.name] != .null)
                }
                #expect(abs(event.time) < Timestamp.limit)
                // And the engine takes whatever the decoder accepts.
                engine.process(event, eventType: 0, state: &state, into: &vector)
            } catch let error as EventError {
                reasons[error.reason, default: 0] += 1
            }
        }
        if seconds != nil {
            print("event decoder fuzzing: \(i) mutated events in \(Int(Date().timeIntervalSince(started))) s, \(accepted) accepted; refused by reason: \(reasons.map { "\($0.key.code) \($0.value)" }.sorted().joined(separator: ", "))")
        }
        #expect(accepted > 0)
        #expect(reasons.count >= 6, "the mutations should reach many kinds of error: \(reasons)")
    }
}

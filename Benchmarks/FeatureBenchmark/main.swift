// The feature engine's speed and size on the payments example: per-event update
// and read cost (with the daemon's lookahead and without it, from empty tables
// and on a second day over built ones), state bytes per card, checkpoint write
// and restore times, and the hot-path stall after a checkpoint snapshot.
// Prints figures; asserts nothing.
//
//   swift run -c release osprey-feature-bench [--events N] [--cards N] [--merchants N] [--span 24h]
//       [--checkpoint-entities N] [--config FILE] [--add-feature 'YAML FLOW MAPPING']
//
// --add-feature appends one feature to the first event type, e.g. distinct
// cards per merchant: '{name: m_cards_24h, entity: merchant_id,
// aggregation: distinct_count, field: card_id, window: 24h, resolution: 15m}'.
#if canImport(Glibc)
import Glibc
#endif
import OspreyFeatures
import OspreyRandom

func argument(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return fallback
}

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    _ = withUnsafeMutablePointer(to: &size) { s in withUnsafeMutablePointer(to: &resident) { r in
        withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) }
    } }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Payment events as JSON lines, ~1% up to 30 s late, spread evenly over
/// `span`; day `day` starts `day` spans after day 0 and has its own event ids
/// and random draws.
func payments(count: Int, cards: Int, merchants: Int, span: Int64, seed: UInt64, day: Int64 = 0) -> [[UInt8]] {
    var rng = SplitMix64(seed: seed &+ UInt64(day))
    let base: Int64 = 1_795_380_000_000 + day * span
    let channels = ["web", "app", "pos", "moto"]
    let countries = ["US", "US", "US", "FR", "DE"]
    var events: [[UInt8]] = []
    events.reserveCapacity(count)
    for i in 0..<count {
        var t = base + span * Int64(i) / Int64(count)
        if rng.below(100) == 0 { t -= Int64(rng.below(30_000)) }
        let card = rng.below(cards)
        let merchant = rng.below(merchants)
        let amount = Double(rng.below(50_000)) / 100
        let line = #"{"event_id":"e\#(day == 0 ? "" : String(day))-\#(i)","event_time":\#(t),"card_id":"c-\#(card)","merchant_id":"m-\#(merchant)","amount":\#(amount),"currency":"USD","country":"\#(countries[rng.below(5)])","mcc":\#(5000 + rng.below(40)),"channel":"\#(channels[rng.below(4)])","device_id":"d-\#(rng.below(1_000_000))","ip":"203.0.113.7"}"#
        events.append(Array(line.utf8))
    }
    return events
}

func figure(_ label: String, _ value: String) { print(label.padding(toLength: 46, withPad: " ", startingAt: 0) + value) }

func format(_ v: Double, _ digits: Int = 1) -> String {
    var s = String(Int((v * pow(10, Double(digits))).rounded()))
    while s.count <= digits { s = "0" + s }
    if digits > 0 { s.insert(".", at: s.index(s.endIndex, offsetBy: -digits)) }
    return s
}

// As `osprey run` does: large buffers come from mmap and go back to the
// system when freed, so RSS measures the state and not the heap's history.
@_silgen_name("mallopt") func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
_ = mallopt(-3 /* M_MMAP_THRESHOLD */, 256 * 1024)
@_silgen_name("malloc_trim") func malloc_trim(_ pad: Int) -> Int32

let configPath = argument("--config", "Deploy/examples/payments/osprey.yaml")
let eventCount = Int(argument("--events", "1000000"))!
let cardCount = Int(argument("--cards", "100000"))!
let merchantCount = Int(argument("--merchants", "20000"))!
let span = Duration.milliseconds(argument("--span", "24h"))!
let checkpointEntities = Int(argument("--checkpoint-entities", "1000000"))!

var yaml = String(decoding: try! readAll(configPath), as: UTF8.self)
let addedFeature = argument("--add-feature", "")
if !addedFeature.isEmpty {
    // At the end of the first features list, so the entity kinds keep their order.
    var lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard var end = lines.firstIndex(of: "    features:") else { fatalError("\(configPath) has no features list to add to") }
    end += 1
    while end < lines.count, lines[end].trimmingPrefix(while: { $0 == " " }).isEmpty || lines[end].hasPrefix("      ") { end += 1 }
    lines.insert("      - \(addedFeature)", at: end)
    yaml = lines.joined(separator: "\n")
}
func readAll(_ path: String) throws -> [UInt8] {
    guard let f = fopen(path, "rb") else { fatalError("cannot open \(path); run from the repository root or pass --config") }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        bytes += chunk[0..<n]
        if n < chunk.count { break }
    }
    return bytes
}
let directory = configPath.split(separator: "/").dropLast().joined(separator: "/")
let plan = FeaturePlan(spec: try! FeatureSpecLoader.load(yaml: yaml, baseDirectory: directory.isEmpty ? "." : directory))
let engine = FeatureEngine(plan: plan)
let decoder = plan.decoder(forEventType: 0)
let featureCount = plan.spec.eventTypes[0].features.count

print("osprey feature benchmark: \(configPath)\(addedFeature.isEmpty ? "" : " + \(addedFeature)"), \(featureCount) features")
print("stream: \(eventCount) events over \(cardCount) cards and \(merchantCount) merchants, \(Duration.text(span)) of event time, ~1% up to 30 s late")

let lines = payments(count: eventCount, cards: cardCount, merchants: merchantCount, span: span, seed: 42)

// Decode every event once, kept as decoded values, so the feature pass below
// measures the feature engine alone.
var decoded: [DecodedEvent] = []
decoded.reserveCapacity(eventCount)
var event = decoder.makeEvent()
func decodePass(_ lines: [[UInt8]]) -> Double {
    var event = decoder.makeEvent()
    var sum = 0.0
    let start = now()
    for line in lines {
        try! decoder.decode(line, into: &event)
        sum += event.numbers[4]
    }
    let ns = Double(now() - start) / Double(lines.count)
    return sum == 42 ? 0 : ns
}
let decodeNs = (0..<3).map { _ in decodePass(lines) }.sorted()[1]
for line in lines {
    try! decoder.decode(line, into: &event)
    decoded.append(event)
}

/// Processes `events` in order, as the daemon processes a poll batch: each
/// event's keys hashed once, and with lookahead its entities' slots and blocks
/// asked for some events ahead (see ``FeatureEngine/PrefetchStage``).
/// (`inout` only so that events are passed without copies.)
func run(_ events: inout [DecodedEvent], into state: inout PartitionState, lookahead: Bool) {
    var vector = engine.makeVector(eventType: 0)
    let stride = plan.keysPerEvent
    guard lookahead else {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: stride) { keys in
            for i in events.indices {
                engine.hashKeys(of: &events[i], eventType: 0, into: keys.baseAddress!)
                engine.process(&events[i], eventType: 0, keys: keys.baseAddress!, state: &state, into: &vector)
            }
        }
        return
    }
    let slotAhead = FeatureEngine.slotLookahead
    let blockAhead = FeatureEngine.blockLookahead
    let ring = slotAhead + 1
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ring * stride) { buffer in
        let base = buffer.baseAddress!
        events.withUnsafeMutableBufferPointer { events in
            let n = events.count
            func keys(_ i: Int) -> UnsafeMutablePointer<UInt64> { base + (i % ring) * stride }
            for i in 0..<min(slotAhead, n) { engine.hashKeys(of: &events[i], eventType: 0, into: keys(i)) }
            for i in 0..<n {
                if i + slotAhead < n {
                    engine.hashKeys(of: &events[i + slotAhead], eventType: 0, into: keys(i + slotAhead))
                    engine.prefetch(keys: keys(i + slotAhead), eventType: 0, state: &state, stage: .slots)
                }
                if i + blockAhead < n { engine.prefetch(keys: keys(i + blockAhead), eventType: 0, state: &state, stage: .blocks) }
                engine.process(&events[i], eventType: 0, keys: keys(i), state: &state, into: &vector)
            }
        }
    }
}

/// Processes every decoded event into a fresh state; returns ns/event.
/// (A function, not top-level code: top-level variables are globals, and
/// every access to a global pays for dynamic exclusivity checks.)
func featurePass(_ decoded: inout [DecodedEvent], into state: inout PartitionState, lookahead: Bool = true) -> Double {
    state = PartitionState(plan: plan)
    let start = now()
    run(&decoded, into: &state, lookahead: lookahead)
    return Double(now() - start) / Double(decoded.count)
}

func snapshotStall(_ decoded: ArraySlice<DecodedEvent>, state: inout PartitionState) -> (capture: UInt64, worst: UInt64, mean: Double, snapshot: PartitionState) {
    var vector = engine.makeVector(eventType: 0)
    var event = decoder.makeEvent()
    let captureStart = now()
    let snapshot = state
    let capture = now() - captureStart
    var worst: UInt64 = 0
    var total: UInt64 = 0
    for e in decoded {
        event = e
        let t0 = now()
        engine.process(event, eventType: 0, state: &state, into: &vector)
        let dt = now() - t0
        worst = max(worst, dt)
        total += dt
    }
    return (capture, worst, Double(total) / Double(decoded.count), snapshot)
}

let rssBefore = residentBytes()
var state = PartitionState(plan: plan)
var passNs: [Double] = []
var plainNs: [Double] = []
for _ in 0..<3 {
    plainNs.append(featurePass(&decoded, into: &state, lookahead: false))
    passNs.append(featurePass(&decoded, into: &state))
}
plainNs.sort()
// As `osprey run` does after every round of sweeps: give free heap pages back.
let trimStart = now()
_ = malloc_trim(0)
let trimNs = now() - trimStart
let rssAfter = residentBytes()
passNs.sort()

let cards = state.tables[0].count
let merchants = state.tables.count > 1 ? state.tables[1].count : 0
figure("decode (JSON bytes -> typed fields)", "\(format(decodeNs)) ns/event")
figure("update + read all features", "\(format(passNs[1])) ns/event (median of 3; min \(format(passNs[0])))")
figure("  without lookahead", "\(format(plainNs[1])) ns/event (median of 3; with lookahead \(format(passNs[1] / plainNs[1], 2))x)")
figure("  features per event", "\(featureCount) (\(format(passNs[1] / Double(featureCount))) ns/feature)")
figure("entities", "\(cards) cards, \(merchants) merchants")
figure("state estimate (all entities)", "\(state.approximateBytes / 1024) KiB")
var cardWords = 0
state.tables[0].forEach { _, e in cardWords += e.words.count }
figure("card state words", "\(format(Double(cardWords) / Double(max(cards, 1)))) words/card = \(format(Double(cardWords * 8) / Double(max(cards, 1)))) bytes of aggregates")
let cardMemory = state.tables[0].memory
figure("card table per card: blocks / free / index", "\(cardMemory.blocks / max(cards, 1)) / \(cardMemory.free / max(cards, 1)) / \(cardMemory.index / max(cards, 1)) B")
figure("bytes per card (estimate incl. table and key)", "\(format(Double(state.tables[0].approximateBytes) / Double(max(cards, 1)))) B")
figure("bytes per entity (RSS growth, all entities)", "\(format(Double(rssAfter - rssBefore) / Double(max(cards + merchants, 1)))) B  (RSS +\((rssAfter - rssBefore) >> 20) MiB; malloc_trim took \(format(Double(trimNs) / 1e6, 2)) ms)")

// Steady state. The passes above start from empty tables, so they also pay for
// creating every entity and for growing the arenas (page faults, copies); a
// daemon pays that once, on its first day. Here the tables are built with the
// day above (untimed), and the next day of the same cards and merchants is timed.
var nextDay: [DecodedEvent] = []
nextDay.reserveCapacity(eventCount)
for line in payments(count: eventCount, cards: cardCount, merchants: merchantCount, span: span, seed: 42, day: 1) {
    try! decoder.decode(line, into: &event)
    nextDay.append(event)
}
func steadyPass(warmUp: inout [DecodedEvent], _ timed: inout [DecodedEvent], into state: inout PartitionState) -> Double {
    _ = featurePass(&warmUp, into: &state)
    let start = now()
    run(&timed, into: &state, lookahead: true)
    return Double(now() - start) / Double(timed.count)
}
var steadyNs: [Double] = []
for _ in 0..<3 { steadyNs.append(steadyPass(warmUp: &decoded, &nextDay, into: &state)) }
steadyNs.sort()
var steadyWords = 0
state.tables[0].forEach { _, e in steadyWords += e.words.count }
let steadyCards = state.tables[0].count
figure("the next day, tables built", "\(format(steadyNs[1])) ns/event (median of 3; min \(format(steadyNs[0]))), \(steadyCards) cards")
figure("  card state words after it", "\(format(Double(steadyWords) / Double(max(steadyCards, 1)))) words/card")
let steadyMemory = state.tables[0].memory
figure("  card table per card: blocks / free / index", "\(steadyMemory.blocks / max(steadyCards, 1)) / \(steadyMemory.free / max(steadyCards, 1)) / \(steadyMemory.index / max(steadyCards, 1)) B")
figure("  bytes per card after it", "\(format(Double(state.tables[0].approximateBytes) / Double(max(steadyCards, 1)))) B")
nextDay = []

// Snapshot stall: capture the state as a checkpoint would, then time each of
// the next events; the first write to each shard copies that shard only.
// Fresh state up to 80% of the stream, then the snapshot, then the rest.
let cut = decoded.count * 4 / 5
var head = Array(decoded[..<cut])
_ = featurePass(&head, into: &state)
head = []
let stall = snapshotStall(decoded[cut...], state: &state)
figure("checkpoint snapshot capture", "\(format(Double(stall.capture) / 1000, 1)) µs")
figure("worst single event after the snapshot", "\(format(Double(stall.worst) / 1e6, 2)) ms (\(decoded.count - cut) events, mean \(format(stall.mean)) ns)")
var sink = Double(stall.snapshot.entityCount)

// Checkpoint of N entities: one event per card, written with fsync and restored.
if checkpointEntities > 0 {
    var big = PartitionState(plan: plan)
    var vector = engine.makeVector(eventType: 0)
    let bigLines = payments(count: checkpointEntities, cards: checkpointEntities * 4, merchants: merchantCount, span: span, seed: 7)
    var cardIds = 0
    for (i, line) in bigLines.enumerated() {
        try! decoder.decode(line, into: &event)
        event.strings[2] = "c-\(i)"  // a distinct card per event
        engine.process(event, eventType: 0, state: &big, into: &vector)
        cardIds += 1
    }
    let entities = big.entityCount
    let store = CheckpointStore(directory: "/tmp/osprey-feature-bench-\(getpid())", keep: 1)
    let meta = CheckpointMetadata(topic: "payments", partition: 0, nextOffset: Int64(checkpointEntities), createdAt: 1, specFingerprint: plan.fingerprint, entityKinds: plan.entityKindNames)
    let writeStart = now()
    let (path, bytes) = try! store.write(big, metadata: meta)
    let writeS = Double(now() - writeStart) / 1e9
    let readStart = now()
    let (_, restored) = try! CheckpointStore.read(path, plan: plan)
    let readS = Double(now() - readStart) / 1e9
    precondition(restored == big)
    figure("checkpoint write (\(entities) entities)", "\(format(writeS, 2)) s, \(bytes >> 20) MiB, fsync'd")
    figure("checkpoint restore (\(entities) entities)", "\(format(readS, 2)) s (read, checksum, rebuild tables)")
    unlink(path)
    rmdir("/tmp/osprey-feature-bench-\(getpid())/payments-0")
    rmdir("/tmp/osprey-feature-bench-\(getpid())")
}
if sink == 42 { print("") }

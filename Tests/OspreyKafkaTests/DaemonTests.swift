import Foundation
import OspreyJSON
import OspreyModel
import Testing

/// `osprey run` end to end on a real broker: the payments example, with late
/// and broken events, graceful stops and kill -9.
@Suite("osprey run", .enabled(if: TestBroker.enabled, "no broker: run Deploy/scripts/test.sh"), .serialized)
struct DaemonTests {
    struct Setup {
        var input: String
        var decisions: String
        var deadLetters: String
        var directory: URL
        var environment: [String: String]
        var log: URL { directory.appendingPathComponent("osprey.log") }
    }

    func setup(_ name: String, partitions: Int = 1) throws -> Setup {
        let input = try TestBroker.createTopic("\(name)-payments", partitions: partitions)
        let decisions = try TestBroker.createTopic("\(name)-decisions")
        let dlq = try TestBroker.createTopic("\(name)-dlq")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-daemon-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return Setup(input: input, decisions: decisions, deadLetters: dlq, directory: directory, environment: [
            "OSPREY_KAFKA_BOOTSTRAP": try TestBroker.address(),
            "OSPREY_GROUP_ID": "osprey-\(name)-\(UUID().uuidString.prefix(6))",
            "OSPREY_INPUT_TOPICS": input,
            "OSPREY_OUTPUT_TOPIC": decisions,
            "OSPREY_DLQ_TOPIC": dlq,
            "OSPREY_CHECKPOINT_DIR": directory.appendingPathComponent("checkpoints").path,
            "OSPREY_CHECKPOINT_INTERVAL": "1s",
            "OSPREY_HTTP_PORT": "0",
        ])
    }

    /// Decisions by event id (every copy), read until every id in `ids` is covered.
    func decisions(_ setup: Setup, covering ids: Set<String>, timeout: TimeInterval, committedOnly: Bool = false) throws -> [String: [JSONValue]] {
        var byID: [String: [JSONValue]] = [:]
        let records = try Daemon.read(setup.decisions, count: Int.max, timeout: timeout, committedOnly: committedOnly, until: { records in
            Set(records.compactMap { Self.eventID($0.value) }).isSuperset(of: ids)
        })
        for record in records {
            let value = try JSONReader.parse(record.value)
            byID[value["event_id"]!.stringValue!, default: []].append(value)
        }
        return byID
    }

    static func eventID(_ bytes: [UInt8]) -> String? {
        guard let start = bytes.firstRange(of: Array(#""event_id":""#.utf8)) else { return nil }
        let rest = bytes[start.upperBound...]
        guard let end = rest.firstIndex(of: 0x22) else { return nil }
        return String(decoding: rest[..<end], as: UTF8.self)
    }

    /// The backfill of `lines`: feature vectors by event id.
    func backfill(_ lines: [String], in directory: URL) throws -> (names: [String], rows: [String: [Double]]) {
        let events = directory.appendingPathComponent("events.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: events, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("features.csv")
        #expect(try Daemon.run(["backfill", "--config", Daemon.paymentsConfig, "--events", events.path, "--output", output.path]) == 0)
        let csv = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        var rows: [String: [Double]] = [:]
        for row in csv.dropFirst() { rows[row[0]] = row.dropFirst().map { $0.isEmpty ? .nan : Double($0)! } }
        return (Array(csv[0].dropFirst()), rows)
    }

    func features(_ decision: JSONValue, names: [String]) -> [Double] {
        names.map { name in decision["features"]?[name]?.numberValue ?? .nan }
    }

    func same(_ a: [Double], _ b: [Double]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) || ($0 == 0 && $1 == 0) }
    }

    func stop(_ process: Process, log: URL) throws {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        #expect(!process.isRunning, "osprey did not stop within 30 s of SIGTERM")
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "exit status \(process.terminationStatus); log: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    @Test("every event gets a decision or a dead letter with its reason; features equal backfill's; SIGTERM exits 0")
    func decidesEveryEvent() throws {
        let setup = try setup("all")
        let (lines, bad) = PaymentStream.lines(count: 3000, seed: 11)
        try Daemon.produce(lines, topic: setup.input)
        let process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: setup.environment, log: setup.log)
        let (names, expected) = try backfill(lines, in: setup.directory)
        #expect(expected.count == 3000 - bad)
        let decided = try decisions(setup, covering: Set(expected.keys), timeout: 90)
        try stop(process, log: setup.log)

        #expect(Set(decided.keys) == Set(expected.keys))
        #expect(decided.values.allSatisfy { $0.count == 1 }, "no duplicates without a crash")
        var mismatches: [String] = []
        for (id, copies) in decided where !same(features(copies[0], names: names), expected[id] ?? []) { mismatches.append(id) }
        #expect(mismatches.isEmpty, "features differ from backfill for \(mismatches.count) events, e.g. \(mismatches.prefix(3))")
        // The stream scores a poll batch at once; each score and reason code
        // equals the model's for the event's features alone.
        let model = try GradientBoostedModel(contentsOfFile: Daemon.root.appendingPathComponent("Deploy/examples/payments/models/payments/v1/model.json").path)
        let explainer = ContributionExplainer(model)
        var misscored: [String] = []
        for (id, copies) in decided {
            let row = features(copies[0], names: model.featureNames)
            let reasons = explainer.topReasons(try explainer.contributions(row, method: .approximate), count: 3)
            let recorded = copies[0]["reasons"]?.arrayValue ?? []
            let sameReasons = recorded.count == reasons.count && zip(recorded, reasons).allSatisfy {
                $0["feature"]?.stringValue == $1.feature && $0["contribution"]?.numberValue?.bitPattern == $1.contribution.bitPattern
            }
            if copies[0]["score"]?.numberValue?.bitPattern != model.predict(row)[0].bitPattern || !sameReasons { misscored.append(id) }
        }
        #expect(misscored.isEmpty, "\(misscored.count) decisions whose score or reasons differ from the model's, e.g. \(misscored.prefix(3))")
        let sample = try #require(decided.values.first?.first)
        #expect(["approve", "review", "decline"].contains(sample["decision"]?.stringValue ?? ""))
        #expect(sample["model_version"]?.stringValue == "v1")
        #expect(decided.values.contains { $0[0]["late"] == .bool(true) }, "the stream has events beyond the lateness")
        // Records follow Topics/decisions.schema.json: every required key, no unknown key.
        let schema = try JSONReader.parse(Array(Data(contentsOf: Daemon.root.appendingPathComponent("Topics/decisions.schema.json"))))
        let required = Set(schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        guard case .object(let properties)? = schema["properties"], case .object(let record) = sample else {
            Issue.record("schema or record is not an object")
            return
        }
        #expect(required.isSubset(of: record.keys))
        #expect(Set(record.keys).isSubset(of: properties.keys))

        let deadLetters = try Daemon.read(setup.deadLetters, count: bad, timeout: 30)
        #expect(deadLetters.count == bad)
        let reasons = Set(deadLetters.compactMap { $0.headers["osprey.error.reason"] })
        #expect(reasons == ["invalid_json", "wrong_type"])
        #expect(deadLetters.allSatisfy { $0.headers["osprey.source.topic"] == setup.input && $0.headers["osprey.source.offset"] != nil })
        let firstBad = try #require(lines.firstIndex { !$0.hasSuffix("}") })
        #expect(deadLetters.contains { String(decoding: $0.value, as: UTF8.self) == lines[firstBad] && $0.headers["osprey.source.offset"] == "\(firstBad)" })

        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: setup.directory.appendingPathComponent("checkpoints/\(setup.input)-0").path)
        #expect(!checkpoints.isEmpty, "a final checkpoint is written at shutdown")
    }

    /// Streams 4,500 events in three chunks, kills the daemon with SIGKILL
    /// `pauses.first` after the second chunk and `pauses.last` after the third,
    /// restarts it, and checks that every event got a decision and that every
    /// copy of a decision carries the features backfill computes. Returns the log.
    func killTwiceAndRestart(_ setup: Setup, seed: UInt64, pauses: (UInt32, UInt32), waitForCheckpoint: Bool, committedOnly: Bool) throws -> String {
        let (lines, bad) = PaymentStream.lines(count: 4500, seed: seed)
        let (names, expected) = try backfill(lines, in: setup.directory)
        #expect(expected.count == 4500 - bad)
        let chunks = [Array(lines[0..<1500]), Array(lines[1500..<3000]), Array(lines[3000...])]
        let ids = { (chunk: [String]) in Set(chunk.compactMap { Self.eventID(Array($0.utf8)) }.filter { expected[$0] != nil }) }
        let start = { try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: setup.environment, log: setup.log) }

        var process = try start()
        try Daemon.produce(chunks[0], topic: setup.input)
        _ = try decisions(setup, covering: ids(chunks[0]), timeout: 60, committedOnly: committedOnly)
        if waitForCheckpoint { usleep(1_500_000) }  // let a checkpoint cover the first chunk
        try Daemon.produce(chunks[1], topic: setup.input)
        usleep(pauses.0)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        process = try start()
        try Daemon.produce(chunks[2], topic: setup.input)
        usleep(pauses.1)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        process = try start()
        let decided = try decisions(setup, covering: Set(expected.keys), timeout: 90, committedOnly: committedOnly)
        try stop(process, log: setup.log)

        let missing = Set(expected.keys).subtracting(decided.keys)
        #expect(missing.isEmpty, "\(missing.count) events without a decision, e.g. \(missing.prefix(3))")
        var mismatches: [String] = []
        for (id, copies) in decided {
            for copy in copies where !same(features(copy, names: names), expected[id] ?? []) { mismatches.append(id) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) decisions whose features differ from backfill (double counting or gaps), e.g. \(mismatches.prefix(3))")
        return (try? String(contentsOf: setup.log, encoding: .utf8)) ?? ""
    }

    @Test("kill -9 twice mid-stream, restart: every event decided, each copy with the features backfill computes")
    func survivesKill9() throws {
        let log = try killTwiceAndRestart(try setup("kill"), seed: 23, pauses: (300_000, 4_000_000), waitForCheckpoint: true, committedOnly: false)
        #expect(log.contains("restored"), "a restart restores the checkpoint")
    }

    @Test("two instances in one group share the partitions; state follows a partition to its new owner")
    func twoInstances() throws {
        let setup = try setup("pair", partitions: 4)
        let (lines, _) = PaymentStream.lines(count: 6000, seed: 37)
        let byID = Dictionary(lines.compactMap { line in Self.eventID(Array(line.utf8)).map { ($0, line) } }, uniquingKeysWith: { a, _ in a })
        let (_, all) = try backfill(lines, in: setup.directory)
        let good = { (range: Range<Int>) in Set(lines[range].compactMap { Self.eventID(Array($0.utf8)) }.filter { all[$0] != nil }) }

        let first = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: setup.environment, log: setup.log)
        try Daemon.produce(Array(lines[0..<2000]), topic: setup.input)
        _ = try decisions(setup, covering: good(0..<2000), timeout: 60)
        let second = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: setup.environment, log: setup.log)
        usleep(5_000_000)  // the second member joins; partitions are shared
        try Daemon.produce(Array(lines[2000..<4000]), topic: setup.input)
        _ = try decisions(setup, covering: good(0..<4000), timeout: 60)
        try stop(first, log: setup.log)  // its partitions move to the second, with their checkpoints
        try Daemon.produce(Array(lines[4000...]), topic: setup.input)
        let decided = try decisions(setup, covering: Set(all.keys), timeout: 90)
        try stop(second, log: setup.log)

        #expect(Set(all.keys).isSubset(of: decided.keys))
        // Each partition is one stream: backfill its events in offset order and
        // compare every copy of every decision with it.
        var partitionLines: [Int: [(offset: Int64, id: String, line: String)]] = [:]
        for (id, copies) in decided {
            let source = copies[0]["source"]!
            partitionLines[Int(source["partition"]!.numberValue!), default: []].append((Int64(source["offset"]!.numberValue!), id, byID[id]!))
        }
        #expect(partitionLines.count == 4)
        var mismatches: [String] = []
        for (partition, entries) in partitionLines {
            let folder = setup.directory.appendingPathComponent("p\(partition)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let (names, expected) = try backfill(entries.sorted { $0.offset < $1.offset }.map(\.line), in: folder)
            for id in entries.map(\.id) {
                for copy in decided[id]! where !same(features(copy, names: names), expected[id] ?? []) { mismatches.append(id) }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) decisions differ from their partition's backfill, e.g. \(mismatches.prefix(3))")
        let log = (try? String(contentsOf: setup.log, encoding: .utf8)) ?? ""
        #expect(log.contains("released"), "the first instance hands its partitions over")
        #expect(log.contains("restored"), "the new owner of a partition restores its checkpoint")
    }

    @Test("entities idle beyond their TTL leave memory while the stream runs; a memory budget is reported")
    func idleEntitiesExpire() throws {
        var setup = try setup("expiry")
        let port = HTTPClient.freePort()
        setup.environment["OSPREY_HTTP_PORT"] = "\(port)"
        setup.environment["OSPREY_STATE_MEMORY_BUDGET"] = "256KiB"
        let process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: setup.environment, log: setup.log)
        defer { kill(process.processIdentifier, SIGKILL) }
        func event(_ id: String, card: String, merchant: String, time: Int64) -> String {
            #"{"event_id":"\#(id)","event_time":\#(time),"card_id":"\#(card)","merchant_id":"\#(merchant)","amount":12.5,"currency":"USD","country":"US","mcc":5411,"channel":"web"}"#
        }
        let t0: Int64 = 1_795_380_000_000
        // 3,000 cards at one merchant; then, two days later (beyond the cards'
        // 24 h TTL, within the merchant's 7 days), one more card.
        var lines = (0..<3000).map { event("x-\($0)", card: "card-\($0)", merchant: "m-1", time: t0 + Int64($0)) }
        lines.append(event("x-late", card: "card-new", merchant: "m-1", time: t0 + 2 * 86_400_000))
        try Daemon.produce(lines, topic: setup.input)
        _ = try decisions(setup, covering: ["x-late"], timeout: 60)
        func metric(_ name: String) -> Double? { HTTPClient.metric(name, at: "http://127.0.0.1:\(port)") }
        #expect(waitFor(40) { metric("osprey_state_expired_entities_total") == 3000 }, "expired: \(metric("osprey_state_expired_entities_total") ?? -1)")
        #expect(metric("osprey_state_entities") == 2, "the new card and the merchant remain")
        #expect(metric("osprey_state_memory_budget_bytes") == 262_144)
        try stop(process, log: setup.log)
        let log = try String(contentsOf: setup.log, encoding: .utf8)
        #expect(log.contains("over state.memory_budget"), "3,000 cards pass 256 KiB of state, and the log says so")
    }

    @Test("a checkpoint past the partition's end (a recreated topic) is ignored, not trusted")
    func staleCheckpointIsIgnored() throws {
        let setup = try setup("stale")
        let (lines, _) = PaymentStream.lines(count: 500, seed: 5)
        // A first run leaves a checkpoint covering 500 events...
        try Daemon.produce(lines, topic: setup.input)
        var process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: setup.environment, log: setup.log)
        let (_, expected) = try backfill(lines, in: setup.directory)
        _ = try decisions(setup, covering: Set(expected.keys), timeout: 60)
        try stop(process, log: setup.log)
        // ...then the topic is deleted and recreated: same name, fewer events.
        try TestBroker.deleteTopic(setup.input)
        try TestBroker.createTopic(named: setup.input, partitions: 1)
        var environment = setup.environment
        environment["OSPREY_GROUP_ID"] = "osprey-stale-\(UUID().uuidString.prefix(6))"
        try Daemon.produce(Array(lines.prefix(100)), topic: setup.input)
        process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: environment, log: setup.log)
        let (_, fresh) = try backfill(Array(lines.prefix(100)), in: setup.directory)
        let again = try decisions(setup, covering: Set(fresh.keys), timeout: 60)
        try stop(process, log: setup.log)
        #expect(Set(fresh.keys).isSubset(of: again.keys))
        let log = (try? String(contentsOf: setup.log, encoding: .utf8)) ?? ""
        #expect(log.contains("ignoring"), "the stale checkpoint is reported")
    }

    /// Tansu (the test broker) hands aborted transactions' records to
    /// read_committed consumers (measured: a transaction aborted, or left open
    /// and fenced, is still delivered), so "exactly one visible decision" cannot
    /// be observed here. What is checked: the transactional cycle runs, every
    /// event is decided, restarts restore the checkpoint paired with the
    /// committed offsets, and no decision's features double-count.
    @Test("exactly-once mode: kill -9 twice, restart: every event decided with backfill's features; checkpoints paired with committed transactions")
    func exactlyOnce() throws {
        var setup = try setup("eos")
        setup.environment["OSPREY_EXACTLY_ONCE"] = "true"
        setup.environment["OSPREY_TRANSACTIONAL_ID"] = "osprey-test-\(UUID().uuidString.prefix(8))"
        // Commits every 5 s, so that the kills land inside open transactions.
        setup.environment["OSPREY_CHECKPOINT_INTERVAL"] = "5s"
        let log = try killTwiceAndRestart(setup, seed: 41, pauses: (700_000, 4_500_000), waitForCheckpoint: false, committedOnly: true)
        #expect(log.contains("paired with the committed offset"), "a restart restores the checkpoint paired with the committed transaction")
        #expect(log.contains("exactly-once: transactional producer ready"))
    }
}

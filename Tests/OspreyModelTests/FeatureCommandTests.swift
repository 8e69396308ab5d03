import Foundation
import Testing
import OspreyFeatures

/// `osprey backfill` and `osprey checkpoint inspect`, run as users run them.
@Suite("osprey backfill and checkpoint")
struct FeatureCommandTests {
    static let features = OspreyCLI.packageRoot.appendingPathComponent("Tests/Fixtures/features")

    @Test("backfill writes event_id, the features and joined labels, and lists skipped events")
    func backfillWithLabels() throws {
        let scratch = try TemporaryDirectory()
        let labels = scratch.url.appendingPathComponent("labels.csv")
        try "event_id,label\ne-000000,1\ne-000001,0\n".write(to: labels, atomically: true, encoding: .utf8)
        let output = scratch.url.appendingPathComponent("features.csv")
        let result = try OspreyCLI.run([
            "backfill", "--config", Self.features.appendingPathComponent("osprey.yaml").path,
            "--events", Self.features.appendingPathComponent("events.jsonl").path,
            "--output", output.path, "--labels", labels.path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try String(contentsOf: output, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 5_937)
        #expect(rows[0].hasPrefix("event_id,amount,mcc,channel_code,"))
        #expect(rows[0].hasSuffix(",web_share_30m,label"))
        #expect(rows[1].hasPrefix("e-000000,41.68,5411.0,") && rows[1].hasSuffix(",1"))
        #expect(rows[2].hasSuffix(",0"))
        #expect(rows[3].hasSuffix(","))
        #expect(result.stderr.contains("5936 rows"))
        #expect(result.stderr.contains("64 invalid events skipped"))
        #expect(result.stderr.contains("line 8: wrong_type (amount): field 'amount' must be a number, found a string"))
    }

    @Test("a bad config stops backfill with every problem named")
    func badConfig() throws {
        let scratch = try TemporaryDirectory()
        let config = scratch.url.appendingPathComponent("osprey.yaml")
        try """
        events:
          - name: payment
            topic: payments
            fields: {event_id: string, event_time: timestamp, card_id: string}
            features:
              - {name: n, entity: card_id, aggregation: count, window: 5x}
              - {name: m, entity: card, aggregation: count, window: 5m}
        """.write(to: config, atomically: true, encoding: .utf8)
        let result = try OspreyCLI.run(["backfill", "--config", config.path, "--events", "/dev/null", "--output", "/dev/null"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("has 2 problems"))
        #expect(result.stderr.contains("config events[0].features[0].window (line 6): '5x' is not a duration"))
        #expect(result.stderr.contains("config events[0].features[1].entity (line 7): 'card' is not a declared field"))
    }

    @Test("checkpoint inspect prints the partition, offsets and entities, and refuses a corrupt file")
    func inspect() throws {
        let scratch = try TemporaryDirectory()
        let configPath = Self.features.appendingPathComponent("osprey.yaml").path
        let plan = FeaturePlan(spec: try FeatureSpecLoader.load(yaml: String(contentsOfFile: configPath, encoding: .utf8), baseDirectory: Self.features.path))
        let engine = FeatureEngine(plan: plan)
        let decoder = plan.decoder(forEventType: 0)
        var state = PartitionState(plan: plan)
        var event = decoder.makeEvent()
        var vector = engine.makeVector(eventType: 0)
        for line in try String(contentsOf: Self.features.appendingPathComponent("events.jsonl"), encoding: .utf8).split(separator: "\n").prefix(3000) {
            do { try decoder.decode(Array(line.utf8), into: &event) } catch { continue }
            engine.process(event, eventType: 0, state: &state, into: &vector)
        }
        let metadata = CheckpointMetadata(topic: "payments", partition: 0, nextOffset: 3000, createdAt: 1_795_380_000_000, specFingerprint: plan.fingerprint, entityKinds: plan.entityKindNames)
        let path = URL(fileURLWithPath: try CheckpointStore(directory: scratch.url.path).write(state, metadata: metadata).path)
        let result = try OspreyCLI.run(["checkpoint", "inspect", path.path, "--config", configPath])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("partition:       payments-0"))
        #expect(result.stdout.contains("next offset:     3000"))
        #expect(result.stdout.contains("entities:        payment.card_id: "))
        #expect(result.stdout.contains("config:          compatible with"))

        var bytes = try [UInt8](Data(contentsOf: path))
        bytes[bytes.count / 2] ^= 1
        try Data(bytes).write(to: path)
        let corrupt = try OspreyCLI.run(["checkpoint", "inspect", path.path])
        #expect(corrupt.status != 0)
        #expect(corrupt.stderr.contains("checksum mismatch"))
    }
}

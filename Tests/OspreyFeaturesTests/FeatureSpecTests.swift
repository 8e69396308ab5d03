import Foundation
import Testing
@testable import OspreyFeatures

/// A bad config stops start-up with every problem named by its path and a fix.
@Suite("Feature spec loading")
struct FeatureSpecTests {
    func problems(_ yaml: String) -> [String] {
        do {
            _ = try FeatureSpecLoader.load(yaml: yaml, baseDirectory: FeatureFixtures.repository.path)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test("the shipped examples load, with their schemas")
    func examplesLoad() throws {
        for name in ["payments", "clicks"] {
            let spec = try FeatureFixtures.spec(FeatureFixtures.repository.appendingPathComponent("Deploy/examples/\(name)/osprey.yaml").path)
            #expect(spec.eventTypes.count == 1)
            #expect(spec.eventTypes[0].schemaPath?.hasSuffix("Topics/\(name).schema.json") == true)
        }
    }

    @Test("a bad duration names the feature's path and the accepted forms")
    func badDuration() {
        let found = problems(FeatureFixtures.config("      - {name: n, entity: card_id, aggregation: count, window: 90x}\n"))
        #expect(found == ["config events[0].features[0].window (line 10): '90x' is not a duration; use a whole number with a unit: 250ms, 30s, 5m, 1h, 7d"])
    }

    @Test("all problems of a file are reported at once")
    func everyProblemAtOnce() {
        let found = problems(FeatureFixtures.config("""
                  - {name: a, entity: card_id, aggregation: median, field: amount, window: 1h}
                  - {name: b, entity: card_id, aggregation: sum, field: amout, window: 1h}
                  - {name: c, entity: card_id, aggregation: count, window: 1h, resolution: 7m}
                  - {name: d, numerator: e, denominator: a, when_denominator_zero: 0}
                  - {name: e, field: amount, windw: 5m}
                  - {name: f, entity: card_id, aggregation: count}
                  - {name: e, field: amount}
            """))
        let expected = [
            "'median' is not an aggregation",
            "features[1].field (line 11): 'amout' is not a declared field; declared: amount, card_id, event_id, event_time",
            "features[2].resolution (line 12): 7m does not divide the window 1h evenly",
            "features[3].numerator (line 13): 'e' is not a feature defined above this one",
            // 'a' was refused above, so the ratio cannot read it either.
            "features[3].denominator (line 13): 'a' is not a feature defined above this one",
            "features[4].windw (line 14): unknown setting",
            "features[5].window (line 15): missing; give a window",
            "features[6].name (line 16): feature 'e' is defined twice",
        ]
        #expect(found.count == expected.count, "\(found.joined(separator: " | "))")
        for fragment in expected {
            #expect(found.contains { $0.contains(fragment) }, "no problem mentions \(fragment): \(found)")
        }
    }

    @Test("fields must agree with the JSON Schema")
    func schemaMismatch() {
        let found = problems(FeatureFixtures.config(
            "      - {name: n, entity: card_id, aggregation: count, window: 1h}\n",
            fields: "      event_id: string\n      event_time: timestamp\n      card_id: integer\n      amount: number\n      tip: number\n",
            extra: "    schema: Topics/payments.schema.json\n"))
        #expect(found.contains { $0.contains("field 'card_id' is integer in the config but string in") })
        #expect(found.contains { $0.contains("field 'tip' is not a property in") })
    }

    @Test("id and time fields must be declared with usable types")
    func idAndTimeFields() {
        let found = problems(FeatureFixtures.config(
            "      - {name: n, entity: card_id, aggregation: count, window: 1h}\n",
            fields: "      event_id: number\n      event_time: string\n      card_id: string\n"))
        #expect(found.contains { $0.contains("the id field 'event_id' must be string or integer") })
        #expect(found.contains { $0.contains("the time field 'event_time' must have type timestamp") })
    }

    @Test("windows: defaults, hopping and tumbling are tiles of a step")
    func windowForms() throws {
        let spec = try FeatureSpecLoader.load(yaml: FeatureFixtures.config("""
                  - {name: a, entity: card_id, aggregation: count, window: 1h}
                  - {name: b, entity: card_id, aggregation: count, window: {type: hopping, size: 1h, hop: 5m}}
                  - {name: c, entity: card_id, aggregation: count, window: {type: tumbling, size: 1d}}
                  - {name: d, entity: card_id, aggregation: count, window: 30d, resolution: exact}
            """), baseDirectory: ".")
        let windows = spec.eventTypes[0].features.compactMap { f -> WindowSpec? in
            if case .aggregate(let a) = f.kind { return a.window }
            return nil
        }
        #expect(windows == [
            WindowSpec(kind: .sliding, size: 3_600_000, step: 60_000),
            WindowSpec(kind: .hopping, size: 3_600_000, step: 300_000),
            WindowSpec(kind: .tumbling, size: 86_400_000, step: 86_400_000),
            WindowSpec(kind: .sliding, size: 2_592_000_000, step: 1),
        ])
    }

    @Test("the fingerprint changes with anything that changes state, not with topic names")
    func fingerprint() throws {
        let base = FeatureFixtures.config("      - {name: a, entity: card_id, aggregation: count, window: 1h}\n")
        let a = try FeatureSpecLoader.load(yaml: base, baseDirectory: ".")
        let renamed = try FeatureSpecLoader.load(yaml: base.replacingOccurrences(of: "topic: payments", with: "topic: payments-v2"), baseDirectory: ".")
        let rewindowed = try FeatureSpecLoader.load(yaml: base.replacingOccurrences(of: "window: 1h", with: "window: 2h"), baseDirectory: ".")
        #expect(a.fingerprint == renamed.fingerprint)
        #expect(a.fingerprint != rewindowed.fingerprint)
    }

    @Test("durations")
    func durations() {
        #expect(Duration.milliseconds("250ms") == 250)
        #expect(Duration.milliseconds("30s") == 30_000)
        #expect(Duration.milliseconds("5m") == 300_000)
        #expect(Duration.milliseconds("7d") == 604_800_000)
        #expect(Duration.milliseconds("1.5h") == nil)
        #expect(Duration.milliseconds("h") == nil)
        #expect(Duration.milliseconds("-5m") == nil)
        #expect(Duration.text(86_400_000) == "1d")
        #expect(Duration.text(90_000) == "90s")
    }
}

@Suite("State settings")
struct StateSettingsTests {
    @Test("state and checkpoint settings, with problems named")
    func settings() throws {
        let yaml = FeatureFixtures.config("      - {name: a, field: amount}\n") + """

        state:
          memory_budget: 512MiB
        checkpoints:
          directory: ckpt
          interval: 10s
          keep: 5
        """
        let (_, settings) = try FeatureSpecLoader.loadWithSettings(yaml: yaml, baseDirectory: "/srv/osprey")
        #expect(settings.memoryBudget == 512 << 20)
        #expect(settings.checkpointDirectory == "/srv/osprey/ckpt")
        #expect(settings.checkpointInterval == 10_000)
        #expect(settings.checkpointKeep == 5)

        let bad = yaml.replacingOccurrences(of: "512MiB", with: "lots").replacingOccurrences(of: "keep: 5", with: "keep: 0")
        #expect(throws: ConfigErrors.self) { _ = try FeatureSpecLoader.loadWithSettings(yaml: bad, baseDirectory: ".") }
        do {
            _ = try FeatureSpecLoader.loadWithSettings(yaml: bad, baseDirectory: ".")
        } catch {
            #expect(error.errors.map(\.path) == ["state.memory_budget", "checkpoints.keep"])
        }
    }

    @Test("the budget reports crossing it once, and crossing back")
    func budget() {
        var budget = MemoryBudget(budget: 1000)
        #expect(budget.observe(bytes: 900) == nil)
        #expect(budget.observe(bytes: 1001) == .exceeded(bytes: 1001, budget: 1000))
        #expect(budget.observe(bytes: 2000) == nil)
        #expect(budget.observe(bytes: 990) == nil)
        #expect(budget.observe(bytes: 900) == .recovered(bytes: 900, budget: 1000))
    }
}

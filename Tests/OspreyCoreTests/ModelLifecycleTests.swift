import Foundation
import OspreyFeatures
import OspreyModel
import Testing
@testable import OspreyCore

/// A scratch registry holding copies of the example models.
struct ScratchRegistry {
    let root: URL
    let examples = DaemonConfigTests.root.appendingPathComponent("Deploy/examples")

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("payments"), withIntermediateDirectories: true)
    }

    /// Copies example `example`'s v1 into this registry's payments model as `version`,
    /// with `edit` applied to the model file's text.
    func add(_ version: String, from example: String = "payments", edit: (String) -> String = { $0 }) throws {
        let source = examples.appendingPathComponent("\(example)/models/\(example)/v1")
        let target = root.appendingPathComponent("payments/\(version)")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source.appendingPathComponent("metadata.json"), to: target.appendingPathComponent("metadata.json"))
        let model = try String(contentsOf: source.appendingPathComponent("model.json"), encoding: .utf8)
        try edit(model).write(to: target.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
    }

    /// The payments example configured on this registry.
    func config(_ extra: [String: String] = [:]) throws -> DaemonConfig {
        let (path, yaml) = DaemonConfigTests.example("payments")
        return try DaemonConfig.load(path: path, yaml: yaml, environment: ["OSPREY_MODEL_REGISTRY": root.path].merging(extra) { $1 })
    }
}

@Suite("Model lifecycle")
struct ModelLifecycleTests {
    @Test("a registry version loads with its metadata; versions sort naturally; a missing one is named with the versions present")
    func registryLoads() throws {
        let scratch = try ScratchRegistry()
        for v in ["v1", "v2", "v10"] { try scratch.add(v) }
        let config = try scratch.config()
        let registry = try #require(config.model.modelRegistry)
        #expect(registry.versions() == ["v1", "v2", "v10"])
        let loaded = try registry.load(version: "v2", fits: ModelManager.check(config))
        #expect(loaded.version == "v2")
        #expect(loaded.metadata?.featureNames == config.spec.eventTypes[0].featureNames)
        #expect(loaded.metadata?.metrics?["auc"] != nil)
        #expect(throws: RegistryError.self) { try registry.load(version: "v7", fits: ModelManager.check(config)) }
        do {
            _ = try registry.load(version: "v7", fits: ModelManager.check(config))
        } catch {
            #expect(error.description.contains("versions: v1, v2, v10"))
        }
        #expect(ModelRegistry.naturalOrder("2026-11-2", "2026-11-10"))
        #expect(!ModelRegistry.naturalOrder("v10", "v9"))
    }

    @Test("a model whose features differ from the spec is refused, naming the differences")
    func mismatchRefused() throws {
        let scratch = try ScratchRegistry()
        try scratch.add("v1")
        try scratch.add("clicks", from: "clicks")
        let config = try scratch.config()
        let registry = try #require(config.model.modelRegistry)
        do {
            _ = try registry.load(version: "clicks", fits: ModelManager.check(config))
            Issue.record("a clicks model was accepted for payments")
        } catch {
            #expect(error.description.contains("does not fit the feature spec"))
            #expect(error.description.contains("missing from the model: amount, mcc"))
        }
        // metadata.json naming other features than the model file is refused too.
        let metadata = scratch.root.appendingPathComponent("payments/v1/metadata.json")
        let text = try String(contentsOf: metadata, encoding: .utf8)
        try text.replacingOccurrences(of: "\"card_txn_count_5m\"", with: "\"card_txn_count_6m\"").write(to: metadata, atomically: true, encoding: .utf8)
        do {
            _ = try registry.load(version: "v1", fits: ModelManager.check(config))
            Issue.record("mismatched metadata was accepted")
        } catch {
            #expect(error.description.contains("feature_names differ"))
            #expect(error.description.contains("card_txn_count_6m"))
        }
    }

    @Test("start-up serves the recorded deployment over the config; a broken challenger leaves the live model serving")
    func initialLineup() throws {
        let scratch = try ScratchRegistry()
        try scratch.add("v1")
        try scratch.add("v2")
        try scratch.add("bad", from: "clicks")
        var config = try scratch.config()
        var start = try ModelManager.initial(config: config) { _ in }
        #expect(start.lineup.live?.version == "v1" && start.lineup.challenger == nil)
        let registry = try #require(config.model.modelRegistry)
        try registry.write(ModelDeployment(live: "v2", challenger: "bad", mode: .canary, canaryFraction: 0.2))
        start = try ModelManager.initial(config: config) { _ in }
        #expect(start.lineup.live?.version == "v2")
        #expect(start.lineup.challenger == nil)
        #expect(start.deployment?.challenger == nil)
        try FileManager.default.removeItem(atPath: registry.deploymentPath)
        config.model.live = nil
        #expect(try ModelManager.initial(config: config) { _ in }.lineup.live?.version == "v2", "without a record or model.live, the last version serves")
    }

    @Test("deploy, promote and rollback are recorded in deployment.json; a refused version changes nothing")
    func deployPromoteRollback() async throws {
        let scratch = try ScratchRegistry()
        try scratch.add("v1")
        try scratch.add("v2")
        try scratch.add("bad", from: "clicks")
        let config = try scratch.config()
        let registry = try #require(config.model.modelRegistry)
        let manager = ModelManager(config: config, start: try ModelManager.initial(config: config) { _ in }) { _ in }

        var change = try await manager.deploy(live: nil, challenger: .some("v2"), mode: .canary, canaryFraction: 0.25)
        #expect(change.lineup.live?.version == "v1" && change.lineup.challenger?.version == "v2" && change.lineup.mode == .canary)
        #expect(try registry.readDeployment()?.challenger == "v2")

        await #expect(throws: RegistryError.self) { try await manager.deploy(live: "bad", challenger: nil, mode: nil, canaryFraction: nil) }
        #expect(try registry.readDeployment()?.live == "v1", "a refused version is not recorded")
        #expect(await manager.lineup.live?.version == "v1")

        change = try await manager.promote()
        #expect(change.lineup.live?.version == "v2" && change.lineup.challenger == nil)
        #expect(try registry.readDeployment() .map { ($0.live, $0.previousLive) } ?? (nil, nil) == ("v2", "v1"))

        change = try await manager.rollback()
        #expect(change.lineup.live?.version == "v1")
        #expect(try registry.readDeployment()?.live == "v1")
        await #expect(throws: RegistryError.self) { try await manager.promote() }
    }

    @Test("PSI equals the hand-computed value and forgets slices that leave the window")
    func drift() throws {
        var metadata = ModelMetadata(featureNames: ["a"])
        metadata.reference = .init(score: nil, features: ["a": .init(edges: [0.5], counts: [50, 50], missing: 0)])
        // Any model: the monitor reads only the version and the reference.
        let file = DaemonConfigTests.root.appendingPathComponent("Deploy/examples/payments/models/payments/v1/model.json").path
        let model = LoadedModel(version: "t", path: file, model: try GradientBoostedModel(contentsOfFile: file), metadata: metadata)
        var monitor = try #require(DriftMonitor(model: model, featureNames: ["a"], windowSeconds: 120, now: 0))
        for i in 0..<100 {
            let x = [i < 80 ? 0.25 : 0.75]
            x.withUnsafeBufferPointer { monitor.observe(score: 0, features: $0) }
        }
        // Expected shares 0.5, 0.5, 0.0001 (missing, floored); actual 0.8, 0.2, 0.0001:
        // 0.3·ln(1.6) + (−0.3)·ln(0.4) + 0 = 0.1410011 + 0.2748872.
        let psi = try #require(monitor.psi().first)
        #expect(psi.name == "a")
        #expect(abs(psi.value - 0.4158883) < 1e-6)
        monitor.rotate(now: 200)
        #expect(monitor.windowCount == 0)
        #expect(monitor.psi().isEmpty, "fewer than 100 events: no figure")
    }

    @Test("a value's drift bin is the number of edges at or below it, for any number of edges")
    func driftBins() {
        var wrong = 0
        for count in [0, 1, 2, 3, 7, 16, 17, 64, 65, 100] {
            let edges = (0..<count).map { Double($0) * 0.5 }
            let probes = edges + edges.map { $0 - 0.25 } + edges.map { $0 + 0.25 } + [-1e300, 1e300, -.infinity, .infinity]
            for value in probes {
                let expected = edges.count { $0 <= value }
                let bin = edges.withUnsafeBufferPointer { DriftMonitor.bin(value, $0.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: count) }
                if bin != expected { wrong += 1 }
            }
        }
        #expect(wrong == 0)
    }

    @Test("rules parse, hold as written, and are checked against the features")
    func rules() throws {
        let rule = try DecisionRule(name: "big", when: "amount >= 5000", outcome: "review")
        #expect(rule.holds(5000) && !rule.holds(4999.99) && !rule.holds(.nan))
        #expect(try DecisionRule(name: "m", when: "country is missing", outcome: "review").holds(.nan))
        #expect(throws: DecisionRule.ParseError.self) { try DecisionRule(name: "x", when: "amount>5000", outcome: "review") }
        let (path, yaml) = DaemonConfigTests.example("payments")
        let withRules = yaml.replacingOccurrences(of: "decision:\n", with: "decision:\n  rules:\n    - {name: big, when: \"amont > 5\", outcome: review}\n  fallback: review\n")
        do {
            _ = try DaemonConfig.load(path: path, yaml: withRules, environment: [:])
            Issue.record("a rule on an unknown feature was accepted")
        } catch {
            #expect(error.description.contains("decision.rules[0].when"))
            #expect(error.description.contains("no feature 'amont'"))
        }
        let good = try DaemonConfig.load(path: path, yaml: withRules.replacingOccurrences(of: "amont", with: "amount"), environment: [:])
        #expect(good.policy.rules.count == 1 && good.policy.fallbackOutcome == "review")
    }

    @Test("the canary hash is FNV-1a then fmix64, and splits even short sequential keys evenly")
    func canaryHash() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector);
        // fmix64 of that is 0x82a2a958a9bece5b (computed with Python integers).
        #expect(CanaryHash.unit("a") == Double(UInt64(0x82a2_a958_a9be_ce5b) >> 11) / 9_007_199_254_740_992.0)
        for n in [300, 20_000] {
            let share = Double((0..<n).filter { CanaryHash.unit("c-\($0)") < 0.3 }.count) / Double(n)
            #expect(abs(share - 0.3) < 3 * (0.21 / Double(n)).squareRoot(), "\(n) keys: share \(share)")
        }
    }
}

import Foundation
import OspreyJSON
import Testing

/// The model lifecycle against a running daemon: versions published while
/// the stream runs, shadow, canary, promote, rollback, a refused model, SIGHUP
/// and drift.
@Suite("Model lifecycle (daemon)", .enabled(if: TestBroker.enabled, "no broker: run Deploy/scripts/test.sh"), .serialized)
struct ModelLifecycleDaemonTests {
    /// A registry in a temporary folder: v1 is the example model, v2 the same
    /// trees with another base score (every score moves), "clicks" a model for
    /// other features.
    static func makeRegistry(in directory: URL) throws -> URL {
        let examples = Daemon.root.appendingPathComponent("Deploy/examples")
        let registry = directory.appendingPathComponent("models")
        for (version, source, edit) in [("v1", "payments", { (s: String) in s }),
                                        ("v2", "payments", { (s: String) in s.replacingOccurrences(of: #""base_score":"[4.8125E-3]""#, with: #""base_score":"[2E-1]""#) }),
                                        ("clicks", "clicks", { (s: String) in s })] {
            let from = examples.appendingPathComponent("\(source)/models/\(source)/v1")
            let to = registry.appendingPathComponent("payments/\(version)")
            try FileManager.default.createDirectory(at: to, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: from.appendingPathComponent("metadata.json"), to: to.appendingPathComponent("metadata.json"))
            let text = try String(contentsOf: from.appendingPathComponent("model.json"), encoding: .utf8)
            let edited = edit(text)
            if version == "v2" { #expect(edited != text, "the v2 edit must change the model") }
            try edited.write(to: to.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
        }
        return registry
    }

    /// FNV-1a over the key's bytes, then MurmurHash3's fmix64, as a share of
    /// 2^64 (written apart from Osprey's, from the published constants).
    static func canaryShare(_ key: String) -> Double {
        var h: UInt64 = 14_695_981_039_346_656_037
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
        for (shift, multiplier) in [(33, UInt64(0xff51_afd7_ed55_8ccd)), (33, 0xc4ce_b9fe_1a85_ec53)] {
            h ^= h >> UInt64(shift)
            h &*= multiplier
        }
        h ^= h >> 33
        return Double(h >> 11) / 9_007_199_254_740_992.0
    }

    @Test("versions change while the stream runs: each event decided once, versions switch at the reported offsets, shadow and canary as configured, rollback, a refused model, SIGHUP, and PSI rising on a shifted stream")
    func lifecycle() throws {
        let input = try TestBroker.createTopic("ml-payments", partitions: 2)
        let decisions = try TestBroker.createTopic("ml-decisions")
        let dlq = try TestBroker.createTopic("ml-dlq")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-ml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let registry = try Self.makeRegistry(in: directory)
        let port = HTTPClient.freePort()
        let base = "http://127.0.0.1:\(port)"
        let admin = ["Authorization": "Bearer t0ken"]
        let process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: [
            "OSPREY_KAFKA_BOOTSTRAP": try TestBroker.address(), "OSPREY_GROUP_ID": "osprey-ml-\(UUID().uuidString.prefix(6))",
            "OSPREY_INPUT_TOPICS": input, "OSPREY_OUTPUT_TOPIC": decisions, "OSPREY_DLQ_TOPIC": dlq,
            "OSPREY_CHECKPOINT_DIR": directory.appendingPathComponent("checkpoints").path,
            "OSPREY_MODEL_REGISTRY": registry.path, "OSPREY_MODEL_WATCH": "1s",
            "OSPREY_HTTP_PORT": "\(port)", "OSPREY_ADMIN_TOKEN": "t0ken",
        ], log: directory.appendingPathComponent("osprey.log"))
        defer { kill(process.processIdentifier, SIGKILL) }

        var ready = try? HTTPClient.call("GET", "\(base)/readyz")
        let deadline = Date().addingTimeInterval(60)
        while ready?.status != 200 && Date() < deadline {
            usleep(200_000)
            ready = try? HTTPClient.call("GET", "\(base)/readyz")
        }
        #expect(ready?.status == 200)

        // The stream in phases; between phases, one admin call. Each answer
        // reports, per partition, the first offset the new lineup scores.
        var sent = 0
        var good = 0
        var switches: [(offsets: [String: Int64], live: String, challenger: String?, mode: String)] = [(["\(input)-0": 0, "\(input)-1": 0], "v1", nil, "shadow")]
        func phase(_ count: Int, seed: UInt64, amount transform: ((Double) -> Double)? = nil) throws {
            var (lines, bad) = PaymentStream.lines(count: count, seed: seed)
            lines = lines.map { $0.replacingOccurrences(of: #""event_id":"e-"#, with: #""event_id":"s\#(seed)-"#) }
            if let transform {
                lines = lines.map { line in
                    guard let r = line.range(of: #""amount":[0-9.]+"#, options: .regularExpression) else { return line }
                    let amount = (transform(Double(line[r].dropFirst(9))!) * 100).rounded() / 100
                    return line.replacingCharacters(in: r, with: "\"amount\":\(amount)")
                }
            }
            try Daemon.produce(lines, topic: input)
            sent += count
            good += count - bad
            _ = try Daemon.read(decisions, count: good, timeout: 60)
        }
        func adminCall(_ path: String, _ body: String? = nil) throws -> HTTPClient.Reply {
            try HTTPClient.call("POST", "\(base)\(path)", body: body.map { Array($0.utf8) }, headers: admin)
        }
        func record(_ reply: HTTPClient.Reply) throws {
            #expect(reply.status == 200, "\(reply.text)")
            let json = try #require(reply.json)
            var offsets: [String: Int64] = [:]
            for p in ["\(input)-0", "\(input)-1"] { offsets[p] = Int64(try #require(json["switched_at"]?[p]?.numberValue)) }
            switches.append((offsets, json["live"]!.stringValue!, json["challenger"]?.stringValue, json["mode"]!.stringValue!))
        }

        try phase(400, seed: 11)
        try record(try adminCall("/v1/models/deploy", #"{"challenger":"v2"}"#))
        try phase(400, seed: 12)
        try record(try adminCall("/v1/models/deploy", #"{"mode":"canary","canary_fraction":0.3}"#))
        try phase(1500, seed: 13)
        try record(try adminCall("/v1/models/promote"))
        try phase(300, seed: 14)
        try record(try adminCall("/v1/models/rollback"))
        try phase(300, seed: 15)

        // A model for other features is refused; v1 keeps serving.
        let refused = try adminCall("/v1/models/deploy", #"{"live":"clicks"}"#)
        #expect(refused.status == 409)
        #expect(refused.json?["message"]?.stringValue?.contains("missing from the model: amount") == true, "\(refused.text)")
        #expect(try adminCall("/v1/models/deploy", #"{"live":"nope"}"#).status == 409)
        #expect(try adminCall("/v1/models/deploy", #"{"canary_fraction":"lots"}"#).status == 409)
        #expect(try HTTPClient.call("POST", "\(base)/v1/models/promote").status == 401)
        try phase(300, seed: 16)

        // Every good event decided exactly once, by the lineup its offset fell under.
        let records = try Daemon.read(decisions, count: good, timeout: 60).compactMap { try? JSONReader.parse($0.value) }
        #expect(records.count == good)
        #expect(Set(records.compactMap { $0["event_id"]?.stringValue }).count == good, "no event decided twice")
        var canaryCards: [String: Bool] = [:]
        for r in records {
            let partition = "\(input)-\(Int(r["source"]!["partition"]!.numberValue!))"
            let offset = Int64(r["source"]!["offset"]!.numberValue!)
            let lineup = try #require(switches.last { $0.offsets[partition]! <= offset })
            let card = r["entity"]!.stringValue!
            let canary = r["canary"] == .bool(true)
            if lineup.mode == "canary" && lineup.challenger != nil {
                #expect(canary == (Self.canaryShare(card) < 0.3), "card \(card) canary assignment")
                canaryCards[card] = canary
                #expect(r["model_version"]?.stringValue == (canary ? lineup.challenger : lineup.live))
                #expect(r["shadow"]?["model_version"]?.stringValue == (canary ? lineup.live : lineup.challenger))
            } else {
                #expect(!canary)
                #expect(r["model_version"]?.stringValue == lineup.live, "offset \(offset) of \(partition)")
                #expect(r["shadow"]?["model_version"]?.stringValue == lineup.challenger)
            }
            if r["shadow"] != nil {
                #expect(r["shadow"]?["score"]?.numberValue != r["score"]?.numberValue, "v2 moves every score")
            }
            #expect(r["decided_by"]?.stringValue == "model")
        }
        let share = Double(canaryCards.values.filter { $0 }.count) / Double(canaryCards.count)
        // 300 cards: the share's standard error is about 0.026.
        #expect(canaryCards.count > 250 && abs(share - 0.3) < 0.08, "canary share \(share) over \(canaryCards.count) cards")

        // SIGHUP reloads what the registry records (written here by hand).
        let record = registry.appendingPathComponent("payments/deployment.json")
        try #"{"live":"v1","challenger":"v2","mode":"shadow","canary_fraction":0}"#.write(to: record, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        var models = try HTTPClient.call("GET", "\(base)/v1/models")
        let reloadDeadline = Date().addingTimeInterval(20)
        while models.json?["models"]?.arrayValue?.count != 2 && Date() < reloadDeadline {
            usleep(200_000)
            models = try HTTPClient.call("GET", "\(base)/v1/models")
        }
        #expect(models.json?["models"]?.arrayValue?.map { $0["role"]?.stringValue ?? "" } == ["live", "shadow"], "\(models.text)")

        // Drift (the reload restarted the window). The training amounts are
        // log-normal (μ 3.2, σ 1): first amounts spread like them (uniform
        // amounts through a logistic quantile function, close to the normal),
        // then 40 times larger; the PSI of amount must go from stable to shifted.
        let likeTraining = { (amount: Double) -> Double in
            let u = min(max(amount / 1000, 0.0005), 0.9995)
            return exp(3.2 + 0.6 * Foundation.log(u / (1 - u)))
        }
        func psi(_ series: String) throws -> Double? {
            let text = try HTTPClient.call("GET", "\(base)/metrics").text
            let prefix = "osprey_drift_psi{model_version=\"v1\",series=\"\(series)\"} "
            return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
        }
        try phase(600, seed: 17, amount: likeTraining)
        usleep(600_000)
        let before = try #require(try psi("amount"), "PSI published after 600 events")
        try phase(600, seed: 18, amount: { 40 * likeTraining($0) })
        usleep(600_000)
        let after = try #require(try psi("amount"))
        #expect(before < 0.1, "PSI of amount on training-like amounts: \(before)")
        #expect(after > 0.5, "PSI of amount after the shift: \(after)")
        #expect(try psi("score") != nil)

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let log = try String(contentsOf: directory.appendingPathComponent("osprey.log"), encoding: .utf8)
        #expect(log.contains("received SIGHUP"))
        #expect(!log.contains("t0ken"), "the admin token never reaches the log")
    }

    @Test("without a loadable model, rules and the fallback decide (counted, not ready); a reload brings the model and rules still come first")
    func fallbackChain() throws {
        let input = try TestBroker.createTopic("fb-payments")
        let decisions = try TestBroker.createTopic("fb-decisions")
        let dlq = try TestBroker.createTopic("fb-dlq")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-fb-\(UUID().uuidString)")
        let registry = directory.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: registry.appendingPathComponent("payments"), withIntermediateDirectories: true)
        // The payments example with a rule and a fallback, and an empty registry.
        let example = try String(contentsOfFile: Daemon.paymentsConfig, encoding: .utf8)
        let config = directory.appendingPathComponent("osprey.yaml")
        try example
            .replacingOccurrences(of: "../../../Topics/", with: Daemon.root.appendingPathComponent("Topics").path + "/")
            .replacingOccurrences(of: "decision:\n", with: "decision:\n  rules:\n    - {name: big_amount, when: \"amount > 900\", outcome: review}\n  fallback: hold\n")
            .write(to: config, atomically: true, encoding: .utf8)
        let port = HTTPClient.freePort()
        let base = "http://127.0.0.1:\(port)"
        let process = try Daemon.start(["run", "--config", config.path], environment: [
            "OSPREY_KAFKA_BOOTSTRAP": try TestBroker.address(), "OSPREY_GROUP_ID": "osprey-fb-\(UUID().uuidString.prefix(6))",
            "OSPREY_INPUT_TOPICS": input, "OSPREY_OUTPUT_TOPIC": decisions, "OSPREY_DLQ_TOPIC": dlq,
            "OSPREY_CHECKPOINT_DIR": directory.appendingPathComponent("checkpoints").path,
            "OSPREY_MODEL_REGISTRY": registry.path, "OSPREY_HTTP_PORT": "\(port)", "OSPREY_ADMIN_TOKEN": "t0ken",
        ], log: directory.appendingPathComponent("osprey.log"))
        defer { kill(process.processIdentifier, SIGKILL) }

        let (first, firstBad) = PaymentStream.lines(count: 300, seed: 21)
        try Daemon.produce(first, topic: input)
        var records = try Daemon.read(decisions, count: 300 - firstBad, timeout: 60).compactMap { try? JSONReader.parse($0.value) }
        #expect(records.count == 300 - firstBad)
        for r in records {
            let big = (r["features"]?["amount"]?.numberValue ?? 0) > 900
            #expect(r["decided_by"]?.stringValue == (big ? "rule:big_amount" : "fallback"))
            #expect(r["decision"]?.stringValue == (big ? "review" : "hold"))
            #expect(r["score"] == .null && r["model_version"] == .null)
        }
        let ready = try HTTPClient.call("GET", "\(base)/readyz")
        #expect(ready.status == 503 && ready.text.contains("no model loaded"), "\(ready.text)")
        usleep(400_000)
        let metrics = try HTTPClient.call("GET", "\(base)/metrics").text
        #expect(metrics.contains("osprey_model_loaded 0"))
        #expect(metrics.contains("osprey_decision_source_total{source=\"fallback\"}"))
        #expect(metrics.contains("osprey_decisions_total{decision=\"hold\",model_version=\"none\"}"))

        // A version arrives; reload; the model decides, the rule still first.
        let version = registry.appendingPathComponent("payments/v1")
        try FileManager.default.copyItem(at: Daemon.root.appendingPathComponent("Deploy/examples/payments/models/payments/v1"), to: version)
        let reload = try HTTPClient.call("POST", "\(base)/v1/models/reload", headers: ["Authorization": "Bearer t0ken"])
        #expect(reload.status == 200 && reload.json?["live"]?.stringValue == "v1", "\(reload.text)")
        let (second, secondBad) = PaymentStream.lines(count: 300, seed: 22)
        try Daemon.produce(second.map { $0.replacingOccurrences(of: #""event_id":"e-"#, with: #""event_id":"f-"#) }, topic: input)
        let total = 600 - firstBad - secondBad
        records = try Daemon.read(decisions, count: total, timeout: 60).compactMap { try? JSONReader.parse($0.value) }
        #expect(records.count == total)
        for r in records.suffix(300 - secondBad) {
            let big = (r["features"]?["amount"]?.numberValue ?? 0) > 900
            #expect(r["decided_by"]?.stringValue == (big ? "rule:big_amount" : "model"))
            #expect(r["model_version"]?.stringValue == "v1")
            #expect(r["score"]?.numberValue != nil)
        }
        #expect(try HTTPClient.call("GET", "\(base)/readyz").status == 200)
    }
}

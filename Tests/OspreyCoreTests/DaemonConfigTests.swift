import Foundation
import OspreyFeatures
import OspreyModel
import Testing
@testable import OspreyCore

@Suite("Daemon configuration")
struct DaemonConfigTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func example(_ name: String) -> (path: String, yaml: String) {
        let path = root.appendingPathComponent("Deploy/examples/\(name)/osprey.yaml").path
        return (path, try! String(contentsOfFile: path, encoding: .utf8))
    }

    @Test("the examples load, and their models fit their feature specs")
    func examples() throws {
        for name in ["payments", "clicks"] {
            let (path, yaml) = Self.example(name)
            let config = try DaemonConfig.load(path: path, yaml: yaml, environment: [:])
            #expect(config.output.topic == "\(name)-decisions")
            #expect(config.output.deadLetterTopic == "\(name)-dlq")
            let start = try ModelManager.initial(config: config) { _ in }
            #expect(start.lineup.live?.version == "v1")
            #expect(start.lineup.live?.metadata?.reference?.features?.count == config.spec.eventTypes[0].features.count)
        }
    }

    @Test("every topic the examples use is defined in Topics/topics.conf, with an existing schema")
    func topicsAreDefined() throws {
        let conf = try String(contentsOf: Self.root.appendingPathComponent("Topics/topics.conf"), encoding: .utf8)
        var defined: [String: String] = [:]
        for line in conf.split(separator: "\n") where !line.hasPrefix("#") {
            let cells = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard cells.count == 5 else { continue }
            #expect(Int(cells[1]) != nil && Int(cells[2]) != nil && ["delete", "compact"].contains(cells[3]), "bad line: \(line)")
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("Topics/\(cells[4])").path), "missing \(cells[4])")
            defined[cells[0]] = cells[4]
        }
        for name in ["payments", "clicks"] {
            let (path, yaml) = Self.example(name)
            let config = try DaemonConfig.load(path: path, yaml: yaml, environment: [:])
            for type in config.spec.eventTypes {
                #expect(defined[type.topic] == URL(fileURLWithPath: type.schemaPath ?? "").lastPathComponent)
            }
            #expect(defined[config.output.topic] == "decisions.schema.json")
            #expect(defined[config.output.deadLetterTopic] != nil)
        }
    }

    @Test("environment variables override the file, and bad values are named")
    func environmentOverrides() throws {
        let (path, yaml) = Self.example("payments")
        let config = try DaemonConfig.load(path: path, yaml: yaml, environment: [
            "OSPREY_KAFKA_BOOTSTRAP": "k1:9092,k2:9092", "OSPREY_GROUP_ID": "g", "OSPREY_INPUT_TOPICS": "pay-in",
            "OSPREY_OUTPUT_TOPIC": "out", "OSPREY_DLQ_TOPIC": "dlq", "OSPREY_HTTP_PORT": "9000",
            "OSPREY_CHECKPOINT_DIR": "/var/lib/osprey", "OSPREY_MODEL": "/models/m.json",
            "OSPREY_KAFKA_PROPERTY_SECURITY_PROTOCOL": "ssl", "OSPREY_GROUP_INSTANCE_ID": "osprey-0",
        ])
        #expect(config.kafka.bootstrap == "k1:9092,k2:9092")
        #expect(config.kafka.groupID == "g")
        #expect(config.kafka.groupInstanceID == "osprey-0")
        #expect(config.spec.eventTypes[0].topic == "pay-in")
        #expect(config.output.topic == "out" && config.output.deadLetterTopic == "dlq")
        #expect(config.http.port == 9000)
        #expect(config.state.checkpointDirectory == "/var/lib/osprey")
        #expect(config.model.path == "/models/m.json")
        #expect(config.kafka.properties.contains { $0 == ("security.protocol", "ssl") })

        do {
            _ = try DaemonConfig.load(path: path, yaml: yaml, environment: ["OSPREY_HTTP_PORT": "http", "OSPREY_INPUT_TOPICS": "a,b"])
            Issue.record("bad environment values were accepted")
        } catch {
            #expect(error.errors.map(\.path).sorted() == ["$OSPREY_INPUT_TOPICS", "http.port"])
            #expect(error.description.contains("(set by OSPREY_HTTP_PORT)"))
        }
    }

    @Test("a missing section is named with how to fix it")
    func missingSettings() {
        let (path, yaml) = Self.example("payments")
        let stripped = yaml.components(separatedBy: "\nkafka:")[0]
        do {
            _ = try DaemonConfig.load(path: path, yaml: stripped, environment: [:])
            Issue.record("accepted a config without kafka, output and model")
        } catch {
            let text = error.description
            #expect(text.contains("config output.topic: missing; name the topic decisions go to (or set OSPREY_OUTPUT_TOPIC)"))
            #expect(text.contains("config kafka.bootstrap: missing"))
            #expect(text.contains("config model.path: missing"))
        }
    }

    @Test("the decision policy: the highest threshold reached decides")
    func policy() {
        let policy = DecisionPolicy(thresholds: [("review", 0.5), ("decline", 0.9)], defaultOutcome: "approve")
        #expect(policy.outcome(for: 0.95) == "decline")
        #expect(policy.outcome(for: 0.9) == "decline")
        #expect(policy.outcome(for: 0.7) == "review")
        #expect(policy.outcome(for: 0.1) == "approve")
        #expect(policy.outcome(for: .nan) == "approve")
    }

    @Test("a model whose features differ from the spec is refused with the differences")
    func modelMismatch() throws {
        let (path, yaml) = Self.example("payments")
        let config = try DaemonConfig.load(path: path, yaml: yaml, environment: [:])
        let clicks = try GradientBoostedModel(contentsOfFile: Self.root.appendingPathComponent("Deploy/examples/clicks/models/clicks/v1/model.json").path)
        let problems = ModelCheck.problems(model: clicks, eventType: config.spec.eventTypes[0])
        #expect(problems.count == 1)
        #expect(problems[0].contains("missing from the model: amount, mcc"))
        #expect(problems[0].contains("not in the spec: price, action_code"))
    }

    @Test("JSON numbers read back to the same double; non-finite values are null")
    func jsonNumbers() {
        var json = JSONText()
        for v in [0.1, -0.0, 1e-5, 123456789.0, 1e300, .nan, .infinity, 5e-324, 41.68] {
            json.number(v)
            json.raw(",")
        }
        json.string("a\"b\\c\n\u{01}")
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"0.1,-0.0,1e-05,123456789,1e+300,null,null,5e-324,41.68,"a\"b\\c\n\u0001""#)
        // Long shortest forms (17 digits, subnormals, the extremes) print as
        // Swift's own description does, and read back to the same double.
        var bits: UInt64 = 0x0123_4567_89AB_CDEF
        var values: [Double] = [0.9734823498234123, -2.5e-310, 1.7976931348623157e308, -2.2250738585072014e-308, 123.45666666666668]
        for _ in 0..<2000 {
            bits = bits &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let v = Double(bitPattern: bits)
            if v.isFinite && v != v.rounded(.towardZero) { values.append(v) }
        }
        for v in values {
            var text = JSONText()
            text.number(v)
            let printed = String(decoding: text.bytes, as: UTF8.self)
            #expect(printed == v.description)
            #expect(Double(printed) == v)
        }
    }

    @Test("JSON integers print as Swift prints them, at every length and both extremes")
    func jsonIntegers() {
        var values: [Int64] = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, -1, -9, -10, -99, -100, .max, .min, .max - 1, .min + 1, 1_795_380_000_123]
        var power: Int64 = 1
        for _ in 0..<18 {
            power *= 10
            values += [power - 1, power, power + 1, -power + 1, -power, -power - 1]
        }
        var bits: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            bits = bits &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values.append(Int64(bitPattern: bits) >> Int64(bits % 60))
        }
        for v in values {
            var text = JSONText()
            text.integer(v)
            #expect(String(decoding: text.bytes, as: UTF8.self) == String(v))
        }
    }

    @Test("several instances are refused when features follow an entity other than the message key")
    func instancesAndPartitionLocalFeatures() throws {
        let (path, yaml) = Self.example("payments")
        let one = try DaemonConfig.load(path: path, yaml: yaml, environment: [:])
        #expect(one.spec.eventTypes[0].messageKeyField == "card_id")
        #expect(one.spec.eventTypes[0].partitionLocalFeatures == ["merchant_txn_count_1h", "merchant_amount_mean_7d"])
        do {
            _ = try DaemonConfig.load(path: path, yaml: yaml, environment: ["OSPREY_INSTANCES": "2"])
            Issue.record("two instances accepted with merchant features on a card-keyed topic")
        } catch {
            #expect(error.errors.map(\.path) == ["deployment.instances"])
            #expect(error.description.contains("merchant_txn_count_1h, merchant_amount_mean_7d"))
        }
        let accepted = yaml.replacingOccurrences(of: "    topic: payments\n", with: "    topic: payments\n    partition_local: true\n")
        #expect(try DaemonConfig.load(path: path, yaml: accepted, environment: ["OSPREY_INSTANCES": "3"]).instances == 3, "per-partition values accepted explicitly")
        let cardOnly = yaml.replacingOccurrences(of: "entity: merchant_id", with: "entity: card_id")
        let scaled = try DaemonConfig.load(path: path, yaml: cardOnly + "\ndeployment:\n  instances: 4\n", environment: [:])
        #expect(scaled.instances == 4)
    }

    @Test("exactly-once needs a stable transactional id and paired checkpoints")
    func exactlyOnceSettings() throws {
        let (path, yaml) = Self.example("payments")
        do {
            _ = try DaemonConfig.load(path: path, yaml: yaml, environment: ["OSPREY_EXACTLY_ONCE": "true"])
            Issue.record("exactly-once accepted without a transactional id")
        } catch {
            #expect(error.errors.map(\.path) == ["output.transactional_id"])
        }
        let withInstance = try DaemonConfig.load(path: path, yaml: yaml, environment: ["OSPREY_EXACTLY_ONCE": "true", "OSPREY_GROUP_INSTANCE_ID": "osprey-0"])
        #expect(withInstance.output.transactionalID == "osprey-osprey-payments-osprey-0")
        let noKeep = yaml.replacingOccurrences(of: "keep: 3", with: "keep: 1")
        do {
            _ = try DaemonConfig.load(path: path, yaml: noKeep, environment: ["OSPREY_EXACTLY_ONCE": "1", "OSPREY_TRANSACTIONAL_ID": "t"])
            Issue.record("exactly-once accepted with a single kept checkpoint")
        } catch {
            #expect(error.errors.map(\.path) == ["checkpoints.keep"])
        }
    }

    @Test("any single-value setting in the file can be replaced from the environment, and a bad one names its variable")
    func genericOverrides() throws {
        let (path, yaml) = Self.example("payments")
        let config = try DaemonConfig.load(path: path, yaml: yaml, environment: [
            "OSPREY_OUTPUT_REASONS": "5", "OSPREY_CHECKPOINTS_KEEP": "7", "OSPREY_STATE_MEMORY_BUDGET": "1GiB",
            "OSPREY_KAFKA_CONSUMER_PROPERTIES_FETCH_WAIT_MAX_MS": "2", "OSPREY_DECISION_DEFAULT": "allow",
        ])
        #expect(config.output.reasons == 5)
        #expect(config.state.checkpointKeep == 7)
        #expect(config.state.memoryBudget == 1 << 30)
        #expect(config.kafka.consumerProperties.contains { $0 == ("fetch.wait.max.ms", "2") })
        #expect(config.policy.defaultOutcome == "allow")
        do {
            _ = try DaemonConfig.load(path: path, yaml: yaml, environment: ["OSPREY_CHECKPOINTS_INTERVAL": "soon"])
            Issue.record("accepted a bad interval from the environment")
        } catch {
            #expect(error.description.contains("config checkpoints.interval: 'soon' is not a duration"))
            #expect(error.description.contains("(set by OSPREY_CHECKPOINTS_INTERVAL)"))
        }
    }
}

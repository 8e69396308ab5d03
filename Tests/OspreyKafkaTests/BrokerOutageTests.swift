import Foundation
import OspreyJSON
import OspreyKafka
import Testing

/// A broker of the test's own that it can kill and restart while Osprey runs.
/// With `schemas`, Tansu validates what is produced to a topic against the
/// JSON Schema named after it there (and refuses what does not conform).
final class PrivateBroker {
    let port = HTTPClient.freePort()
    let schemas: URL?
    var process: Process?
    var address: String { "127.0.0.1:\(port)" }

    init(schemas: URL? = nil) { self.schemas = schemas }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(TestBroker.tansu, "OSPREY_TANSU is not set; run Deploy/scripts/test.sh"))
        process.arguments = ["broker", "--listener-url", "tcp://\(address)", "--advertised-listener-url", "tcp://\(address)"]
        if let schemas {
            // Tansu reads a file:// registry relative to its working directory.
            process.currentDirectoryURL = schemas.deletingLastPathComponent()
            process.arguments! += ["--schema-registry", "file://./\(schemas.lastPathComponent)"]
        }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<100 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = in_port_t(UInt16(port).bigEndian)
            sin.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            close(fd)
            if connected == 0 { return }
            usleep(100_000)
        }
        Issue.record("the private broker did not start")
    }

    func createTopics(_ names: [String], partitions: Int = 1) throws {
        for name in names {
            let create = Process()
            create.executableURL = URL(fileURLWithPath: try #require(TestBroker.tansu))
            create.arguments = ["topic", "create", name, "--partitions", "\(partitions)", "--broker", "tcp://\(address)"]
            create.standardOutput = FileHandle.nullDevice
            create.standardError = FileHandle.nullDevice
            try create.run()
            create.waitUntilExit()
        }
    }

    func kill() {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    deinit { kill() }
}

@Suite("Broker outage", .enabled(if: TestBroker.enabled, "no broker: run Deploy/scripts/test.sh"), .serialized)
struct BrokerOutageTests {
    @Test("the broker is gone for 30 s and comes back: Osprey stays up, reports not ready with the reason, then resumes and decides new events; SIGTERM still exits 0")
    func brokerRestart() throws {
        let broker = PrivateBroker()
        try broker.start()
        let topics = ["out-payments", "out-decisions", "out-dlq"]
        try broker.createTopics(topics)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-outage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = HTTPClient.freePort()
        let base = "http://127.0.0.1:\(port)"
        let log = directory.appendingPathComponent("osprey.log")
        let process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: [
            "OSPREY_KAFKA_BOOTSTRAP": broker.address, "OSPREY_GROUP_ID": "osprey-outage",
            "OSPREY_INPUT_TOPICS": topics[0], "OSPREY_OUTPUT_TOPIC": topics[1], "OSPREY_DLQ_TOPIC": topics[2],
            "OSPREY_CHECKPOINT_DIR": directory.appendingPathComponent("checkpoints").path, "OSPREY_CHECKPOINT_INTERVAL": "1s",
            "OSPREY_HTTP_PORT": "\(port)",
        ], log: log)
        defer { kill(process.processIdentifier, SIGKILL) }

        func readyz() -> HTTPClient.Reply? { try? HTTPClient.call("GET", "\(base)/readyz") }

        let (first, firstBad) = PaymentStream.lines(count: 200, seed: 31)
        try Daemon.produce(first, topic: topics[0], bootstrap: broker.address)
        #expect(try Daemon.read(topics[1], count: 200 - firstBad, timeout: 60, bootstrap: broker.address).count == 200 - firstBad)
        #expect(waitFor(30) { readyz()?.status == 200 })

        // The broker goes away (Tansu keeps everything in memory: it comes back empty).
        broker.kill()
        let down = Date()
        #expect(waitFor(30) { readyz()?.status == 503 }, "not ready while the brokers are unreachable")
        #expect(readyz()?.text.contains("brokers unreachable") == true, "\(readyz()?.text ?? "")")
        #expect(HTTPClient.metric("osprey_broker_reachable", at: base) == 0)
        // 30 s without a broker, as an outage in production might last.
        while Date().timeIntervalSince(down) < 30 { sleep(1) }
        #expect(process.isRunning, "Osprey keeps running without a broker")
        #expect(try HTTPClient.call("GET", "\(base)/healthz").status == 200)

        try broker.start()
        try broker.createTopics(topics)
        let (second, secondBad) = PaymentStream.lines(count: 200, seed: 32)
        try Daemon.produce(second.map { $0.replacingOccurrences(of: #""event_id":"e-"#, with: #""event_id":"after-"#) }, topic: topics[0], bootstrap: broker.address)
        let decided = try Daemon.read(topics[1], count: 200 - secondBad, timeout: 90, bootstrap: broker.address)
        #expect(decided.count == 200 - secondBad, "every event produced after the restart is decided")
        #expect(waitFor(30) { readyz()?.status == 200 }, "ready again: \(readyz()?.text ?? "")")

        kill(process.processIdentifier, SIGTERM)
        #expect(waitFor(60) { !process.isRunning })
        #expect(process.terminationStatus == 0)
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.contains("brokers unreachable") && text.contains("brokers reachable again"))
        #expect(text.split(separator: "\n").count < 200, "Kafka errors are rate-limited in the log")
    }

    @Test("a commit when the broker has just died answers within its timeout instead of waiting for a broker to come back")
    func commitWithoutBroker() throws {
        let broker = PrivateBroker()
        try broker.start()
        try broker.createTopics(["commit-input"])
        try Daemon.produce((0..<10).map { "{\"n\":\($0)}" }, topic: "commit-input", bootstrap: broker.address)
        let consumer = try KafkaConsumer(
            properties: [("bootstrap.servers", broker.address), ("group.id", "commit-\(UUID().uuidString.prefix(8))")] + TestBroker.fastGroup,
            handlers: .init(assigned: { _ in [:] }, revoked: { _ in }, error: { _ in }))
        try consumer.subscribe(["commit-input"])
        var next: [TopicPartition: Int64] = [:]
        let deadline = Date().addingTimeInterval(30)
        while next.values.reduce(0, +) < 10 && Date() < deadline {
            consumer.poll(timeoutMs: 100) { next[TopicPartition(topic: $0.topic, partition: $0.partition)] = $0.offset + 1 }
        }
        #expect(next.values.reduce(0, +) == 10)
        try consumer.commit(next)

        broker.kill()
        // librdkafka's own synchronous commit would wait for the broker to
        // come back: bring it back after 15 s so that such a wait ends too.
        let restart = DispatchWorkItem { try? broker.start() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 15, execute: restart)
        let started = Date()
        #expect(throws: KafkaError.self) { try consumer.commit(next.mapValues { $0 - 5 }, timeoutMs: 1_000) }
        #expect(Date().timeIntervalSince(started) < 3, "answered after \(Date().timeIntervalSince(started)) s")
        restart.wait()
        consumer.close()
        broker.kill()
    }

    @Test("an input topic missing at start: Osprey waits, not ready, without crashing; once the topic exists it decides its events from the beginning")
    func inputTopicMissingAtStart() throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let input = "late-payments-\(suffix)"
        let output = try TestBroker.createTopic("late-decisions")
        let dlq = try TestBroker.createTopic("late-dlq")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-missing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = HTTPClient.freePort()
        let base = "http://127.0.0.1:\(port)"
        let process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: [
            "OSPREY_KAFKA_BOOTSTRAP": try TestBroker.address(), "OSPREY_GROUP_ID": "osprey-missing-\(suffix)",
            "OSPREY_INPUT_TOPICS": input, "OSPREY_OUTPUT_TOPIC": output, "OSPREY_DLQ_TOPIC": dlq,
            "OSPREY_CHECKPOINT_DIR": directory.appendingPathComponent("checkpoints").path, "OSPREY_HTTP_PORT": "\(port)",
        ], log: directory.appendingPathComponent("osprey.log"))
        defer { kill(process.processIdentifier, SIGKILL) }

        #expect(waitFor(30) { (try? HTTPClient.call("GET", "\(base)/healthz"))?.status == 200 })
        sleep(3)
        let waiting = try HTTPClient.call("GET", "\(base)/readyz")
        #expect(waiting.status == 503 && waiting.text.contains("no partitions assigned: the broker reports an unknown topic; does \(input) exist?"), "\(waiting.text)")
        #expect(process.isRunning)

        try TestBroker.createTopic(named: input, partitions: 3)
        let (lines, bad) = PaymentStream.lines(count: 300, seed: 41)
        try Daemon.produce(lines, topic: input)
        let decided = try Daemon.read(output, count: 300 - bad, timeout: 90)
        #expect(Set(decided.map { DaemonTests.eventID($0.value) }).count == 300 - bad, "every event of the late topic is decided")
        #expect(waitFor(30) { (try? HTTPClient.call("GET", "\(base)/readyz"))?.status == 200 })
        kill(process.processIdentifier, SIGTERM)
        #expect(waitFor(60) { !process.isRunning })
        #expect(process.terminationStatus == 0)
    }

    @Test("the broker refuses every decision: Osprey stays up, not ready with the broker's reason, replays with backoff and commits nothing; restarted with a writable output topic, it decides every event")
    func outputRefused() throws {
        let schemas = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-schemas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: schemas, withIntermediateDirectories: true)
        // Every decision is a JSON object; this topic accepts only null values.
        try Data(#"{"type": "object", "properties": {"value": {"type": "null"}}}"#.utf8).write(to: schemas.appendingPathComponent("refusing-decisions.json"))
        let broker = PrivateBroker(schemas: schemas)
        try broker.start()
        try broker.createTopics(["refused-payments"], partitions: 3)
        try broker.createTopics(["refusing-decisions", "writable-decisions"], partitions: 3)
        try broker.createTopics(["refused-dlq"])
        let directory = schemas.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = HTTPClient.freePort()
        let base = "http://127.0.0.1:\(port)"
        let log = directory.appendingPathComponent("osprey.log")
        var environment = [
            "OSPREY_KAFKA_BOOTSTRAP": broker.address, "OSPREY_GROUP_ID": "osprey-refused",
            "OSPREY_INPUT_TOPICS": "refused-payments", "OSPREY_OUTPUT_TOPIC": "refusing-decisions", "OSPREY_DLQ_TOPIC": "refused-dlq",
            "OSPREY_CHECKPOINT_DIR": directory.appendingPathComponent("checkpoints").path, "OSPREY_CHECKPOINT_INTERVAL": "1s",
            "OSPREY_HTTP_PORT": "\(port)",
        ]
        var process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: environment, log: log)
        defer { kill(process.processIdentifier, SIGKILL) }
        let (lines, bad) = PaymentStream.lines(count: 300, seed: 43)
        try Daemon.produce(lines, topic: "refused-payments", bootstrap: broker.address)

        func readyz() -> HTTPClient.Reply? { try? HTTPClient.call("GET", "\(base)/readyz") }
        #expect(waitFor(60) { readyz()?.text.contains("output failing delivery") == true }, "not ready, saying why: \(readyz()?.text ?? "")")
        #expect(readyz()?.status == 503)
        #expect(waitFor(30) { (HTTPClient.metric("osprey_output_replays_total", at: base) ?? 0) >= 2 }, "the stream replays from its checkpoints, more than once")
        #expect((HTTPClient.metric("osprey_delivery_errors_total", at: base) ?? 0) > 0)
        #expect(process.isRunning, "Osprey keeps running while its output is refused")
        kill(process.processIdentifier, SIGTERM)
        #expect(waitFor(60) { !process.isRunning })
        #expect(process.terminationStatus == 0)
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.contains("replaying from the last checkpoints in 1 s") && text.contains("replaying from the last checkpoints in 2 s"), "the backoff grows")
        #expect(text.split(separator: "\n").count < 200)

        // The operator points the output at a writable topic: nothing was committed, so every event is decided.
        environment["OSPREY_OUTPUT_TOPIC"] = "writable-decisions"
        process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: environment, log: log)
        let decided = try Daemon.read("writable-decisions", count: 300 - bad, timeout: 90, bootstrap: broker.address)
        #expect(Set(decided.map { DaemonTests.eventID($0.value) }).count == 300 - bad, "every event is decided after the fix")
        #expect(waitFor(30) { readyz()?.status == 200 }, "ready again: \(readyz()?.text ?? "")")
        kill(process.processIdentifier, SIGTERM)
        #expect(waitFor(60) { !process.isRunning })
        #expect(process.terminationStatus == 0)
    }
}

/// Polls `condition` every 250 ms for up to `seconds`.
func waitFor(_ seconds: TimeInterval, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(250_000)
    }
    return condition()
}

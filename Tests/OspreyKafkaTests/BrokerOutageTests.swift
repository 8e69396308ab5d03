import Foundation
import OspreyJSON
import Testing

/// A broker of the test's own that it can kill and restart while Osprey runs.
final class PrivateBroker {
    let port = HTTPClient.freePort()
    var process: Process?
    var address: String { "127.0.0.1:\(port)" }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(TestBroker.tansu, "OSPREY_TANSU is not set; run Deploy/scripts/test.sh"))
        process.arguments = ["broker", "--listener-url", "tcp://\(address)", "--advertised-listener-url", "tcp://\(address)"]
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

    func createTopics(_ names: [String]) throws {
        for name in names {
            let create = Process()
            create.executableURL = URL(fileURLWithPath: try #require(TestBroker.tansu))
            create.arguments = ["topic", "create", name, "--partitions", "1", "--broker", "tcp://\(address)"]
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
    @Test("the broker dies and comes back: Osprey stays up, reports not ready with the reason, then resumes and decides new events; SIGTERM still exits 0")
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

        func waitFor(_ seconds: TimeInterval, _ condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if condition() { return true }
                usleep(250_000)
            }
            return condition()
        }
        func readyz() -> HTTPClient.Reply? { try? HTTPClient.call("GET", "\(base)/readyz") }

        let (first, firstBad) = PaymentStream.lines(count: 200, seed: 31)
        try Daemon.produce(first, topic: topics[0], bootstrap: broker.address)
        #expect(try Daemon.read(topics[1], count: 200 - firstBad, timeout: 60, bootstrap: broker.address).count == 200 - firstBad)
        #expect(waitFor(30) { readyz()?.status == 200 })

        // The broker goes away (Tansu keeps everything in memory: it comes back empty).
        broker.kill()
        #expect(waitFor(30) { readyz()?.status == 503 }, "not ready while the brokers are unreachable")
        #expect(readyz()?.text.contains("brokers unreachable") == true, "\(readyz()?.text ?? "")")
        #expect(try HTTPClient.call("GET", "\(base)/metrics").text.contains("osprey_broker_reachable 0"))
        sleep(8)
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
}

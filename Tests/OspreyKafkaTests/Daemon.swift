import Foundation
import OspreyJSON
import OspreyKafka
import Testing

/// Runs the `osprey` executable built next to the tests, and reads topics back.
enum Daemon {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let paymentsConfig = root.appendingPathComponent("Deploy/examples/payments/osprey.yaml").path

    static let executable: String? = {
        var candidates: [URL] = []
        if let first = CommandLine.arguments.first, first.hasPrefix("/") { candidates.append(URL(fileURLWithPath: first).deletingLastPathComponent()) }
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" { candidates.append(bundle.bundleURL.deletingLastPathComponent()) }
        candidates.append(root.appendingPathComponent(".build/debug"))
        return candidates.map { $0.appendingPathComponent("osprey").path }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Starts `osprey arguments` with `environment` added; output goes to `log`.
    static func start(_ arguments: [String], environment: [String: String], log: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(executable, "build the package first"))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        return process
    }

    /// Runs `osprey arguments` to completion.
    static func run(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(executable, "build the package first"))
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A consumed record.
    struct Record {
        var value: [UInt8]
        var headers: [String: String]
        var partition: Int32
        var offset: Int64
    }

    /// Reads `topic` from the beginning until `count` records arrived or `timeout` passed.
    static func read(_ topic: String, count: Int, timeout: TimeInterval, committedOnly: Bool = false, bootstrap: String? = nil,
                     until done: (([Record]) -> Bool)? = nil) throws -> [Record] {
        let consumer = try KafkaConsumer(
            properties: [("bootstrap.servers", try bootstrap ?? TestBroker.address()), ("group.id", "reader-\(UUID().uuidString.prefix(8))"),
                         ("isolation.level", committedOnly ? "read_committed" : "read_uncommitted")] + TestBroker.fastGroup,
            handlers: .init(assigned: { _ in [:] }, revoked: { _ in }, error: { _ in }))
        try consumer.subscribe([topic])
        var records: [Record] = []
        let deadline = Date().addingTimeInterval(timeout)
        var checked = 0
        while records.count < count && Date() < deadline {
            let got = consumer.poll(timeoutMs: 200) { m in
                records.append(Record(value: Array(m.value), headers: headersOf(m), partition: m.partition, offset: m.offset))
            }
            if !got, let done, records.count != checked {
                checked = records.count
                if done(records) { break }
            }
        }
        consumer.close()
        return records
    }

    static func headersOf(_ m: ConsumedMessage) -> [String: String] { m.headers }

    /// Publishes lines to `topic`, keyed by the card id when the line has one.
    static func produce(_ lines: [String], topic: String, bootstrap: String? = nil) throws {
        let producer = try KafkaProducer(properties: [("bootstrap.servers", try bootstrap ?? TestBroker.address()), ("linger.ms", "5")])
        for line in lines {
            let key = line.range(of: #""card_id":"([^"]*)""#, options: .regularExpression).map { String(line[$0]) }
            try producer.produce(topic: topic, key: key.map { Array($0.utf8) }, value: Array(line.utf8))
        }
        #expect(producer.flush(timeoutMs: 30_000))
        #expect(producer.failed == 0)
    }
}

/// Payment events with late and broken ones, deterministic.
enum PaymentStream {
    static func lines(count: Int, seed: UInt64) -> (lines: [String], bad: Int) {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var lines: [String] = []
        var bad = 0
        var t: Int64 = 1_795_380_000_000
        for i in 0..<count {
            t += Int64(next() % 3000)
            var eventTime = t
            let r = next() % 100
            if r == 0 { eventTime -= Int64(next() % 60_000) }  // late, sometimes beyond the 30 s lateness
            let card = next() % 300
            let line = #"{"event_id":"e-\#(i)","event_time":\#(eventTime),"card_id":"c-\#(card)","merchant_id":"m-\#(next() % 40)","amount":\#(Double(next() % 100_000) / 100),"currency":"USD","country":"\#(next() % 5 == 0 ? "FR" : "US")","mcc":\#(5000 + next() % 20),"channel":"\#(["web", "app", "pos"][Int(next() % 3)])"}"#
            if r == 1 || r == 2 {
                bad += 1
                lines.append(r == 1 ? String(line.prefix(40)) : line.replacingOccurrences(of: #""amount":"#, with: #""amount":"x","y":"#))
            } else {
                lines.append(line)
            }
        }
        return (lines, bad)
    }
}

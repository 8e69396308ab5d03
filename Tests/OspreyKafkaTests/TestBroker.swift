import Foundation
import Testing

/// The Kafka-protocol broker the test command started (Tansu, see
/// Deploy/scripts/kafka-env.sh), found through the environment.
///
/// Under `Deploy/scripts/test.sh` (`OSPREY_REQUIRE_BROKER=1`) a missing broker
/// fails the tests; run alone without one, they are skipped and say why.
enum TestBroker {
    static let bootstrap = ProcessInfo.processInfo.environment["OSPREY_KAFKA_BOOTSTRAP"]
    static let tansu = ProcessInfo.processInfo.environment["OSPREY_TANSU"]
    static let required = ProcessInfo.processInfo.environment["OSPREY_REQUIRE_BROKER"] == "1"

    /// Whether broker tests run: always under the test command, else only with a broker.
    static let enabled = required || bootstrap != nil

    /// The bootstrap address, recording a failure if it is missing.
    static func address(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(bootstrap, "OSPREY_KAFKA_BOOTSTRAP is not set; run Deploy/scripts/test.sh, which starts a broker", sourceLocation: sourceLocation)
    }

    /// Creates a topic with a unique name and returns it.
    static func createTopic(_ prefix: String, partitions: Int = 1) throws -> String {
        let name = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        try createTopic(named: name, partitions: partitions)
        return name
    }

    /// Creates the topic `name`.
    static func createTopic(named name: String, partitions: Int) throws {
        try tansuTopic(["create", name, "--partitions", "\(partitions)"])
    }

    /// Deletes the topic `name`.
    static func deleteTopic(_ name: String) throws {
        try tansuTopic(["delete", name])
    }

    static func tansuTopic(_ arguments: [String]) throws {
        let tansu = try #require(tansu, "OSPREY_TANSU is not set; run Deploy/scripts/test.sh")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tansu)
        process.arguments = ["topic"] + arguments + ["--broker", "tcp://\(try address())"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "tansu topic \(arguments.joined(separator: " ")) failed")
    }

    /// Consumer settings that make group joins fast on Tansu.
    static let fastGroup: [(String, String)] = [
        ("session.timeout.ms", "6000"), ("heartbeat.interval.ms", "500"), ("fetch.wait.max.ms", "10"),
    ]
}

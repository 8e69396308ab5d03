import Foundation
import Testing
import OspreyKafka

/// The librdkafka wrapper against a real broker.
@Suite("Kafka client", .enabled(if: TestBroker.enabled, "no broker: run Deploy/scripts/test.sh"))
struct KafkaClientTests {
    @Test("produce with key and headers, consume in a group, commit, resume from the commit")
    func roundTrip() throws {
        let bootstrap = try TestBroker.address()
        let topic = try TestBroker.createTopic("roundtrip", partitions: 3)
        let producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "5")])
        for i in 0..<300 {
            try producer.produce(topic: topic, key: Array("k\(i % 7)".utf8), value: Array("v\(i)".utf8), headers: [("h", Array("x\(i)".utf8))])
        }
        #expect(producer.flush(timeoutMs: 10_000))
        #expect(producer.delivered == 300)
        #expect(producer.failed == 0)

        let group = "g-\(UUID().uuidString.prefix(8))"
        var assigned: [TopicPartition] = []
        func consume(_ count: Int, commitEvery: Bool) throws -> [String] {
            let consumer = try KafkaConsumer(
                properties: [("bootstrap.servers", bootstrap), ("group.id", group)] + TestBroker.fastGroup,
                handlers: .init(assigned: { assigned += $0; return [:] }, revoked: { _ in }, error: { _ in }))
            try consumer.subscribe([topic])
            var values: [String] = []
            var next: [TopicPartition: Int64] = [:]
            let deadline = Date().addingTimeInterval(30)
            while values.count < count && Date() < deadline {
                consumer.poll(timeoutMs: 100) { m in
                    values.append(String(decoding: m.value, as: UTF8.self))
                    next[TopicPartition(topic: m.topic, partition: m.partition)] = m.offset + 1
                }
            }
            if commitEvery { try consumer.commit(next) }
            consumer.close()
            return values
        }
        let first = try consume(100, commitEvery: true)
        #expect(first.count == 100)
        #expect(Set(assigned.map(\.partition)) == [0, 1, 2])
        let rest = try consume(200, commitEvery: false)
        #expect(rest.count == 200)
        #expect(Set(first).isDisjoint(with: rest))
        #expect(Set(first + rest) == Set((0..<300).map { "v\($0)" }))
    }

    @Test("a bad librdkafka property is refused by name")
    func badProperty() {
        #expect(throws: KafkaError.self) { _ = try KafkaProducer(properties: [("linger.ms", "soon")]) }
        do { _ = try KafkaProducer(properties: [("no.such.property", "1")]) } catch {
            #expect(error.description.contains("kafka property 'no.such.property'"))
        }
    }
}

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

    @Test("batch reads hand over every message in partition order without waiting; a wait ends when one message arrives")
    func batchReads() throws {
        let bootstrap = try TestBroker.address()
        let topic = try TestBroker.createTopic("batches", partitions: 2)
        let producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "5")])
        for i in 0..<2000 {
            try Array("\(i)".utf8).withUnsafeBytes { try producer.produce(topic: topic, partition: Int32(i % 2), key: nil, value: $0) }
        }
        #expect(producer.flush(timeoutMs: 10_000))
        let consumer = try KafkaConsumer(
            properties: [("bootstrap.servers", bootstrap), ("group.id", "g-\(UUID().uuidString.prefix(8))")] + TestBroker.fastGroup,
            handlers: .init(assigned: { _ in [:] }, revoked: { _ in }, error: { _ in }))
        try consumer.subscribe([topic])
        var offsets: [Int32: [Int64]] = [:]
        var values: [Int32: [Int]] = [:]
        var largestBatch = 0
        let deadline = Date().addingTimeInterval(30)
        while offsets.values.reduce(0, { $0 + $1.count }) < 2000 && Date() < deadline {
            var taken = consumer.drain(limit: 64) { m in
                offsets[m.partition, default: []].append(m.offset)
                values[m.partition, default: []].append(Int(String(decoding: m.value, as: UTF8.self))!)
            }
            if taken == 0 {
                taken = consumer.poll(timeoutMs: 100) { m in
                    offsets[m.partition, default: []].append(m.offset)
                    values[m.partition, default: []].append(Int(String(decoding: m.value, as: UTF8.self))!)
                } ? 1 : 0
            }
            #expect(taken <= 64)
            largestBatch = max(largestBatch, taken)
        }
        #expect(largestBatch > 1, "messages already fetched come in batches")
        for p in [Int32(0), 1] {
            #expect(offsets[p] == (0..<1000).map(Int64.init), "partition \(p): every offset once, in order")
            #expect(values[p] == Array(stride(from: Int(p), to: 2000, by: 2)))
        }

        // Nothing left: a batch read returns at once; a wait ends as soon as one message comes.
        let drainStarted = Date()
        #expect(consumer.drain(limit: 64) { _ in } == 0)
        #expect(Date().timeIntervalSince(drainStarted) < 1)
        let late = Thread {
            Thread.sleep(forTimeInterval: 0.3)
            let producer = try? KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "0")])
            try? Array("late".utf8).withUnsafeBytes { try producer?.produce(topic: topic, partition: 0, key: nil, value: $0) }
            _ = producer?.flush(timeoutMs: 5_000)
        }
        late.start()
        let started = Date()
        var got: [String] = []
        while got.isEmpty && Date().timeIntervalSince(started) < 20 {
            _ = consumer.poll(timeoutMs: 20_000) { got.append(String(decoding: $0.value, as: UTF8.self)) }
        }
        let waited = Date().timeIntervalSince(started)
        #expect(got == ["late"])
        #expect(waited < 5, "waited \(waited) s for one message with a 20 s timeout")
        consumer.close()
    }

    @Test("the key partitioners name the partition that librdkafka's default and murmur2 partitioners pick; the metadata gives the partition count")
    func keyPartitioners() throws {
        let bootstrap = try TestBroker.address()
        let keys = (0..<300).map { "c-\(String(format: "%06d", $0 * 337))" } + ["", "ü-ñ", String(repeating: "k", count: 200)]
        for (partitioner, pick) in [("consistent_random", KeyPartitioner.crc32), ("murmur2_random", KeyPartitioner.murmur2)] {
            let topic = try TestBroker.createTopic("keys-\(partitioner)", partitions: 7)
            let producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "5"), ("partitioner", partitioner)])
            for key in keys where !key.isEmpty {  // an empty key is placed at random
                try producer.produce(topic: topic, key: Array(key.utf8), value: Array(key.utf8), headers: [])
            }
            #expect(producer.flush(timeoutMs: 10_000))
            let consumer = try KafkaConsumer(
                properties: [("bootstrap.servers", bootstrap), ("group.id", "g-\(UUID().uuidString.prefix(8))")] + TestBroker.fastGroup,
                handlers: .init(assigned: { _ in [:] }, revoked: { _ in }, error: { _ in }))
            #expect(try consumer.partitionCount(of: topic) == 7)
            try consumer.subscribe([topic])
            var placed: [String: Int32] = [:]
            let deadline = Date().addingTimeInterval(30)
            while placed.count < keys.count - 1 && Date() < deadline {
                consumer.poll(timeoutMs: 100) { placed[String(decoding: $0.value, as: UTF8.self)] = $0.partition }
            }
            consumer.close()
            #expect(placed.count == keys.count - 1)
            #expect(Set(placed.values).count == 7, "the keys spread over every partition")
            for (key, partition) in placed {
                let predicted = Array(key.utf8).withUnsafeBytes { pick($0, 7) }
                #expect(predicted == partition, "\(partitioner): key \(key)")
            }
        }
    }

    @Test("a bad librdkafka property is refused by name")
    func badProperty() {
        #expect(throws: KafkaError.self) { _ = try KafkaProducer(properties: [("linger.ms", "soon")]) }
        do { _ = try KafkaProducer(properties: [("no.such.property", "1")]) } catch {
            #expect(error.description.contains("kafka property 'no.such.property'"))
        }
    }
}

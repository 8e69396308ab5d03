import CKafka
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A consumer-group member with cooperative rebalancing.
///
/// Owned by one thread: rebalance callbacks, errors and messages are all
/// delivered inside ``poll(timeoutMs:_:)`` on the caller's thread, so the
/// owner can restore or checkpoint partition state in the callbacks without locks.
public final class KafkaConsumer {
    /// What the owner does when partitions arrive or leave.
    public struct Handlers {
        /// Partitions newly assigned; return the offset to start each from
        /// (`nil`: the committed offset, else `auto.offset.reset`).
        public var assigned: ([TopicPartition]) -> [TopicPartition: Int64]
        /// Partitions about to be taken away: finish them (checkpoint, commit) now.
        public var revoked: ([TopicPartition]) -> Void
        /// A client-level error or warning (broker down, ...), for the log.
        public var error: (String) -> Void

        /// Creates handlers.
        public init(assigned: @escaping ([TopicPartition]) -> [TopicPartition: Int64], revoked: @escaping ([TopicPartition]) -> Void, error: @escaping (String) -> Void) {
            self.assigned = assigned
            self.revoked = revoked
            self.error = error
        }
    }

    let handle: OpaquePointer
    let context: ConsumerContext
    /// The consumer queue, for batch reads.
    let queue: OpaquePointer
    /// Room for one batch of message pointers.
    let batch: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    static var batchCapacity: Int { 1024 }
    /// The topic of the last message: messages come in runs from one topic.
    var lastTopic = ""
    /// Partitions currently assigned to this member.
    public var assignment: Set<TopicPartition> { context.assignment }

    /// Joins group `properties["group.id"]`. Cooperative-sticky assignment and
    /// no auto-commit are the defaults; `properties` may override anything.
    public init(properties: [(String, String)], handlers: Handlers) throws(KafkaError) {
        var all: [(String, String)] = [
            ("partition.assignment.strategy", "cooperative-sticky"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
        ]
        all += properties
        let conf = try makeConfiguration(all)
        let context = ConsumerContext(handlers: handlers)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
            guard let rk, let opaque else { return }
            Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue().rebalance(rk, err, partitions)
        }
        rd_kafka_conf_set_error_cb(conf) { _, err, reason, opaque in
            guard let opaque else { return }
            let text = "\(String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(err)))): \(reason.map { String(cString: $0) } ?? "")"
            Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue().handlers.error(text)
        }
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(message: String(cString: errstr), context: "creating the consumer")
        }
        handle = rk
        self.context = context
        rd_kafka_poll_set_consumer(rk)
        queue = rd_kafka_queue_get_consumer(rk)
        batch = .allocate(capacity: Self.batchCapacity)
    }

    deinit {
        batch.deallocate()
        rd_kafka_queue_destroy(queue)
        rd_kafka_destroy(handle)
    }

    /// A handle that wakes a blocked ``poll(timeoutMs:_:)`` from another thread.
    public func makeWaker() -> KafkaWaker { KafkaWaker(queue: rd_kafka_queue_get_consumer(handle)) }

    /// Subscribes to `topics`.
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let err = rd_kafka_subscribe(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "subscribing to \(topics.joined(separator: ", "))") }
    }

    /// Waits up to `timeoutMs` for one message and hands it to `body` while its
    /// bytes are valid (they are freed when `body` returns). Returns `false` on timeout.
    @discardableResult
    public func poll(timeoutMs: Int32, _ body: (ConsumedMessage) -> Void) -> Bool {
        poll(timeoutMs: timeoutMs, body, then: {})
    }

    /// ``poll(timeoutMs:_:)``, then `finish` while the message's bytes are
    /// still valid (as for ``drain(limit:_:then:)``).
    @discardableResult
    public func poll(timeoutMs: Int32, _ body: (ConsumedMessage) -> Void, then finish: () -> Void) -> Bool {
        guard let message = rd_kafka_consumer_poll(handle, timeoutMs) else { return false }
        defer { rd_kafka_message_destroy(message) }
        deliver(message, body)
        finish()
        return true
    }

    /// Hands the messages librdkafka has already fetched, up to `limit`, to
    /// `body` one at a time, each while its bytes are valid, without waiting.
    /// Returns how many messages and events were taken (0 when none was ready).
    ///
    /// It never waits because librdkafka's batch read waits for a full batch
    /// until its timeout, which at a low event rate would hold the first event
    /// back; wait for the next message with ``poll(timeoutMs:_:)``. Note that a
    /// batch read, like any read, takes a pending ``KafkaWaker/wake()``: an
    /// owner that is woken for other work checks for it before waiting.
    public func drain(limit: Int, _ body: (ConsumedMessage) -> Void) -> Int {
        drain(limit: limit, body, then: {})
    }

    /// ``drain(limit:_:)``, then `finish`, before any of the messages is
    /// freed: a caller can keep the messages handed to `body` and finish
    /// them together (the stream scores a batch of events at once).
    public func drain(limit: Int, _ body: (ConsumedMessage) -> Void, then finish: () -> Void) -> Int {
        let count = max(Int(rd_kafka_consume_batch_queue(queue, 0, batch, min(max(limit, 1), Self.batchCapacity))), 0)
        defer { for i in 0..<count { rd_kafka_message_destroy(batch[i]!) } }
        for i in 0..<count { deliver(batch[i]!, body) }
        if count > 0 { finish() }
        return count
    }

    /// Hands one consumed message (or error event) to `body`; the caller frees it.
    private func deliver(_ message: UnsafeMutablePointer<rd_kafka_message_t>, _ body: (ConsumedMessage) -> Void) {
        let m = message.pointee
        if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            if m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                context.handlers.error("\(String(cString: rd_kafka_err2name(m.err))): \(String(cString: rd_kafka_err2str(m.err)))")
            }
            return
        }
        body(ConsumedMessage(
            topic: topicName(m.rkt), partition: m.partition, offset: m.offset,
            key: m.key.map { UnsafeRawBufferPointer(start: $0, count: m.key_len) },
            value: UnsafeRawBufferPointer(start: m.payload, count: m.payload == nil ? 0 : m.len),
            timestamp: rd_kafka_message_timestamp(message, nil), raw: message))
    }

    /// The topic's name, made into a String only when it differs from the last
    /// message's (compared by name: a freed handle's address can come back).
    private func topicName(_ topic: OpaquePointer?) -> String {
        guard let topic, let name = rd_kafka_topic_name(topic) else { return "" }
        if lastTopic.withCString({ strcmp($0, name) }) != 0 { lastTopic = String(cString: name) }
        return lastTopic
    }

    /// Commits `offsets` (the next offset to read, per partition) and waits
    /// for the answer, for at most `timeoutMs`.
    ///
    /// librdkafka's synchronous commit waits for as long as no group
    /// coordinator answers: a broker that dies just before a commit would
    /// stall the caller's loop (and what it reports) until a broker is back.
    /// A commit that times out may still complete later; committing the same
    /// offsets again is harmless.
    public func commit(_ offsets: [TopicPartition: Int64], timeoutMs: Int32 = 2_000) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (tp, offset) in offsets {
            rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition).pointee.offset = offset
        }
        guard let queue = rd_kafka_queue_new(handle) else { throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, "committing offsets: no result queue") }
        // Destroying the queue before the answer is safe: librdkafka drops
        // what arrives on a queue its owner destroyed.
        defer { rd_kafka_queue_destroy(queue) }
        let err = rd_kafka_commit_queue(handle, list, queue, nil, nil)
        if err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "committing offsets") }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "committing offsets: no answer within \(timeoutMs) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        let result = rd_kafka_event_error(event)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR && result != RD_KAFKA_RESP_ERR__NO_OFFSET {
            throw KafkaError(result, "committing offsets")
        }
    }

    /// Moves assigned partitions to `offsets` (RD_KAFKA_OFFSET_BEGINNING is -2);
    /// messages already fetched for them are discarded.
    public func seek(_ offsets: [TopicPartition: Int64], timeoutMs: Int32 = 5_000) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (tp, offset) in offsets {
            rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition).pointee.offset = offset
        }
        if let error = rd_kafka_seek_partitions(handle, list, timeoutMs) {
            defer { rd_kafka_error_destroy(error) }
            throw KafkaError(rd_kafka_error_code(error), "seeking")
        }
        for i in 0..<Int(list.pointee.cnt) where list.pointee.elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(list.pointee.elems[i].err, "seeking \(String(cString: list.pointee.elems[i].topic))-\(list.pointee.elems[i].partition)")
        }
    }

    /// The partition's low and high watermarks (first offset held, next offset to be written).
    public func watermarks(_ tp: TopicPartition, timeoutMs: Int32 = 5_000) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_query_watermark_offsets(handle, tp.topic, tp.partition, &low, &high, timeoutMs)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "reading the watermarks of \(tp)") }
        return (low, high)
    }

    /// How many partitions `topic` has, from the broker's metadata.
    public func partitionCount(of topic: String, timeoutMs: Int32 = 5_000) throws(KafkaError) -> Int32 {
        guard let rkt = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError(rd_kafka_last_error(), "opening topic \(topic)")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, rkt, &metadata, timeoutMs)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "reading the metadata of \(topic)") }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard let metadata, metadata.pointee.topic_cnt == 1 else {
            throw KafkaError(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, "reading the metadata of \(topic)")
        }
        let entry = metadata.pointee.topics[0]
        if entry.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(entry.err, "reading the metadata of \(topic)") }
        return entry.partition_cnt
    }

    /// The group's committed offsets for `partitions` (absent: none committed).
    public func committed(_ partitions: [TopicPartition], timeoutMs: Int32 = 10_000) throws(KafkaError) -> [TopicPartition: Int64] {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for tp in partitions { rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition) }
        let err = rd_kafka_committed(handle, list, timeoutMs)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, "reading committed offsets") }
        var result: [TopicPartition: Int64] = [:]
        for i in 0..<Int(list.pointee.cnt) {
            let e = list.pointee.elems[i]
            if e.offset >= 0 { result[TopicPartition(topic: String(cString: e.topic), partition: e.partition)] = e.offset }
        }
        return result
    }

    /// The last watermarks librdkafka received for the partition (no request; -1 if unknown).
    public func cachedWatermarks(_ tp: TopicPartition) -> (low: Int64, high: Int64) {
        var low: Int64 = -1
        var high: Int64 = -1
        _ = rd_kafka_get_watermark_offsets(handle, tp.topic, tp.partition, &low, &high)
        return (low, high)
    }

    /// Stops fetching `partitions` (back-pressure) until ``resume(_:)``.
    public func pause(_ partitions: [TopicPartition]) { withList(partitions) { rd_kafka_pause_partitions(handle, $0) } }

    /// Resumes fetching `partitions`.
    public func resume(_ partitions: [TopicPartition]) { withList(partitions) { rd_kafka_resume_partitions(handle, $0) } }

    /// Leaves the group (revoking the assignment through the handlers) and closes.
    public func close() {
        rd_kafka_consumer_close(handle)
    }

    func withList(_ partitions: [TopicPartition], _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> rd_kafka_resp_err_t) {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for tp in partitions { rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition) }
        _ = body(list)
    }
}

/// A message as consumed; its buffers are valid only inside the poll callback.
public struct ConsumedMessage {
    /// Where the message comes from.
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    /// The key and value bytes (owned by librdkafka; valid until the poll or
    /// drain that handed the message out returns).
    public let key: UnsafeRawBufferPointer?
    public let value: UnsafeRawBufferPointer
    /// The message timestamp (epoch ms), -1 if none.
    public let timestamp: Int64
    let raw: UnsafeMutablePointer<rd_kafka_message_t>

    /// The message headers (read on demand; the last value wins for a repeated name).
    public var headers: [String: String] {
        var list: OpaquePointer?
        guard rd_kafka_message_headers(raw, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [:] }
        var result: [String: String] = [:]
        var index = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            if let name {
                result[String(cString: name)] = value.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: size), as: UTF8.self) } ?? ""
            }
            index += 1
        }
        return result
    }
}

/// State the C callbacks reach through the client's opaque pointer.
final class ConsumerContext {
    let handlers: KafkaConsumer.Handlers
    var assignment: Set<TopicPartition> = []

    init(handlers: KafkaConsumer.Handlers) { self.handlers = handlers }

    func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) } == "COOPERATIVE"
        var list: [TopicPartition] = []
        if let partitions {
            for i in 0..<Int(partitions.pointee.cnt) {
                let p = partitions.pointee.elems[i]
                list.append(TopicPartition(topic: String(cString: p.topic), partition: p.partition))
            }
        }
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let offsets = handlers.assigned(list)
            if let partitions {
                for i in 0..<Int(partitions.pointee.cnt) {
                    if let offset = offsets[list[i]] { partitions.pointee.elems[i].offset = offset }
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    handlers.error("incremental assign failed: \(String(cString: rd_kafka_error_string(error)))")
                    rd_kafka_error_destroy(error)
                }
            } else {
                rd_kafka_assign(rk, partitions)
            }
            assignment.formUnion(list)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            handlers.revoked(list)
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) {
                    handlers.error("incremental unassign failed: \(String(cString: rd_kafka_error_string(error)))")
                    rd_kafka_error_destroy(error)
                }
            } else {
                rd_kafka_assign(rk, nil)
            }
            assignment.subtract(list)
        default:
            handlers.error("rebalance error: \(String(cString: rd_kafka_err2str(err)))")
            rd_kafka_assign(rk, nil)
            assignment.removeAll()
        }
    }
}

/// Wakes the consumer's poll from any thread (`rd_kafka_queue_yield` is
/// thread-safe), so work handed to the polling thread is picked up at once.
public final class KafkaWaker: @unchecked Sendable {
    // @unchecked: the queue pointer is only passed to rd_kafka_queue_yield,
    // which librdkafka documents as callable from any thread.
    let queue: OpaquePointer?

    init(queue: OpaquePointer?) { self.queue = queue }

    deinit { if let queue { rd_kafka_queue_destroy(queue) } }

    /// Makes the current or next poll return early.
    public func wake() { if let queue { rd_kafka_queue_yield(queue) } }
}

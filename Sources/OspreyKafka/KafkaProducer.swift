import CKafka

/// An idempotent Kafka producer.
///
/// Messages are copied when enqueued. Delivery reports are served by ``poll(timeoutMs:)``
/// and ``flush(timeoutMs:)`` on the calling thread and counted; a message that
/// cannot be delivered (after librdkafka's retries) is counted as failed with
/// its error kept in ``lastDeliveryError``. Owned by one thread.
public final class KafkaProducer {
    let handle: OpaquePointer
    let reports: DeliveryReports
    /// Topic handles by name, created on first use. Naming the topic per message
    /// instead made librdkafka find it under a lock (and Swift copy the name to
    /// a C string) for every message. Producers write to one or two topics.
    var topics: [(name: String, handle: OpaquePointer)] = []

    /// Messages acknowledged by the broker.
    public var delivered: UInt64 { reports.delivered }
    /// Messages that could not be delivered.
    public var failed: UInt64 { reports.failed }
    /// The last delivery error, if any.
    public var lastDeliveryError: String? { reports.lastError }

    /// Creates a producer. `properties` are librdkafka settings; idempotence is
    /// on unless they turn it off.
    public init(properties: [(String, String)]) throws(KafkaError) {
        var all: [(String, String)] = [("enable.idempotence", "true")]
        all += properties
        let conf = try makeConfiguration(all)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let opaque, let message else { return }
            let reports = Unmanaged<DeliveryReports>.fromOpaque(opaque).takeUnretainedValue()
            if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                reports.delivered += 1
            } else {
                reports.failed += 1
                reports.lastError = String(cString: rd_kafka_err2str(message.pointee.err))
            }
        }
        // The callbacks' opaque: the producer owns it and outlives the handle.
        let reports = DeliveryReports()
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(reports).toOpaque())
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(message: String(cString: errstr), context: "creating the producer")
        }
        handle = rk
        self.reports = reports
    }

    deinit {
        rd_kafka_flush(handle, 2_000)
        for topic in topics { rd_kafka_topic_destroy(topic.handle) }
        rd_kafka_destroy(handle)
    }

    /// The handle of `name`, created with the producer's topic settings on first use.
    func topic(_ name: String) throws(KafkaError) -> OpaquePointer {
        for topic in topics where topic.name == name { return topic.handle }
        guard let created = rd_kafka_topic_new(handle, name, nil) else {
            throw KafkaError(rd_kafka_last_error(), "creating a handle for topic \(name)")
        }
        topics.append((name, created))
        return created
    }

    /// Enqueues a message. When librdkafka's queue is full, serves delivery
    /// reports and retries (back-pressure) rather than dropping.
    public func produce(topic: String, partition: Int32 = RD_KAFKA_PARTITION_UA, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, headers: [(String, [UInt8])] = []) throws(KafkaError) {
        let topicHandle = try self.topic(topic)
        while true {
            var headerList: OpaquePointer?
            if !headers.isEmpty {
                headerList = rd_kafka_headers_new(headers.count)
                for (name, bytes) in headers {
                    bytes.withUnsafeBytes { _ = rd_kafka_header_add(headerList, name, -1, $0.baseAddress, $0.count) }
                }
            }
            let err = ckafka_produce(handle, topicHandle, partition, key?.baseAddress, key?.count ?? 0, value.baseAddress, value.count, headerList)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            if let headerList { rd_kafka_headers_destroy(headerList) }
            if err == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                rd_kafka_poll(handle, 10)
                continue
            }
            throw KafkaError(err, "producing to \(topic)")
        }
    }

    /// Convenience for byte arrays.
    public func produce(topic: String, key: [UInt8]?, value: [UInt8], headers: [(String, [UInt8])] = []) throws(KafkaError) {
        var failure: KafkaError?
        value.withUnsafeBytes { v in
            if let key {
                key.withUnsafeBytes { k in
                    do throws(KafkaError) { try produce(topic: topic, key: k, value: v, headers: headers) } catch { failure = error }
                }
            } else {
                do throws(KafkaError) { try produce(topic: topic, key: nil, value: v, headers: headers) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    /// The fatal error that made this producer unusable, if any (an idempotent
    /// producer whose sequence the broker no longer knows, for instance); the
    /// remedy is a new producer.
    public var fatalError: String? {
        // Checked every loop turn: no allocation unless there is an error.
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 512) { buffer in
            buffer[0] = 0
            let err = rd_kafka_fatal_error(handle, buffer.baseAddress, buffer.count)
            return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : "\(String(cString: rd_kafka_err2name(err))): \(String(cString: buffer.baseAddress!))"
        }
    }

    /// Serves delivery reports for up to `timeoutMs`.
    public func poll(timeoutMs: Int32 = 0) { rd_kafka_poll(handle, timeoutMs) }

    /// Waits until every enqueued message is delivered or failed; returns false on timeout.
    public func flush(timeoutMs: Int32) -> Bool { rd_kafka_flush(handle, timeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR }

    /// Messages enqueued and not yet delivered or failed.
    public var queueLength: Int { Int(rd_kafka_outq_len(handle)) }
}

/// Delivery-report counters, updated by librdkafka's callback on the thread
/// that polls the producer (the producer's owner).
final class DeliveryReports {
    var delivered: UInt64 = 0
    var failed: UInt64 = 0
    var lastError: String?
}

// MARK: Transactions

extension KafkaProducer {
    /// Registers the producer's `transactional.id` with the broker (fencing older
    /// producers with the same id) and starts the first transaction.
    public func startTransactions(timeoutMs: Int32 = 30_000) throws(KafkaError) {
        try check(rd_kafka_init_transactions(handle, timeoutMs), "initialising transactions")
        try check(rd_kafka_begin_transaction(handle), "beginning a transaction")
    }

    /// Adds the consumer's `offsets` (next offsets to read) to the open
    /// transaction, commits it, and begins the next one: the messages produced
    /// since the last commit and the input progress become visible together.
    public func commitTransaction(offsets: [TopicPartition: Int64], consumer: KafkaConsumer, timeoutMs: Int32 = 30_000) throws(KafkaError) {
        if !offsets.isEmpty {
            let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for (tp, offset) in offsets {
                rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition).pointee.offset = offset
            }
            let metadata = rd_kafka_consumer_group_metadata(consumer.handle)
            defer { rd_kafka_consumer_group_metadata_destroy(metadata) }
            try check(rd_kafka_send_offsets_to_transaction(handle, list, metadata, timeoutMs), "sending offsets to the transaction")
        }
        try check(rd_kafka_commit_transaction(handle, timeoutMs), "committing the transaction")
        try check(rd_kafka_begin_transaction(handle), "beginning a transaction")
    }

    /// Aborts the open transaction (its messages are never visible to
    /// read_committed consumers).
    public func abortTransaction(timeoutMs: Int32 = 30_000) throws(KafkaError) {
        try check(rd_kafka_abort_transaction(handle, timeoutMs), "aborting the transaction")
    }

    private func check(_ error: OpaquePointer?, _ context: String) throws(KafkaError) {
        guard let error else { return }
        defer { rd_kafka_error_destroy(error) }
        throw KafkaError(message: String(cString: rd_kafka_error_string(error)), context: context)
    }
}

import CKafka

/// An error from librdkafka, with what Osprey was doing.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// librdkafka's error code (`rd_kafka_resp_err_t`), or -1 for configuration errors.
    public let code: Int32
    /// librdkafka's text for the code, or the configuration problem.
    public let message: String
    /// What Osprey was doing ("subscribing to payments").
    public let context: String

    init(_ code: rd_kafka_resp_err_t, _ context: String) {
        self.code = code.rawValue
        message = String(cString: rd_kafka_err2str(code))
        self.context = context
    }

    init(message: String, context: String) {
        code = -1
        self.message = message
        self.context = context
    }

    public var description: String { "\(context): \(message)" }
}

/// A topic and partition.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition number.
    public var partition: Int32

    /// Creates a pair.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)-\(partition)" }
}

/// Builds a librdkafka configuration; every property is checked by librdkafka
/// and a refused one is reported by name with librdkafka's reason.
func makeConfiguration(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
    let conf = rd_kafka_conf_new()!
    // librdkafka would print its own log lines on stderr; errors reach the
    // owner through the error callback instead, where they are rate-limited.
    rd_kafka_conf_set_log_cb(conf, nil)
    var errstr = [CChar](repeating: 0, count: 512)
    for (key, value) in properties {
        let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
        if result != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            let reason = String(cString: errstr)
            throw KafkaError(message: reason.isEmpty ? "refused" : reason, context: "kafka property '\(key)'")
        }
    }
    return conf
}

import CKafka

/// The partitions that the usual producer partitioners send a message key to.
///
/// A request that carries no partition (an HTTP score) must find the partition
/// whose state holds its entity. Producers almost always use one of two keyed
/// partitioners: librdkafka's default (`consistent_random`: CRC-32 of the key)
/// or the Java client's (`murmur2`, also librdkafka's `murmur2_random`). Their
/// answers are the places to look first; a producer with another partitioner
/// only costs the caller a look at the other partitions. Keys are not empty
/// (a message without a key is placed at random).
public enum KeyPartitioner {
    /// The partition librdkafka's default partitioner picks for `key`.
    public static func crc32(_ key: UnsafeRawBufferPointer, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0 && key.count > 0)
        return rd_kafka_msg_partitioner_consistent(nil, key.baseAddress, key.count, partitionCount, nil, nil)
    }

    /// The partition the Java client's default partitioner picks for `key`.
    public static func murmur2(_ key: UnsafeRawBufferPointer, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0 && key.count > 0)
        return rd_kafka_msg_partitioner_murmur2(nil, key.baseAddress, key.count, partitionCount, nil, nil)
    }
}

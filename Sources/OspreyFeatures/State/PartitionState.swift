/// All feature state computed from one input partition.
///
/// Each partition's state is independent, so that it can be checkpointed,
/// moved to another instance and restored on its own when partitions are
/// reassigned. Entities are keyed by the entity field's value; an entity keyed
/// by a field other than the topic's message key (a merchant in a card-keyed
/// topic) sees the events of this partition only.
public struct PartitionState: Sendable, Equatable {
    /// The latest event time seen in this partition (`Int64.min`: none).
    public internal(set) var streamTime: Int64 = .min
    /// One table per entity kind of the plan.
    public internal(set) var tables: [EntityTable]
    /// Events applied to state.
    public internal(set) var appliedEvents: UInt64 = 0
    /// Events later than the allowed lateness: scored, not applied.
    public internal(set) var lateEvents: UInt64 = 0
    /// Entities reset because they were idle beyond their TTL.
    public internal(set) var expiredEntities: UInt64 = 0

    /// Empty state for `plan`.
    public init(plan: FeaturePlan) {
        tables = plan.kinds.map { _ in EntityTable() }
    }

    init(streamTime: Int64, tables: [EntityTable], applied: UInt64, late: UInt64, expired: UInt64) {
        self.streamTime = streamTime
        self.tables = tables
        appliedEvents = applied
        lateEvents = late
        expiredEntities = expired
    }

    /// Number of entities held, over all kinds.
    public var entityCount: Int { tables.reduce(0) { $0 + $1.count } }

    /// An estimate of the heap memory the state holds, in bytes: entity tables
    /// (keys, hash-table slots at the maximum load factor) and state buffers.
    public var approximateBytes: Int { tables.reduce(0) { $0 + $1.approximateBytes } }

    /// Removes the entities of `shard` (all kinds) idle beyond their TTL.
    ///
    /// Expired entities already read as empty (expiry is decided when an
    /// entity is next touched, from the stream time), so sweeping only returns
    /// memory; when and how often it runs never changes a feature value.
    public mutating func sweep(shard: Int, plan: FeaturePlan) -> Int {
        guard streamTime != .min else { return 0 }
        var removed = 0
        for k in tables.indices {
            let horizon = streamTime &- plan.kinds[k].ttl
            removed += tables[k].removeIdle(shard: shard, before: horizon)
        }
        return removed
    }
}

/// The entities of one kind, split into shards.
///
/// Shards make copy-on-write snapshots cheap for the hot path: after a
/// checkpoint captures the state, the first write to each shard copies that
/// shard only (1/64 of the table), so no single event pays for a full copy.
public struct EntityTable: Sendable, Equatable {
    /// Number of shards.
    public static let shardCount = 64

    var shards: [[String: EntityState]] = Array(repeating: [:], count: EntityTable.shardCount)
    /// Number of entities.
    public internal(set) var count = 0
    /// Words held by all entities' buffers (for the memory estimate).
    public internal(set) var wordCount = 0
    /// Bytes of keys too long to be stored inline in a `String` (over 15 bytes).
    var longKeyBytes = 0

    @inline(__always)
    static func shard(of key: String) -> Int {
        // FNV-1a over the key bytes: stable across processes, so a restored
        // checkpoint puts every entity back in the shard it came from.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return Int(truncatingIfNeeded: (h >> 32) ^ h) & (shardCount - 1)
    }

    /// The state of entity `key`, if held.
    public func entity(_ key: String) -> EntityState? { shards[Self.shard(of: key)][key] }

    /// All entities, shard by shard.
    public func forEach(_ body: (String, EntityState) throws -> Void) rethrows {
        for shard in shards { for (key, state) in shard { try body(key, state) } }
    }

    mutating func insertRestored(_ key: String, _ state: EntityState) {
        shards[Self.shard(of: key)][key] = state
        count += 1
        wordCount += state.words.count
        if key.utf8.count > 15 { longKeyBytes += key.utf8.count }
    }

    mutating func removeIdle(shard: Int, before horizon: Int64) -> Int {
        var removed = 0
        var words = 0
        var keyBytes = 0
        shards[shard] = shards[shard].filter { key, state in
            if state.clock < horizon {
                removed += 1
                words += state.words.count
                if key.utf8.count > 15 { keyBytes += key.utf8.count }
                return false
            }
            return true
        }
        count -= removed
        wordCount -= words
        longKeyBytes -= keyBytes
        return removed
    }

    /// An estimate of the heap memory this table holds, in bytes.
    public var approximateBytes: Int {
        // Per entity: a dictionary slot (16-byte key + 16-byte value) at a 3/4
        // load factor, and the word buffer's heap block (32-byte header,
        // rounded to 16 by malloc).
        count * (32 * 4 / 3 + 48) + wordCount * 8 + longKeyBytes
    }
}

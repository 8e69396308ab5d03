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

/// The state Osprey keeps for one entity (one card, one merchant, one user),
/// detached from its table: what checkpoints write and entity lookups return.
///
/// In the table the same words live in a block of the shard's arena and are
/// updated in place (see ``EntityWords``).
public struct EntityState: Sendable, Equatable {
    /// The latest event time applied to the entity (`Int64.min`: none yet).
    public internal(set) var clock: Int64
    /// Region lengths (two 32-bit lengths per word), then the regions (see ``Aggregator``).
    public internal(set) var words: [UInt64]

    /// An entity with no events.
    init(aggregators: [Aggregator]) {
        clock = .min
        var words = [UInt64](repeating: 0, count: EntityWords.headerWords(regions: aggregators.count))
        for (j, a) in aggregators.enumerated() { EntityWords.setRegionLength(a.emptyLength, region: j, in: &words) }
        for a in aggregators {
            for i in 0..<a.emptyLength {
                if case .last = a.kind, i == 0 { words.append(UInt64(bitPattern: .min)) } else { words.append(0) }
            }
        }
        self.words = words
    }

    /// Restores an entity from checkpointed parts.
    init(clock: Int64, words: [UInt64]) {
        self.clock = clock
        self.words = words
    }
}

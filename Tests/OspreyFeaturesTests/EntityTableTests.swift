import Testing
@testable import OspreyFeatures
import OspreyRandom

/// The entity table on its own: lookups by key bytes, blocks that grow and
/// move, sweeping and compaction, snapshots, and equality by content.
@Suite("Entity table")
struct EntityTableTests {
    /// Owns what ``kind`` points to.
    let owner: EntityKind
    var kind: KindProgram { owner.program }
    var emptyWords: [UInt64] { Array(kind.emptyWords) }

    init() throws {
        owner = try FeatureFixtures.plan().kinds[0]
    }

    /// Sets the entity's clock, creating it if needed; returns whether it existed.
    @discardableResult
    func touch(_ table: inout EntityTable, _ key: [UInt8], clock: Int64) -> Bool {
        key.withUnsafeBufferPointer { key in
            table.update(key, hash: table.hash(key), kind: kind) { entity in
                let existed = entity.clock != .min
                entity.clock = clock
                return existed
            }
        }
    }

    /// Appends `n` words (at most the kind's growth per call) to the last
    /// region, numbered from `first`.
    func grow(_ table: inout EntityTable, _ key: [UInt8], by n: Int, first: UInt64) {
        let last = kind.compiled.count - 1
        key.withUnsafeBufferPointer { key in
            table.update(key, hash: table.hash(key), kind: kind) { entity in
                let at = entity.count
                entity.insertWords(n, at: at, region: last)
                for i in 0..<n { entity.words[at + i] = first + UInt64(i) }
            }
        }
    }

    func key(_ i: Int) -> [UInt8] {
        // Lengths 0 to 40 and one of 300 bytes: keys that fill no word, part
        // of one, exactly one and several.
        let length = i == 41 ? 300 : i % 41
        return (0..<length).map { UInt8(97 + (i * 31 + $0 * 7) % 26) }
    }

    @Test("every entity is found again by its exact key bytes, whatever their length")
    func lookups() {
        var table = EntityTable()
        for i in 0..<20_000 { #expect(!touch(&table, key(i) + Array(String(i).utf8), clock: Int64(i))) }
        #expect(table.count == 20_000)
        for i in 0..<20_000 {
            let state = table.entity(String(decoding: key(i) + Array(String(i).utf8), as: UTF8.self))
            #expect(state?.clock == Int64(i))
            #expect(state?.words == emptyWords)
        }
        // A key one zero byte longer or one byte shorter is another key.
        #expect(table.entity(String(decoding: key(7) + Array("7".utf8) + [0], as: UTF8.self)) == nil)
        #expect(table.entity(String(decoding: key(7), as: UTF8.self)) == nil)
        var empty = EntityTable()
        #expect(!touch(&empty, [], clock: 5))
        #expect(touch(&empty, [], clock: 6))
        #expect(empty.count == 1 && empty.entity("")?.clock == 6)
    }

    @Test("entities that outgrow their blocks move with their words intact")
    func growth() {
        var table = EntityTable()
        let step = kind.maximumGrowth
        var expected: [[UInt64]] = Array(repeating: emptyWords, count: 8)
        for round in 0..<150 {
            for e in 0..<8 where (round + e) % 3 != 0 {
                let first = UInt64(round * 1000 + e * 100)
                grow(&table, Array("entity-\(e)".utf8), by: step, first: first)
                let last = kind.compiled.count - 1
                expected[e][last >> 1] += UInt64(step) << (UInt64(last & 1) << 5)  // its packed length
                expected[e] += (0..<step).map { first + UInt64($0) }
            }
        }
        for e in 0..<8 {
            let words = table.entity("entity-\(e)")?.words
            let same = words == expected[e]
            #expect(same, "entity \(e): \(words?.count ?? 0) words, \(expected[e].count) expected")
        }
        #expect(table.wordCount == expected.reduce(0) { $0 + $1.count })
    }

    @Test("an entity that shrank far below its block moves to one that fits, with its words intact")
    func shrinking() {
        var table = EntityTable()
        let last = kind.compiled.count - 1
        let names = (0..<200).map { Array("entity-\($0)".utf8) }
        let step = kind.maximumGrowth
        let added = 240 / step * step
        for name in names {
            for round in 0..<(added / step) { grow(&table, name, by: step, first: UInt64(round * step)) }
        }
        let grown = table.memory.blocks
        // The windows empty: all but the first 4 of the words added go.
        for name in names {
            name.withUnsafeBufferPointer { key in
                table.update(key, hash: table.hash(key), kind: kind) { entity in
                    entity.removeWords((entity.count - added + 4)..<entity.count, region: last)
                }
            }
        }
        #expect(table.memory.blocks * 4 < grown, "\(table.memory.blocks) of \(grown) bytes in blocks")
        let words = table.entity("entity-7")?.words
        #expect(words?.count == emptyWords.count + 4)
        #expect(words.map { Array($0.suffix(4)) } == [0, 1, 2, 3].map { UInt64($0) })
        #expect(table.wordCount == names.count * (emptyWords.count + 4))
        // And grows again from there.
        grow(&table, names[7], by: 2, first: 50)
        #expect(table.entity("entity-7")?.words.suffix(6).elementsEqual([0, 1, 2, 3, 50, 51]) == true)
    }

    @Test("compaction while entities grow slides their blocks down in place, and every entity keeps its words")
    func compactionWhileGrowing() {
        var table = EntityTable()
        var rng = SplitMix64(seed: 11)
        let names = (0..<12_000).map { key($0) + Array(String($0).utf8) }
        var appended = [[UInt64]](repeating: [], count: names.count)
        // Random entities grow a few words at a time: each growth past a size
        // class leaves a free block, and the free blocks of a shard pass an
        // eighth of its arena again and again.
        for step in 0..<120_000 {
            let i = rng.below(names.count)
            let n = 1 + rng.below(3)
            let first = UInt64(step) << 8
            grow(&table, names[i], by: n, first: first)
            appended[i] += (0..<n).map { first + UInt64($0) }
        }
        for (i, name) in names.enumerated() where !appended[i].isEmpty {
            let words = table.entity(String(decoding: name, as: UTF8.self))?.words ?? []
            #expect(words.count == emptyWords.count + appended[i].count && words.suffix(appended[i].count).elementsEqual(appended[i]), "entity \(i)")
        }
        // Compaction ran: the free blocks it leaves are at most a sixteenth of
        // each shard (or the 32 KiB below which it never runs), and the block
        // one update freed after that check; every word of an arena is in a
        // live block or a free one: none was lost.
        #expect(table.shards.allSatisfy { $0.freeWords <= max(4096, $0.arena.count / 16) + 128 })
        for shard in table.shards {
            let live = shard.slots.filter { $0 != 0 }.reduce(0) { $0 + BlockHeader.capacity(shard.arena[Int($1 & 0xFFFF_FFFF)]) }
            #expect(shard.arena.count - 1 == live + shard.freeWords)
        }
    }

    @Test("sweeping removes idle entities only, and compaction gives their memory back")
    func sweepAndCompaction() {
        var table = EntityTable()
        for i in 0..<10_000 {
            touch(&table, Array("card-\(i)".utf8), clock: Int64(i))
            grow(&table, Array("card-\(i)".utf8), by: kind.maximumGrowth, first: UInt64(i))
        }
        let before = table.approximateBytes
        #expect(table.shards.allSatisfy {
            $0.approximateBytes == EntityShard.bytes(arena: $0.arena.count, slots: $0.slots.count, freeHeads: $0.freeHeads.count)
        })
        var removed = 0
        for shard in 0..<EntityTable.shardCount { removed += table.removeIdle(shard: shard, before: 9_000) }
        #expect(removed == 9_000)
        #expect(table.count == 1_000)
        #expect(table.approximateBytes < before / 4, "\(table.approximateBytes) of \(before) bytes")
        // The figure each shard keeps follows its arrays through growth, sweeps and compaction.
        #expect(table.shards.allSatisfy {
            $0.approximateBytes == EntityShard.bytes(arena: $0.arena.count, slots: $0.slots.count, freeHeads: $0.freeHeads.count)
        })
        for i in 0..<10_000 {
            let state = table.entity("card-\(i)")
            #expect((state != nil) == (i >= 9_000), "card-\(i)")
            if let state { #expect(state.clock == Int64(i) && state.words.last == UInt64(i) + UInt64(kind.maximumGrowth) - 1) }
        }
        // The table keeps working after the index was rebuilt.
        for i in 0..<2_000 { touch(&table, Array("card-\(i)".utf8), clock: 1) }
        #expect(table.count == 3_000)
    }

    @Test("a copy is a snapshot: later updates to the original do not reach it")
    func snapshots() {
        var table = EntityTable()
        for i in 0..<1_000 { touch(&table, Array("c-\(i)".utf8), clock: 1) }
        let snapshot = table
        for i in 0..<1_000 { grow(&table, Array("c-\(i)".utf8), by: 2, first: 9) }
        for i in 1_000..<1_100 { touch(&table, Array("c-\(i)".utf8), clock: 2) }
        #expect(snapshot.count == 1_000)
        #expect(snapshot.entity("c-5")?.words == emptyWords)
        #expect(snapshot.entity("c-1050") == nil)
        #expect(table.entity("c-5")?.words.count == emptyWords.count + 2)
    }

    @Test("tables are equal by content, not by where the blocks sit")
    func equality() {
        var a = EntityTable()
        var b = EntityTable()
        for i in 0..<500 { touch(&a, Array("k\(i)".utf8), clock: Int64(i)) }
        for i in (0..<500).reversed() {
            grow(&b, Array("k\(i)".utf8), by: 2, first: 0)
            touch(&b, Array("k\(i)".utf8), clock: Int64(i))
        }
        #expect(a != b)
        for i in 0..<500 { grow(&a, Array("k\(i)".utf8), by: 2, first: 0) }
        #expect(a == b)
        touch(&b, Array("k7".utf8), clock: 8)
        #expect(a != b)
    }
}

import CPrefetch

/// The entities of one kind, split into shards.
///
/// Shards make copy-on-write snapshots cheap for the hot path: after a
/// checkpoint captures the state, the first write to each shard copies that
/// shard only (1/64 of the table), so no single event pays for a full copy.
public struct EntityTable: Sendable {
    /// Number of shards.
    public static let shardCount = 64

    var shards: [EntityShard] = Array(repeating: EntityShard(), count: EntityTable.shardCount)
    /// The seed of ``hash(_:)``, kept per table so that hashing reads no global.
    let seed = EntityTable.processSeed

    /// An empty table.
    public init() {}

    /// Number of entities.
    public var count: Int { shards.reduce(0) { $0 + $1.count } }

    /// Words of aggregate state held by all entities (region headers and regions).
    public var wordCount: Int { shards.reduce(0) { $0 + $1.dataWords } }

    /// The memory this table uses, in bytes: every shard's arena (entity
    /// blocks, free ones included) and slot array. Spare array capacity is not
    /// counted: it is reserved address space that is never touched.
    public var approximateBytes: Int { shards.reduce(0) { $0 + $1.approximateBytes } }

    /// Where the table's memory goes, in bytes.
    public var memory: (blocks: Int, free: Int, index: Int) {
        shards.reduce((0, 0, 0)) { ($0.0 + ($1.arena.count - $1.freeWords) * 8, $0.1 + $1.freeWords * 8, $0.2 + $1.slots.count * 8) }
    }

    /// The hash of an entity key. Seeded per process, so that keys chosen to
    /// collide cannot be prepared in advance; nothing persistent depends on it
    /// (checkpoints store keys, and a restore hashes them again).
    @inline(__always)
    func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 { Self.hash(key, seed: seed) }

    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>, seed: UInt64) -> UInt64 {
        @inline(__always) func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let product = a.multipliedFullWidth(by: b)
            return product.high ^ product.low
        }
        let n = key.count
        let bytes = UnsafeRawPointer(key.baseAddress ?? UnsafePointer(bitPattern: 8)!)
        var h = seed ^ UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15
        var i = 0
        while n - i >= 8 {
            h = fold(h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self), 0xA076_1D64_78BD_642F)
            i += 8
        }
        h = fold(h ^ tailWord(bytes, from: i, to: n) ^ 0xE703_7ED1_A0B4_28DB, 0x8EBC_6AF0_9C88_C6E3)
        return fold(h, 0x5899_65CC_7537_4CC3)
    }

    static let processSeed = UInt64.random(in: .min ... .max)

    /// Bytes `i..<n` (fewer than 8) of `bytes` as one word, zero-padded the way
    /// a block stores the end of its key (little-endian hosts).
    @inline(__always)
    static func tailWord(_ bytes: UnsafeRawPointer, from i: Int, to n: Int) -> UInt64 {
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        for j in i..<n {
            tail |= UInt64(bytes.load(fromByteOffset: j, as: UInt8.self)) << shift
            shift += 8
        }
        return tail
    }

    @inline(__always)
    static func shard(ofHash hash: UInt64) -> Int { Int(truncatingIfNeeded: hash >> 58) }

    /// Runs `body` on entity `key` in place, creating it (with no events) if absent.
    @inline(__always)
    mutating func update<R>(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64, kind: KindProgram, _ body: (inout EntityWords) -> R) -> R {
        shards[Self.shard(ofHash: hash)].update(key, hash: hash, kind: kind, body)
    }

    /// Starts loading the index slot where a lookup of `hash` begins. Only a
    /// hint to the CPU: it changes nothing and never faults. (Mutating only so
    /// that the shard is reached in place: a copy of it costs three retains.)
    @inline(__always)
    mutating func prefetchSlot(hash: UInt64) {
        shards[Self.shard(ofHash: hash)].prefetchSlot(hash: hash)
    }

    /// Starts loading the block of the entity with `hash`, found through its
    /// index slots, which should be in cache by then (``prefetchSlot(hash:)``
    /// some events earlier): reading them here would wait for memory.
    @inline(__always)
    mutating func prefetchBlock(hash: UInt64) {
        shards[Self.shard(ofHash: hash)].prefetchBlock(hash: hash)
    }

    /// Runs `body` on entity `key` for reading, or on `nil` when it is absent.
    /// The view must not be written through.
    @inline(__always)
    func read<R>(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64, _ body: (EntityWords?) -> R) -> R {
        shards.withUnsafeBufferPointer { $0[Self.shard(ofHash: hash)].read(key, hash: hash, body) }
    }

    /// Whether entity `key` (its UTF-8 bytes and their ``keyHash(_:)``) is held,
    /// expired or not, without copying its state.
    /// Looking one key up in several tables hashes it once.
    public func contains(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Bool {
        read(key, hash: hash) { $0 != nil }
    }

    /// The hash of an entity key's UTF-8 bytes, the same for every table of
    /// this process.
    public static func keyHash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        hash(key, seed: processSeed)
    }

    /// The state of entity `key`, if held.
    public func entity(_ key: String) -> EntityState? {
        var key = key
        return key.withUTF8 { bytes in
            read(bytes, hash: hash(bytes)) { view in
                view.map { EntityState(clock: $0.clock, words: Array(UnsafeBufferPointer(start: $0.words, count: $0.count))) }
            }
        }
    }

    /// All entities, shard by shard, as their key bytes, clock and words.
    func forEachBlock(_ body: (UnsafeBufferPointer<UInt8>, Int64, UnsafeBufferPointer<UInt64>) throws -> Void) rethrows {
        for shard in shards { try shard.forEachBlock(body) }
    }

    /// All entities, shard by shard.
    public func forEach(_ body: (String, EntityState) throws -> Void) rethrows {
        try forEachBlock { key, clock, words in
            try body(String(decoding: key, as: UTF8.self), EntityState(clock: clock, words: Array(words)))
        }
    }

    /// Adds an entity read from a checkpoint.
    mutating func insertRestored(_ key: UnsafeBufferPointer<UInt8>, clock: Int64, words: UnsafeBufferPointer<UInt64>) {
        let hash = hash(key)
        shards[Self.shard(ofHash: hash)].insert(key, hash: hash, clock: clock, words: words)
    }

    /// Removes the entities of `shard` whose clock is before `horizon`.
    mutating func removeIdle(shard: Int, before horizon: Int64) -> Int {
        shards[shard].removeIdle(before: horizon)
    }
}

extension EntityTable: Equatable {
    /// Tables are equal when they hold the same keys with the same state,
    /// wherever the blocks sit in memory.
    public static func == (lhs: EntityTable, rhs: EntityTable) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var equal = true
        lhs.forEachBlock { key, clock, words in
            guard equal else { return }
            equal = rhs.read(key, hash: rhs.hash(key)) { view in
                guard let view, view.clock == clock, view.count == words.count else { return false }
                return (0..<words.count).allSatisfy { view.words[$0] == words[$0] }
            }
        }
        return equal
    }
}

/// One shard of an ``EntityTable``: an open-addressing index over blocks in
/// one word arena.
///
/// A block holds one entity: a word packing its capacity, the number of state
/// words in use and the key length (see ``BlockHeader``), the clock, the key
/// bytes (zero-padded to whole words), then the state words (see
/// ``EntityWords``). Free blocks are kept per size class and linked through
/// their second word. Everything lives in two arrays, so copying a shard for a
/// snapshot is two buffer copies and no per-entity work, and an entity costs
/// no allocation of its own.
struct EntityShard: Sendable {
    /// Words before the key in a block.
    static let headerWords = 2

    /// Linear probing; 0: empty, else the key hash's low 32 bits (high half)
    /// and the block's offset in ``arena`` (low half).
    var slots: [UInt64] = []
    /// Word 0 is never a block, so an offset of 0 means none.
    var arena: [UInt64] = [0]
    /// The first free block of each size class (0: none).
    var freeHeads: [UInt32] = []
    var count = 0
    /// State words in use, over all entities.
    var dataWords = 0
    /// Words in free blocks.
    var freeWords = 0

    /// The shard's memory, kept up to date wherever the arrays change size
    /// (``noteSize()``): computed on demand, a status report read the counts
    /// of every shard's three arrays, a cache miss each, and took ~1.5% of the
    /// stream's time at 100k entities.
    private(set) var approximateBytes = Self.bytes(arena: 1, slots: 0, freeHeads: 0)

    static func bytes(arena: Int, slots: Int, freeHeads: Int) -> Int { arena * 8 + slots * 8 + freeHeads * 4 + 96 }

    /// Cache lines ``prefetchBlock(hash:)`` asks for: the average block's
    /// (header, clock, a two-word key, the average state), one more because
    /// blocks do not start on a line boundary, at most 16. Kept with the size
    /// rather than divided out for every event; it drifts slowly.
    private(set) var prefetchLines = 1

    mutating func noteSize() {
        approximateBytes = Self.bytes(arena: arena.count, slots: slots.count, freeHeads: freeHeads.count)
        prefetchLines = Swift.min(16, (Self.headerWords + 2 + dataWords / Swift.max(count, 1) + 15) >> 3)
    }

    // MARK: Lookup

    /// The slot holding `key`, or the empty slot where it would go, and the
    /// key's block (0: absent).
    @inline(__always)
    func find(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (slot: Int, block: Int) {
        guard !slots.isEmpty else { return (0, 0) }
        let tag = hash << 32
        let mask = slots.count - 1
        return slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBufferPointer { arena in
                var i = Int(truncatingIfNeeded: hash) & mask
                while true {
                    let slot = slots[i]
                    if slot == 0 { return (i, 0) }
                    if slot & 0xFFFF_FFFF_0000_0000 == tag {
                        let block = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF)
                        if BlockHeader.keyLength(arena[block]) == key.count, Self.sameKey(arena.baseAddress! + block + Self.headerWords, key) {
                            return (i, block)
                        }
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// Starts loading the index slot where a lookup of `hash` begins.
    @inline(__always)
    mutating func prefetchSlot(hash: UInt64) {
        slots.withUnsafeBufferPointer { slots in
            guard !slots.isEmpty else { return }
            osprey_prefetch(slots.baseAddress! + (Int(truncatingIfNeeded: hash) & (slots.count - 1)))
        }
    }

    /// Starts loading, for writing, the block whose slot carries `hash`'s tag
    /// (a tag shared by another key costs a useless load, nothing more):
    /// ``prefetchLines`` cache lines.
    @inline(__always)
    mutating func prefetchBlock(hash: UInt64) {
        slots.withUnsafeBufferPointer { slots in
            guard !slots.isEmpty else { return }
            let mask = slots.count - 1
            let tag = hash & 0xFFFF_FFFF
            var i = Int(truncatingIfNeeded: hash) & mask
            var slot = slots[i]
            while slot != 0 && slot >> 32 != tag {
                i = (i + 1) & mask
                slot = slots[i]
            }
            guard slot != 0 else { return }
            let lines = prefetchLines
            arena.withUnsafeBufferPointer { arena in
                let block = arena.baseAddress! + Int(truncatingIfNeeded: slot & 0xFFFF_FFFF)
                for line in 0..<lines { osprey_prefetch_write(block + line &* 8) }
            }
        }
    }

    @inline(__always)
    func read<R>(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64, _ body: (EntityWords?) -> R) -> R {
        let block = find(key, hash: hash).block
        guard block != 0 else { return body(nil) }
        return arena.withUnsafeBufferPointer { arena in
            let base = UnsafeMutablePointer(mutating: arena.baseAddress! + block)
            let view = EntityWords(words: base + Self.headerWords + Self.keyWords(key.count), count: BlockHeader.used(base[0]), clock: Int64(bitPattern: base[1]))
            return body(view)
        }
    }

    @inline(__always)
    static func keyWords(_ keyLength: Int) -> Int { (keyLength + 7) >> 3 }

    /// Whether a block's key words (zero-padded) hold `key`. Word compares,
    /// inline: for keys of a few bytes a call to memcmp costs more than the compare.
    @inline(__always)
    static func sameKey(_ stored: UnsafePointer<UInt64>, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = key.count
        guard n > 0 else { return true }
        let bytes = UnsafeRawPointer(key.baseAddress!)
        var i = 0
        var w = 0
        while n - i >= 8 {
            if stored[w] != bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
            w += 1
        }
        return i == n || stored[w] == EntityTable.tailWord(bytes, from: i, to: n)
    }

    // MARK: Updates

    /// Runs `body` on entity `key`, creating it if absent. In place when the
    /// block has room for the most one event can add; otherwise on a copy,
    /// stored back into a block that fits what the event left. Blocks
    /// therefore carry no room reserved for growth.
    @inline(__always)
    mutating func update<R>(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64, kind: KindProgram, _ body: (inout EntityWords) -> R) -> R {
        if wasteful { compact() }
        var (slot, block) = find(key, hash: hash)
        if block == 0 {
            (slot, block) = insert(key, hash: hash, clock: .min, words: kind.emptyWords)
        }
        let prefix = Self.headerWords + Self.keyWords(key.count)
        let header = arena[block]
        let used = BlockHeader.used(header)
        var growth = kind.maximumGrowth
        if kind.distinctRegions > 0 {
            growth += arena.withUnsafeBufferPointer { arena in
                EntityWords(words: UnsafeMutablePointer(mutating: arena.baseAddress! + block + prefix), count: used, clock: 0).extraGrowth(kind: kind)
            }
        }
        let capacity = BlockHeader.capacity(header)
        if capacity - prefix - used >= growth {
            let (result, count) = arena.withUnsafeMutableBufferPointer { arena in
                let base = arena.baseAddress! + block
                var view = EntityWords(words: base + prefix, count: used, clock: Int64(bitPattern: base[1]))
                let result = body(&view)
                base[0] = BlockHeader.make(capacity: capacity, used: view.count, keyLength: key.count)
                base[1] = UInt64(bitPattern: view.clock)
                return (result, view.count)
            }
            dataWords += count - used
            // Windows that emptied leave a block far larger than its words (an
            // entity back after a quiet day): move it to one that fits, here
            // and below, or a long-running table keeps every entity at its
            // busiest size.
            if Self.oversized(capacity: capacity, words: prefix + count) {
                move(block, slot: slot, keeping: prefix + count, room: prefix + count)
            }
            return result
        }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: used + growth) { scratch in
            let copy = scratch.baseAddress!
            var view = arena.withUnsafeBufferPointer { arena in
                copy.update(from: arena.baseAddress! + block + prefix, count: used)
                return EntityWords(words: copy, count: used, clock: Int64(bitPattern: arena[block + 1]))
            }
            let result = body(&view)
            if prefix + view.count > capacity || Self.oversized(capacity: capacity, words: prefix + view.count) {
                block = move(block, slot: slot, keeping: prefix, room: prefix + view.count)
            }
            arena.withUnsafeMutableBufferPointer { arena in
                let base = arena.baseAddress! + block
                (base + prefix).update(from: copy, count: view.count)
                base[0] = BlockHeader.make(capacity: BlockHeader.capacity(base[0]), used: view.count, keyLength: key.count)
                base[1] = UInt64(bitPattern: view.clock)
            }
            dataWords += view.count - used
            return result
        }
    }

    /// Adds a new entity; returns its slot and block.
    @discardableResult
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64, clock: Int64, words: UnsafeBufferPointer<UInt64>) -> (slot: Int, block: Int) {
        if (count + 1) * 4 > slots.count * 3 { resize(to: Swift.max(16, slots.count * 2)) }
        let keyWords = Self.keyWords(key.count)
        let block = allocate(Self.headerWords + keyWords + words.count)
        arena.withUnsafeMutableBufferPointer { arena in
            let base = arena.baseAddress! + block
            base[0] = BlockHeader.make(capacity: BlockHeader.capacity(base[0]), used: words.count, keyLength: key.count)
            base[1] = UInt64(bitPattern: clock)
            if keyWords > 0 {
                base[Self.headerWords + keyWords - 1] = 0  // the last key word's padding
                UnsafeMutableRawPointer(base + Self.headerWords).copyMemory(from: key.baseAddress!, byteCount: key.count)
            }
            (base + Self.headerWords + keyWords).update(from: words.baseAddress!, count: words.count)
        }
        let slot = find(key, hash: hash).slot
        slots[slot] = hash << 32 | UInt64(block)
        count += 1
        dataWords += words.count
        return (slot, block)
    }

    /// Whether a block of `capacity` words holding `words` should move to a
    /// smaller one: when it is 8 words and a quarter of its size above the
    /// size class that fits, so an entity whose size wavers around a class
    /// boundary (classes are an eighth apart above 64 words) does not move
    /// back and forth.
    @inline(__always)
    static func oversized(capacity: Int, words: Int) -> Bool {
        capacity - sizeClass(words).capacity >= Swift.max(8, capacity >> 2)
    }

    /// Moves a block to one of `room` words, copying its first `keeping` words.
    @discardableResult
    mutating func move(_ block: Int, slot: Int, keeping: Int, room: Int) -> Int {
        let moved = allocate(room)
        arena.withUnsafeMutableBufferPointer { arena in
            let base = arena.baseAddress!
            let capacity = BlockHeader.capacity(base[moved])
            (base + moved).update(from: base + block, count: keeping)
            base[moved] = BlockHeader.make(capacity: capacity, used: BlockHeader.used(base[moved]), keyLength: BlockHeader.keyLength(base[moved]))
        }
        release(block)
        slots[slot] = (slots[slot] & 0xFFFF_FFFF_0000_0000) | UInt64(moved)
        return moved
    }

    // MARK: Blocks

    /// Size classes: every size up to 64 words, then 8 steps per doubling,
    /// so a block wastes at most an eighth of its size.
    @inline(__always)
    static func sizeClass(_ words: Int) -> (index: Int, capacity: Int) {
        if words <= 64 { let c = Swift.max(1, words); return (c - 1, c) }
        let e = Int.bitWidth - 1 - (words - 1).leadingZeroBitCount
        let unit = 1 << (e - 3)
        let m = (words + unit - 1) / unit
        return (64 + (e - 6) * 8 + (m - 9), m * unit)
    }

    mutating func allocate(_ words: Int) -> Int {
        let (c, capacity) = Self.sizeClass(words)
        precondition(capacity <= BlockHeader.maximumCapacity, "an entity outgrew \(BlockHeader.maximumCapacity) words of state")
        if c < freeHeads.count, freeHeads[c] != 0 {
            let block = Int(freeHeads[c])
            freeHeads[c] = UInt32(truncatingIfNeeded: arena[block + 1])
            freeWords -= capacity
            arena[block] = UInt64(capacity)
            return block
        }
        let block = arena.count
        precondition(block + capacity <= Int(UInt32.max), "an entity shard outgrew 32 GiB")
        arena.append(contentsOf: repeatElement(0, count: capacity))
        arena[block] = UInt64(capacity)
        noteSize()
        return block
    }

    mutating func release(_ block: Int) {
        let capacity = BlockHeader.capacity(arena[block])
        let c = Self.sizeClass(capacity).index
        if c >= freeHeads.count {
            freeHeads.append(contentsOf: repeatElement(0, count: c + 1 - freeHeads.count))
            noteSize()
        }
        arena[block] = BlockHeader.free(capacity: capacity)
        arena[block + 1] = UInt64(freeHeads[c])
        freeHeads[c] = UInt32(block)
        freeWords += capacity
    }

    /// Rebuilds the index with `capacity` slots (a power of two).
    mutating func resize(to capacity: Int) {
        var fresh = [UInt64](repeating: 0, count: capacity)
        let mask = capacity - 1
        for slot in slots where slot != 0 {
            var i = Int(truncatingIfNeeded: slot >> 32) & mask
            while fresh[i] != 0 { i = (i + 1) & mask }
            fresh[i] = slot
        }
        slots = fresh
        noteSize()
    }

    func forEachBlock(_ body: (UnsafeBufferPointer<UInt8>, Int64, UnsafeBufferPointer<UInt64>) throws -> Void) rethrows {
        try arena.withUnsafeBufferPointer { arena in
            for slot in slots where slot != 0 {
                let base = arena.baseAddress! + Int(truncatingIfNeeded: slot & 0xFFFF_FFFF)
                let keyLength = BlockHeader.keyLength(base[0])
                let key = UnsafeRawPointer(base + Self.headerWords).bindMemory(to: UInt8.self, capacity: keyLength)
                try body(UnsafeBufferPointer(start: key, count: keyLength), Int64(bitPattern: base[1]),
                         UnsafeBufferPointer(start: base + Self.headerWords + Self.keyWords(keyLength), count: BlockHeader.used(base[0])))
            }
        }
    }

    /// Removes the entities whose clock is before `horizon`; returns how many.
    mutating func removeIdle(before horizon: Int64) -> Int {
        var removed = 0
        for i in slots.indices where slots[i] != 0 {
            let block = Int(truncatingIfNeeded: slots[i] & 0xFFFF_FFFF)
            guard Int64(bitPattern: arena[block + 1]) < horizon else { continue }
            dataWords -= BlockHeader.used(arena[block])
            release(block)
            slots[i] = 0
            removed += 1
        }
        guard removed > 0 else { return 0 }
        count -= removed
        var capacity = 16
        while count * 2 > capacity { capacity *= 2 }
        resize(to: count == 0 ? 0 : capacity)
        if wasteful { compact() }
        return removed
    }

    /// Whether free blocks take more than a sixteenth of the arena (and more
    /// than 32 KiB). Blocks that grow leave their old block free, and free
    /// blocks of one size are not joined into larger ones, so a population of
    /// growing entities leaves holes behind; compacting at a sixteenth keeps
    /// them to that share, for one pass over the shard every time it is reached.
    var wasteful: Bool { freeWords > 4096 && freeWords > arena.count / 16 }

    /// Slides the live blocks down over the free ones, in arena order, and
    /// cuts the arena after the last. In place: a fresh arena cost page faults
    /// for all of it, and the next block appended then copied it all again to
    /// grow it; this pass moves memory down only and keeps the array's
    /// capacity for the blocks to come. A moved block's slot is found through
    /// its key, hashed as every table of the process hashes.
    mutating func compact() {
        let seed = EntityTable.processSeed
        let end = arena.count
        var write = 1
        arena.withUnsafeMutableBufferPointer { arena in
            slots.withUnsafeMutableBufferPointer { slots in
                let base = arena.baseAddress!
                let mask = slots.count - 1
                var read = 1
                while read < end {
                    let header = base[read]
                    let capacity = BlockHeader.capacity(header)
                    if !BlockHeader.isFree(header) {
                        if read != write {
                            let key = UnsafeBufferPointer(start: UnsafeRawPointer(base + read + Self.headerWords).assumingMemoryBound(to: UInt8.self), count: BlockHeader.keyLength(header))
                            var i = Int(truncatingIfNeeded: EntityTable.hash(key, seed: seed)) & mask
                            while slots[i] & 0xFFFF_FFFF != UInt64(read) {
                                precondition(slots[i] != 0, "a live block has no index slot")
                                i = (i + 1) & mask
                            }
                            slots[i] = (slots[i] & 0xFFFF_FFFF_0000_0000) | UInt64(write)
                            UnsafeMutableRawPointer(base + write).copyMemory(from: base + read, byteCount: capacity * 8)
                        }
                        write += capacity
                    }
                    read += capacity
                }
            }
        }
        arena.removeLast(end - write)
        // After sweeps took most entities, give the memory back to the system
        // (growth alone never leaves an arena under half its capacity).
        if arena.capacity > 4 * arena.count && arena.capacity > 8192 {
            arena = arena.withUnsafeBufferPointer { Array($0) }
        }
        freeHeads.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        freeWords = 0
        noteSize()
    }
}

/// The first word of a block: capacity in words (bits 0–23), state words in
/// use (bits 24–47) and key length in bytes (bits 48–63).
enum BlockHeader {
    static let maximumCapacity = (1 << 24) - 1

    @inline(__always) static func make(capacity: Int, used: Int, keyLength: Int) -> UInt64 {
        UInt64(capacity) | UInt64(used) << 24 | UInt64(keyLength) << 48
    }
    @inline(__always) static func capacity(_ word: UInt64) -> Int { Int(truncatingIfNeeded: word & 0xFF_FFFF) }
    @inline(__always) static func used(_ word: UInt64) -> Int { Int(truncatingIfNeeded: (word >> 24) & 0xFF_FFFF) }
    @inline(__always) static func keyLength(_ word: UInt64) -> Int { Int(truncatingIfNeeded: word >> 48) }

    /// A free block's header: its capacity, and all ones where a live block
    /// keeps its words in use (which never reach the capacity's limit), so a
    /// pass over the arena tells free blocks from live ones.
    @inline(__always) static func free(capacity: Int) -> UInt64 { UInt64(capacity) | 0xFF_FFFF << 24 }
    @inline(__always) static func isFree(_ word: UInt64) -> Bool { (word >> 24) & 0xFF_FFFF == 0xFF_FFFF }
}

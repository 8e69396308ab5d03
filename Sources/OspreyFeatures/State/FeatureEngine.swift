/// The feature vector for one event, with where it stands in event time.
public struct FeatureVector: Sendable, Equatable {
    /// One value per feature, in spec order; NaN means missing.
    public var values: [Double]
    /// The event's time (epoch ms).
    public var eventTime: Int64 = 0
    /// The partition's stream time after this event (epoch ms; `Int64.min` if none).
    public var streamTime: Int64 = .min
    /// How far the event's time was behind the stream time when it arrived (ms, ≥ 0):
    /// how stale the state it was scored against is, relative to the event.
    public var lag: Int64 = 0
    /// The event was later than the allowed lateness: it was scored against the
    /// current state but did not update it.
    public var late = false

    /// A vector of `count` missing values.
    public init(count: Int) {
        values = Array(repeating: .nan, count: count)
    }
}

/// Computes feature vectors: the one code path shared by the daemon, the HTTP
/// scorer (``preview(_:eventType:state:into:)``) and `osprey backfill`.
///
/// The engine is immutable; state lives in a ``PartitionState`` owned by whoever
/// processes that partition.
public struct FeatureEngine: Sendable {
    /// The compiled spec.
    public let plan: FeaturePlan
    /// The seed every entity table of this process hashes keys with, held
    /// here so that ``hashKeys(of:eventType:into:)`` reads no global.
    let keySeed = EntityTable.processSeed

    /// Creates an engine for `plan`.
    public init(plan: FeaturePlan) {
        self.plan = plan
    }

    /// A reusable vector for events of type `eventType`.
    public func makeVector(eventType: Int) -> FeatureVector {
        FeatureVector(count: plan.events[eventType].featureCount)
    }

    /// Applies `event` to `state` and writes the features the event is scored with.
    public func process(_ event: DecodedEvent, eventType: Int, state: inout PartitionState, into vector: inout FeatureVector) {
        evaluate(event, eventType: eventType, keys: nil, state: &state, commit: true, into: &vector)
    }

    /// ``process(_:eventType:state:into:)`` with the event's entity keys
    /// already hashed by ``hashKeys(of:eventType:into:)``. The event is left
    /// unchanged: `inout` only lets a caller pass an element of its buffers
    /// without a defensive copy (four retains and releases).
    public func process(_ event: inout DecodedEvent, eventType: Int, keys: UnsafePointer<UInt64>, state: inout PartitionState, into vector: inout FeatureVector) {
        evaluate(event, eventType: eventType, keys: keys, state: &state, commit: true, into: &vector)
    }

    /// Writes the features `event` would be scored with if it were processed now,
    /// without changing `state`.
    public func preview(_ event: DecodedEvent, eventType: Int, state: PartitionState, into vector: inout FeatureVector) {
        var scratch = state
        evaluate(event, eventType: eventType, keys: nil, state: &scratch, commit: false, into: &vector)
    }

    /// `keys`: the event's key hashes, or nil to hash the keys here.
    func evaluate(_ event: DecodedEvent, eventType e: Int, keys: UnsafePointer<UInt64>?, state: inout PartitionState, commit: Bool, into vector: inout FeatureVector) {
        let eventPlan = plan.events[e]
        let program = eventPlan.program
        let t = event.time
        let before = state.streamTime
        let late = before != .min && t < before &- program.allowedLateness
        let streamTime = late ? before : Swift.max(before, t)
        vector.eventTime = t
        vector.streamTime = streamTime
        vector.lag = before == .min ? 0 : Swift.max(0, before &- t)
        vector.late = late
        if commit {
            state.streamTime = streamTime
            if late { state.lateEvents += 1 } else { state.appliedEvents += 1 }
        }

        event.withFields { event in
            vector.values.withUnsafeMutableBufferPointer { values in
                withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Swift.max(1, program.fieldTypes.count)) { hashes in
                    for f in program.hashFields where event.present[f] {
                        hashes[f] = Self.valueHash(event, field: f, type: program.fieldTypes[f])
                    }
                    let hashView = UnsafeBufferPointer(hashes)
                    for (i, kind) in program.kinds.enumerated() {
                        let k = program.kindIndices[i]
                        guard var key = event.strings[kind.keyField] else {
                            // No key: every feature of the kind is missing.
                            for r in kind.preReads { values[r.output] = .nan }
                            for output in kind.timeSinceReads { values[output] = .nan }
                            for r in kind.postReads { values[r.output] = .nan }
                            continue
                        }
                        key.withUTF8 { key in
                            let hash = keys?[i] ?? state.tables[k].hash(key)
                            if late {
                                // Too late to update state: read what is there.
                                state.tables[k].read(key, hash: hash) { found in
                                    if let found, found.clock >= streamTime &- kind.ttl {
                                        Self.read(found, kind: kind, time: t, into: values, pre: true)
                                        Self.read(found, kind: kind, time: t, into: values, pre: false)
                                    } else {
                                        kind.withScratch(copying: nil) { empty in
                                            Self.read(empty, kind: kind, time: t, into: values, pre: true)
                                            Self.read(empty, kind: kind, time: t, into: values, pre: false)
                                        }
                                    }
                                }
                            } else if commit {
                                let expired = state.tables[k].update(key, hash: hash, kind: kind) { entity in
                                    Self.apply(event, hashes: hashView, kind: kind, streamTime: streamTime, to: &entity, values: values)
                                }
                                if expired { state.expiredEntities += 1 }
                            } else {
                                // A preview works on a copy of the entity.
                                state.tables[k].read(key, hash: hash) { found in
                                    kind.withScratch(copying: found) { entity in
                                        _ = Self.apply(event, hashes: hashView, kind: kind, streamTime: streamTime, to: &entity, values: values)
                                    }
                                }
                            }
                        }
                    }
                }

                for simple in program.simpleReads {
                    let output = simple.output
                    switch simple.read {
                    case .raw(let field):
                        values[output] = event.numbers[field]
                    case .categorical(let field, let table, let unknown, let missing):
                        if !event.present[field] {
                            values[output] = missing
                        } else if let text = event.strings[field] {
                            values[output] = eventPlan.codeTables[table].code(text) ?? unknown
                        } else {
                            values[output] = eventPlan.codeTables[table].code(event.numbers[field] == 1 ? "true" : "false") ?? unknown
                        }
                    case .ratio(let numerator, let denominator, let whenZero):
                        let n = values[numerator]
                        let d = values[denominator]
                        values[output] = n.isNaN || d.isNaN ? .nan : d == 0 ? whenZero : n / d
                    }
                }
            }
        }
    }

    /// Applies the event to one entity and reads its features. Returns whether
    /// the entity had expired (and was reset first).
    @inline(__always)
    static func apply(_ event: EventFields, hashes: UnsafeBufferPointer<UInt64>, kind: KindProgram, streamTime: Int64, to entity: inout EntityWords, values: UnsafeMutableBufferPointer<Double>) -> Bool {
        var expired = false
        if entity.clock != .min && entity.clock < streamTime &- kind.ttl {
            entity.reset(to: kind.emptyWords)
            expired = true
        }
        let t = event.time
        read(entity, kind: kind, time: t, into: values, pre: true)
        entity.advance(to: t, kind: kind)
        var offset = kind.headerWords
        for j in 0..<kind.compiled.count {
            entity.add(event, time: t, hashes: hashes, kind: kind, region: j, offset: offset)
            offset += entity.regionLength(j)
        }
        read(entity, kind: kind, time: t, into: values, pre: false)
        return expired
    }

    @inline(__always)
    static func read(_ entity: EntityWords, kind: KindProgram, time: Int64, into values: UnsafeMutableBufferPointer<Double>, pre: Bool) {
        let header = kind.headerWords
        if pre {
            for r in kind.preReads { values[r.output] = entity.value(of: r.read, headerWords: header) }
            for output in kind.timeSinceReads {
                values[output] = entity.clock == .min ? .nan : Double(time &- entity.clock) / 1000
            }
        } else {
            for r in kind.postReads { values[r.output] = entity.value(of: r.read, headerWords: header) }
        }
    }

    @inline(__always)
    static func valueHash(_ event: EventFields, field: Int, type: FieldType) -> UInt64 {
        if type == .string, let text = event.strings[field] {
            return mix(FNV1a64.hash(text.utf8))
        }
        let v = event.numbers[field]
        return mix((v == 0 ? 0 : v).bitPattern ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// SplitMix64's finaliser: spreads FNV's weak low bits.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Overlapping the cache misses of a run of events.
///
/// Each entity an event touches costs two dependent loads from memory (its
/// index slot, then its block) unless they are in cache, and an event's work
/// is too long for the CPU to start the next event's loads on its own. A
/// caller that holds a run of decoded events (a poll batch, a file) hashes
/// each event's keys once, asks for the slots of the event
/// ``FeatureEngine/slotLookahead`` places ahead and for the blocks of the
/// event ``FeatureEngine/blockLookahead`` places ahead, then processes the
/// current one with its hashes:
///
/// ```swift
/// let s = FeatureEngine.slotLookahead, b = FeatureEngine.blockLookahead
/// for i in 0..<n { engine.hashKeys(of: &events[i], eventType: t, into: keys + i * stride) }
/// for i in 0..<n {
///     if i + s < n { engine.prefetch(keys: keys + (i + s) * stride, eventType: t, state: &state, stage: .slots) }
///     if i + b < n { engine.prefetch(keys: keys + (i + b) * stride, eventType: t, state: &state, stage: .blocks) }
///     engine.process(&events[i], eventType: t, keys: keys + i * stride, state: &state, into: &vector)
/// }
/// ```
///
/// Prefetching is a hint: whatever the caller asks for, the features are the same.
extension FeatureEngine {
    /// What ``prefetch(keys:eventType:state:stage:)`` loads.
    public enum PrefetchStage: Sendable {
        /// The entities' index slots.
        case slots
        /// The entities' blocks, through slots loaded before.
        case blocks
    }

    /// How many events ahead to ask for the index slots (2 to 8 measured alike).
    public static let slotLookahead = 4
    /// How many events ahead to ask for the blocks.
    public static let blockLookahead = 2

    /// Writes the hash of each of `event`'s entity keys to `keys`, one per
    /// entity kind of its type, in the plan's order (0 for a missing key),
    /// with the seed every table of this process hashes with. The event is
    /// left unchanged (`inout`: see ``process(_:eventType:keys:state:into:)``).
    public func hashKeys(of event: inout DecodedEvent, eventType: Int, into keys: UnsafeMutablePointer<UInt64>) {
        let program = plan.events[eventType].program
        event.withFields { event in
            for (i, kind) in program.kinds.enumerated() {
                guard var key = event.strings[kind.keyField] else {
                    keys[i] = 0
                    continue
                }
                keys[i] = key.withUTF8 { EntityTable.hash($0, seed: keySeed) }
            }
        }
    }

    /// Starts loading the state that an event with these key hashes will
    /// touch: a hint to the CPU, which changes nothing. (`state` is `inout`
    /// only so that its tables are reached in place, without copies.)
    public func prefetch(keys: UnsafePointer<UInt64>, eventType: Int, state: inout PartitionState, stage: PrefetchStage) {
        let program = plan.events[eventType].program
        for i in 0..<program.kinds.count {
            switch stage {
            case .slots: state.tables[program.kindIndices[i]].prefetchSlot(hash: keys[i])
            case .blocks: state.tables[program.kindIndices[i]].prefetchBlock(hash: keys[i])
            }
        }
    }
}

extension FeatureEngine {
    /// The entity kinds, by entity field, of event type `eventType`.
    public func entityKinds(ofEventType eventType: Int) -> [(field: String, kind: Int)] {
        plan.events[eventType].kinds.map { k in (String(plan.kinds[k].name.split(separator: ".").last ?? ""), k) }
    }

    /// The current values of the features an entity holds (windows read at the
    /// entity's clock, `last` values), by feature name, and its clock; `nil`
    /// when the entity is unknown or expired at `state`'s stream time.
    public func describe(entity key: String, kind k: Int, in state: PartitionState) -> (clock: Int64, features: [(name: String, value: Double)])? {
        let kind = plan.kinds[k]
        let names = plan.spec.eventTypes[kind.eventType].featureNames
        var vector = FeatureVector(count: names.count)
        var key = key
        let clock: Int64? = key.withUTF8 { key in
            state.tables[k].read(key, hash: state.tables[k].hash(key)) { entity in
                guard let entity, entity.clock != .min,
                      state.streamTime == .min || entity.clock >= state.streamTime &- kind.ttl else { return nil }
                vector.values.withUnsafeMutableBufferPointer { values in
                    Self.read(entity, kind: kind.program, time: entity.clock, into: values, pre: true)
                    Self.read(entity, kind: kind.program, time: entity.clock, into: values, pre: false)
                }
                return entity.clock
            }
        }
        guard let clock else { return nil }
        let outputs = (kind.program.preReads.map(\.output) + kind.program.postReads.map(\.output)).sorted()
        return (clock, outputs.map { (names[$0], vector.values[$0]) })
    }
}

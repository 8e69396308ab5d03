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
        evaluate(event, eventType: eventType, state: &state, commit: true, into: &vector)
    }

    /// Writes the features `event` would be scored with if it were processed now,
    /// without changing `state`.
    public func preview(_ event: DecodedEvent, eventType: Int, state: PartitionState, into vector: inout FeatureVector) {
        var scratch = state
        evaluate(event, eventType: eventType, state: &scratch, commit: false, into: &vector)
    }

    func evaluate(_ event: DecodedEvent, eventType e: Int, state: inout PartitionState, commit: Bool, into vector: inout FeatureVector) {
        let eventPlan = plan.events[e]
        let t = event.time
        let before = state.streamTime
        let late = before != .min && t < before &- eventPlan.allowedLateness
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
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Swift.max(1, eventPlan.fieldTypes.count)) { hashes in
                for f in eventPlan.hashFields where event.present[f] {
                    hashes[f] = valueHash(event, field: f, type: eventPlan.fieldTypes[f])
                }
                let hashView = UnsafeBufferPointer(hashes)
                for k in eventPlan.kinds {
                    let kind = plan.kinds[k]
                    guard var key = event.strings[kind.keyField] else {
                        for (output, _) in kind.preReads { vector.values[output] = .nan }
                        for output in kind.timeSinceReads { vector.values[output] = .nan }
                        for (output, _) in kind.postReads { vector.values[output] = .nan }
                        continue
                    }
                    key.withUTF8 { key in
                        let hash = state.tables[k].hash(key)
                        if late {
                            // Too late to update state: read what is there.
                            state.tables[k].read(key, hash: hash) { found in
                                if let found, found.clock >= streamTime &- kind.ttl {
                                    read(found, kind: kind, time: t, into: &vector, pre: true)
                                    read(found, kind: kind, time: t, into: &vector, pre: false)
                                } else {
                                    kind.withScratch(copying: nil) { empty in
                                        read(empty, kind: kind, time: t, into: &vector, pre: true)
                                        read(empty, kind: kind, time: t, into: &vector, pre: false)
                                    }
                                }
                            }
                        } else if commit {
                            let expired = state.tables[k].update(key, hash: hash, kind: kind) { entity in
                                apply(event, hashes: hashView, kind: kind, streamTime: streamTime, to: &entity, vector: &vector)
                            }
                            if expired { state.expiredEntities += 1 }
                        } else {
                            // A preview works on a copy of the entity.
                            state.tables[k].read(key, hash: hash) { found in
                                kind.withScratch(copying: found) { entity in
                                    _ = apply(event, hashes: hashView, kind: kind, streamTime: streamTime, to: &entity, vector: &vector)
                                }
                            }
                        }
                    }
                }
            }
        }

        for (output, simple) in eventPlan.simpleReads {
            switch simple {
            case .raw(let field):
                vector.values[output] = event.numbers[field]
            case .categorical(let field, let table, let unknown, let missing):
                if !event.present[field] {
                    vector.values[output] = missing
                } else if let text = event.strings[field] {
                    vector.values[output] = eventPlan.codeTables[table].code(text) ?? unknown
                } else {
                    vector.values[output] = eventPlan.codeTables[table].code(event.numbers[field] == 1 ? "true" : "false") ?? unknown
                }
            case .ratio(let numerator, let denominator, let whenZero):
                let n = vector.values[numerator]
                let d = vector.values[denominator]
                vector.values[output] = n.isNaN || d.isNaN ? .nan : d == 0 ? whenZero : n / d
            }
        }
    }

    /// Applies the event to one entity and reads its features. Returns whether
    /// the entity had expired (and was reset first).
    @inline(__always)
    func apply(_ event: EventFields, hashes: UnsafeBufferPointer<UInt64>, kind: EntityKind, streamTime: Int64, to entity: inout EntityWords, vector: inout FeatureVector) -> Bool {
        var expired = false
        if entity.clock != .min && entity.clock < streamTime &- kind.ttl {
            kind.emptyWords.withUnsafeBufferPointer { entity.reset(to: $0) }
            expired = true
        }
        let t = event.time
        read(entity, kind: kind, time: t, into: &vector, pre: true)
        entity.advance(to: t, kind: kind)
        var offset = kind.headerWords
        for j in 0..<kind.compiled.count {
            entity.add(event, time: t, hashes: hashes, kind: kind, region: j, offset: offset)
            offset += entity.regionLength(j)
        }
        read(entity, kind: kind, time: t, into: &vector, pre: false)
        return expired
    }

    @inline(__always)
    func read(_ entity: EntityWords, kind: EntityKind, time: Int64, into vector: inout FeatureVector, pre: Bool) {
        let header = kind.headerWords
        if pre {
            for (output, read) in kind.preReads { vector.values[output] = entity.value(of: read, headerWords: header) }
            for output in kind.timeSinceReads {
                vector.values[output] = entity.clock == .min ? .nan : Double(time &- entity.clock) / 1000
            }
        } else {
            for (output, read) in kind.postReads { vector.values[output] = entity.value(of: read, headerWords: header) }
        }
    }

    @inline(__always)
    func valueHash(_ event: EventFields, field: Int, type: FieldType) -> UInt64 {
        if type == .string, let text = event.strings[field] {
            return mix(FNV1a64.hash(text.utf8))
        }
        let v = event.numbers[field]
        return mix((v == 0 ? 0 : v).bitPattern ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// SplitMix64's finaliser: spreads FNV's weak low bits.
    @inline(__always)
    func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
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
                read(entity, kind: kind, time: entity.clock, into: &vector, pre: true)
                read(entity, kind: kind, time: entity.clock, into: &vector, pre: false)
                return entity.clock
            }
        }
        guard let clock else { return nil }
        let outputs = (kind.preReads.map(\.output) + kind.postReads.map(\.output)).sorted()
        return (clock, outputs.map { (names[$0], vector.values[$0]) })
    }
}

/// A ``FeatureSpec`` compiled for evaluation: field names resolved to indices,
/// features that share a window grouped into one aggregator, reads ordered.
///
/// Immutable and shared by every partition, the HTTP scorer and backfill.
public struct FeaturePlan: Sendable {
    /// The spec compiled.
    public let spec: FeatureSpec
    /// ``FeatureSpec/fingerprint``, cached.
    public let fingerprint: UInt64
    /// One entry per (event type, entity field) pair that has aggregates.
    let kinds: [EntityKind]
    /// One entry per event type, in spec order.
    let events: [EventPlan]
    /// The most entity keys an event of any type has (at least 1): the
    /// stride of a buffer of ``FeatureEngine/hashKeys(of:eventType:into:)`` results.
    public let keysPerEvent: Int

    /// Compiles a validated spec.
    public init(spec: FeatureSpec) {
        self.spec = spec
        fingerprint = spec.fingerprint
        var kinds: [EntityKindBuilder] = []
        var events: [(decoder: EventDecoder, kinds: [Int], simple: [(Int, SimpleRead)], codeTables: [CodeTable], hashFields: [Int])] = []
        for (typeIndex, type) in spec.eventTypes.enumerated() {
            let decoder = EventDecoder(type: type)
            let fieldIndex = { (name: String) in decoder.index(ofField: name)! }
            var kindIndexByField: [String: Int] = [:]
            var simple: [(Int, SimpleRead)] = []
            var codeTables: [CodeTable] = []
            var hashFields = Set<Int>()
            for (output, feature) in type.features.enumerated() {
                switch feature.kind {
                case .raw(let field):
                    simple.append((output, .raw(field: fieldIndex(field))))
                case .categorical(let field, let codes, let unknown, let missing):
                    simple.append((output, .categorical(field: fieldIndex(field), table: codeTables.count, unknown: unknown, missing: missing)))
                    codeTables.append(CodeTable(codes))
                case .ratio(let numerator, let denominator, let whenZero):
                    let n = type.features.firstIndex { $0.name == numerator }!
                    let d = type.features.firstIndex { $0.name == denominator }!
                    simple.append((output, .ratio(numerator: n, denominator: d, whenZero: whenZero)))
                case .aggregate(let aggregate):
                    let kindIndex: Int
                    if let existing = kindIndexByField[aggregate.entity] {
                        kindIndex = existing
                    } else {
                        kindIndex = kinds.count
                        kindIndexByField[aggregate.entity] = kindIndex
                        kinds.append(EntityKindBuilder(name: "\(type.name).\(aggregate.entity)", eventType: typeIndex, keyField: fieldIndex(aggregate.entity)))
                    }
                    kinds[kindIndex].addFeature(aggregate, output: output, fieldIndex: fieldIndex, field: { type.field(named: $0)! })
                    if aggregate.function == .distinctCount, let field = aggregate.field { hashFields.insert(fieldIndex(field)) }
                }
            }
            for (field, kindIndex) in kindIndexByField {
                // An entity expires once idle for longer than its longest window
                // plus the lateness, when no window can still see its events; 24 h
                // at least when it keeps `last` or `time_since_previous`, which
                // have no window of their own; entity_ttl overrides both.
                let kind = kinds[kindIndex]
                var horizon = kind.aggregators.map { $0.step * $0.tileCount }.max() ?? 0
                if !kind.preReads.isEmpty || !kind.timeSinceReads.isEmpty { horizon = Swift.max(horizon, 86_400_000) }
                kinds[kindIndex].ttl = type.entityTTL ?? (horizon + type.allowedLateness)
                kinds[kindIndex].finish()
                _ = field
            }
            let ownKinds = kindIndexByField.values.sorted()
            events.append((decoder, ownKinds, simple, codeTables, hashFields.sorted()))
        }
        let entityKinds = kinds.map(EntityKind.init)
        self.kinds = entityKinds
        self.events = zip(spec.eventTypes, events).map { type, e in
            EventPlan(
                decoder: e.decoder, kinds: e.kinds.map { (index: $0, kind: entityKinds[$0]) }, featureCount: type.features.count,
                simpleReads: e.simple, codeTables: e.codeTables, hashFields: e.hashFields, fieldTypes: type.fields.map(\.type),
                allowedLateness: type.allowedLateness)
        }
        keysPerEvent = events.reduce(1) { Swift.max($0, $1.kinds.count) }
    }

    /// The index of the event type read from `topic`.
    public func eventTypeIndex(forTopic topic: String) -> Int? { spec.eventTypes.firstIndex { $0.topic == topic } }

    /// The index of the event type named `name`.
    public func eventTypeIndex(named name: String) -> Int? { spec.eventTypes.firstIndex { $0.name == name } }

    /// The decoder of event type `index`.
    public func decoder(forEventType index: Int) -> EventDecoder { events[index].decoder }

    /// The names of the entity kinds (`payment.card_id`), in state order.
    public var entityKindNames: [String] { kinds.map(\.name) }

    /// The entity TTL of each kind, in milliseconds.
    public var entityTTLs: [Int64] { kinds.map(\.ttl) }
}

/// The entities keyed by one field of one event type, and how their state is kept.
///
/// The hot path reads the kind through ``program``: plain pointers into
/// copies of its tables that this object owns, so handing the kind from one
/// function to the next and reading its tables costs no reference counting.
final class EntityKind: @unchecked Sendable {
    let name: String
    let eventType: Int
    /// In region order (see ``EntityKindBuilder/finish()``).
    let aggregators: [Aggregator]
    /// The creation index (the feature order, the region order of checkpoint
    /// versions 2 and 3) of the aggregator at each position.
    let creationOrder: [Int]
    /// The tables the hot path reads; valid while this object lives.
    let program: KindProgram

    var ttl: Int64 { program.ttl }

    init(_ builder: EntityKindBuilder) {
        name = builder.name
        eventType = builder.eventType
        aggregators = builder.aggregators
        creationOrder = builder.creationOrder
        var compiled: [CompiledAggregator] = []
        var columns: [TileColumn] = []
        var filters: [CompiledFilter] = []
        for a in builder.aggregators {
            var filterIndex = -1
            if let filter = a.filter {
                filterIndex = filters.firstIndex(of: filter) ?? filters.count
                if filterIndex == filters.count { filters.append(filter) }
            }
            let first = columns.count
            if case .tiles(let own) = a.kind { columns += own }
            compiled.append(CompiledAggregator(a, columns: first..<columns.count, filter: filterIndex))
        }
        program = KindProgram(
            keyField: builder.keyField, ttl: builder.ttl,
            headerWords: EntityWords.headerWords(regions: compiled.count),
            maximumGrowth: compiled.reduce(0) { $0 + $1.growth },
            distinctRegions: compiled.prefix { $0.kind == .distinct }.count,
            compiled: pin(compiled), columns: pin(columns), filters: pin(filters),
            emptyWords: pin(EntityState(aggregators: builder.aggregators).words),
            preReads: pin(builder.preReads), postReads: pin(builder.postReads), timeSinceReads: pin(builder.timeSinceReads))
    }

    deinit {
        unpin(program.compiled)
        unpin(program.columns)
        unpin(program.filters)
        unpin(program.emptyWords)
        unpin(program.preReads)
        unpin(program.postReads)
        unpin(program.timeSinceReads)
    }
}

/// A feature read and the vector position it writes.
struct PlannedRead: Sendable {
    var output: Int
    var read: FeatureRead
}

/// An ``EntityKind`` as the hot path reads it: its scalars, and its tables as
/// plain pointers owned by the kind. A trivial value, so passing it costs no
/// reference counting; valid only while its kind lives (the plan keeps it).
struct KindProgram: @unchecked Sendable {
    /// The event field holding the entity key.
    let keyField: Int
    /// Idle this long (ms) behind the stream time, an entity has expired.
    let ttl: Int64
    /// Words of region lengths at the start of an entity's words.
    let headerWords: Int
    /// The most words one event can add to an entity, but for `distinct`
    /// tables (see ``EntityWords/extraGrowth(kind:)``).
    let maximumGrowth: Int
    /// The `distinct` aggregators, whose lists may become tables: the first
    /// regions of an entity (see ``EntityKindBuilder/finish()``).
    let distinctRegions: Int
    /// The aggregators as the hot path reads them.
    let compiled: UnsafeBufferPointer<CompiledAggregator>
    /// The tile columns of all tile aggregators (see ``CompiledAggregator/columns``).
    let columns: UnsafeBufferPointer<TileColumn>
    /// The filters of the aggregators that have one.
    let filters: UnsafeBufferPointer<CompiledFilter>
    /// The words of an entity with no events.
    let emptyWords: UnsafeBufferPointer<UInt64>
    /// Reads taken before the event is applied (`last`).
    let preReads: UnsafeBufferPointer<PlannedRead>
    /// Reads taken after the event is applied (windows).
    let postReads: UnsafeBufferPointer<PlannedRead>
    /// Outputs of `time_since_previous` (read before applying, from the clock).
    let timeSinceReads: UnsafeBufferPointer<Int>

    /// Runs `body` on a scratch copy of `entity` (or of an entity with no
    /// events), with room for one event's growth; the copy is discarded.
    func withScratch<R>(copying entity: EntityWords?, _ body: (inout EntityWords) -> R) -> R {
        let count = entity?.count ?? emptyWords.count
        let extra = distinctRegions > 0 ? entity?.extraGrowth(kind: self) ?? 0 : 0
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: count + maximumGrowth + extra) { scratch in
            let words = scratch.baseAddress!
            words.update(from: entity?.words ?? UnsafeMutablePointer(mutating: emptyWords.baseAddress!), count: count)
            var copy = EntityWords(words: words, count: count, clock: entity?.clock ?? .min)
            return body(&copy)
        }
    }
}

/// A copy of `array` at a fixed address, for a ``KindProgram``; free it with ``unpin(_:)``.
func pin<Element>(_ array: [Element]) -> UnsafeBufferPointer<Element> {
    let buffer = UnsafeMutableBufferPointer<Element>.allocate(capacity: Swift.max(1, array.count))
    _ = buffer.initialize(from: array)
    return UnsafeBufferPointer(start: buffer.baseAddress, count: array.count)
}

func unpin<Element>(_ buffer: UnsafeBufferPointer<Element>) {
    let mutable = UnsafeMutablePointer(mutating: buffer.baseAddress!)
    mutable.deinitialize(count: buffer.count)
    mutable.deallocate()
}

/// Collects an ``EntityKind``'s aggregators and reads while the plan is compiled.
struct EntityKindBuilder {
    let name: String
    let eventType: Int
    let keyField: Int
    var aggregators: [Aggregator] = []
    var ttl: Int64 = 0
    var preReads: [PlannedRead] = []
    var postReads: [PlannedRead] = []
    var timeSinceReads: [Int] = []

    init(name: String, eventType: Int, keyField: Int) {
        self.name = name
        self.eventType = eventType
        self.keyField = keyField
    }

    /// Window reads awaiting their column offsets: a later feature may still
    /// widen a shared tile aggregator, so offsets are fixed in ``finish()``.
    var pending: [(output: Int, aggregator: Int, operation: FeatureRead.Operation, field: Int?)] = []

    mutating func addFeature(_ feature: AggregateFeature, output: Int, fieldIndex: (String) -> Int, field fieldSpec: (String) -> FieldSpec) {
        func fieldType(_ name: String) -> FieldType { fieldSpec(name).type }
        let filter = feature.filter.map { CompiledFilter(field: fieldIndex($0.field), values: $0.values) }
        let step = feature.window?.step ?? 0
        let tiles = feature.window?.tileCount ?? 0
        func find(_ kind: Aggregator.Kind) -> Int {
            if let i = aggregators.firstIndex(where: { $0.kind == kind && $0.step == step && $0.tileCount == tiles && $0.filter == filter }) { return i }
            aggregators.append(Aggregator(kind: kind, step: step, tileCount: tiles, filter: filter))
            return aggregators.count - 1
        }
        func tileAggregator(column field: Int?, squares: Bool, counted: Bool = false) -> Int {
            // One tile aggregator per (window, filter); each aggregated field is a column.
            let index = aggregators.firstIndex { a in
                if case .tiles = a.kind { return a.step == step && a.tileCount == tiles && a.filter == filter }
                return false
            } ?? {
                aggregators.append(Aggregator(kind: .tiles(columns: []), step: step, tileCount: tiles, filter: filter))
                return aggregators.count - 1
            }()
            guard let field, case .tiles(var columns) = aggregators[index].kind else { return index }
            if let c = columns.firstIndex(where: { $0.field == field }) {
                columns[c].squares = columns[c].squares || squares
            } else {
                columns.append(TileColumn(field: field, squares: squares, counted: counted))
            }
            aggregators[index].kind = .tiles(columns: columns)
            return index
        }
        switch feature.function {
        case .count:
            pending.append((output, tileAggregator(column: nil, squares: false), .count, nil))
        case .sum, .mean, .stddev:
            let field = fieldIndex(feature.field!)
            let a = tileAggregator(column: field, squares: feature.function == .stddev, counted: !fieldSpec(feature.field!).required)
            let operation: FeatureRead.Operation = feature.function == .sum ? .sum : feature.function == .mean ? .mean : .stddev
            pending.append((output, a, operation, field))
        case .min, .max:
            let a = find(.extremum(field: fieldIndex(feature.field!), isMaximum: feature.function == .max))
            pending.append((output, a, .extremum, nil))
        case .distinctCount:
            let name = feature.field!
            pending.append((output, find(.distinct(field: fieldIndex(name), isString: fieldType(name) == .string)), .distinct, nil))
        case .last:
            let a = find(.last(field: fieldIndex(feature.field!)))
            preReads.append(PlannedRead(output: output, read: FeatureRead(aggregator: a, operation: .last, column: 0)))
        case .timeSincePrevious:
            timeSinceReads.append(output)
        }
    }

    /// The creation index of the aggregator at each position, once
    /// ``finish()`` has ordered them.
    var creationOrder: [Int] = []

    /// Orders the aggregators (`distinct` ones first) and resolves window
    /// reads to word offsets once every aggregator is complete.
    ///
    /// An entity's regions sit one after another in its block, and a region
    /// that grows or shrinks moves every region after it. A `distinct` table
    /// can hold many thousand words, so it goes first, where only its own
    /// changes move anything.
    mutating func finish() {
        creationOrder = aggregators.indices.filter { aggregators[$0].isDistinct } + aggregators.indices.filter { !aggregators[$0].isDistinct }
        var position = [Int](repeating: 0, count: aggregators.count)
        for (n, c) in creationOrder.enumerated() { position[c] = n }
        aggregators = creationOrder.map { aggregators[$0] }
        pending = pending.map { ($0.output, position[$0.aggregator], $0.operation, $0.field) }
        preReads = preReads.map { r in
            var r = r
            r.read.aggregator = position[r.read.aggregator]
            return r
        }
        postReads = pending.map { p in
            var read = FeatureRead(aggregator: p.aggregator, operation: p.operation, column: 0)
            if p.operation == .count && aggregators[p.aggregator].countsOnly { read.operation = .counter }
            if p.operation == .distinct { read.column = aggregators[p.aggregator].packsDistinct ? 1 : 2 }
            if p.operation == .extremum {
                read.column = aggregators[p.aggregator].packsExtremum ? 1 : 2
                read.pairTileBits = aggregators[p.aggregator].pairTileBits
            }
            if let field = p.field, case .tiles(let columns) = aggregators[p.aggregator].kind {
                var offset = 1
                for c in columns {
                    if c.field == field {
                        if c.counted {
                            read.countColumn = offset
                            offset += 1
                        }
                        read.column = offset  // the column's compensated sum
                        break
                    }
                    offset += c.totalsWidth
                }
            }
            if [.count, .mean, .stddev].contains(read.operation) && read.countColumn == 0 && aggregators[p.aggregator].keepsNewestTile {
                read.integerCount = true
            }
            return PlannedRead(output: p.output, read: read)
        }
    }
}

/// Reads that need no entity state. Plain values only (a categorical read
/// names its table by index), so the per-event loop over them costs no
/// reference counting.
enum SimpleRead: Sendable {
    case raw(field: Int)
    case categorical(field: Int, table: Int, unknown: Double, missing: Double)
    case ratio(numerator: Int, denominator: Int, whenZero: Double)
}

/// The compiled form of one event type (a class, for the same reason as
/// ``EntityKind``; the hot path reads it through ``program``).
final class EventPlan: @unchecked Sendable {
    let decoder: EventDecoder
    /// The kinds themselves, which own what ``program`` points to.
    let entityKinds: [EntityKind]
    let featureCount: Int
    /// The tables of categorical reads.
    let codeTables: [CodeTable]
    /// The tables the hot path reads; valid while this object lives.
    let program: EventProgram

    init(decoder: EventDecoder, kinds: [(index: Int, kind: EntityKind)], featureCount: Int, simpleReads: [(Int, SimpleRead)], codeTables: [CodeTable], hashFields: [Int], fieldTypes: [FieldType], allowedLateness: Int64) {
        self.decoder = decoder
        entityKinds = kinds.map(\.kind)
        self.featureCount = featureCount
        self.codeTables = codeTables
        program = EventProgram(
            kindIndices: pin(kinds.map(\.index)), kinds: pin(kinds.map(\.kind.program)),
            simpleReads: pin(simpleReads.map { PlannedSimpleRead(output: $0.0, read: $0.1) }),
            hashFields: pin(hashFields), fieldTypes: pin(fieldTypes), allowedLateness: allowedLateness)
    }

    /// Indices into ``FeaturePlan/kinds``.
    var kinds: UnsafeBufferPointer<Int> { program.kindIndices }

    deinit {
        unpin(program.kindIndices)
        unpin(program.kinds)
        unpin(program.simpleReads)
        unpin(program.hashFields)
        unpin(program.fieldTypes)
    }
}

/// An ``EventPlan`` as the hot path reads it (see ``KindProgram``).
struct EventProgram: @unchecked Sendable {
    /// The state table (``FeaturePlan/kinds`` index) of each kind in ``kinds``.
    let kindIndices: UnsafeBufferPointer<Int>
    let kinds: UnsafeBufferPointer<KindProgram>
    /// Raw, categorical and ratio features, in vector order.
    let simpleReads: UnsafeBufferPointer<PlannedSimpleRead>
    /// Fields whose value hashes distinct counts need.
    let hashFields: UnsafeBufferPointer<Int>
    let fieldTypes: UnsafeBufferPointer<FieldType>
    let allowedLateness: Int64
}

/// A ``SimpleRead`` and the vector position it writes.
struct PlannedSimpleRead: Sendable {
    var output: Int
    var read: SimpleRead
}

/// A categorical encoding's table. Small tables (the usual case) are searched
/// linearly: comparing short strings is a compare of their inline bytes, far
/// cheaper than hashing them for a dictionary.
struct CodeTable: Sendable {
    let values: [String]
    let codes: [Double]
    let dictionary: [String: Double]?

    init(_ table: [String: Double]) {
        let sorted = table.sorted { $0.key < $1.key }
        values = sorted.map(\.key)
        codes = sorted.map(\.value)
        dictionary = table.count > 16 ? table : nil
    }

    @inline(__always)
    func code(_ value: String) -> Double? {
        if let dictionary { return dictionary[value] }
        for i in values.indices where values[i] == value { return codes[i] }
        return nil
    }
}

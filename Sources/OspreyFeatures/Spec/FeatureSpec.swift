/// The declarative description of the events Osprey reads and the features it
/// computes from them: the `events:` section of the configuration file.
///
/// One spec drives the daemon, the HTTP scorer and `osprey backfill`, so that a
/// model is trained on exactly the numbers it is later served.
public struct FeatureSpec: Sendable, Equatable {
    /// The event types, in configuration order.
    public var eventTypes: [EventTypeSpec]

    /// Creates a spec; ``FeatureSpecLoader`` builds validated ones from YAML.
    public init(eventTypes: [EventTypeSpec]) {
        self.eventTypes = eventTypes
    }

    /// The event type named `name`.
    public func eventType(named name: String) -> EventTypeSpec? {
        eventTypes.first { $0.name == name }
    }

    /// The event type read from `topic`.
    public func eventType(forTopic topic: String) -> EventTypeSpec? {
        eventTypes.first { $0.topic == topic }
    }

    /// A stable 64-bit digest of everything that shapes feature state and values.
    ///
    /// Checkpoints record it; a checkpoint written under another spec is refused
    /// rather than misread. Schema paths and topic names are left out: moving a
    /// file or renaming a topic does not change what the state means.
    public var fingerprint: UInt64 {
        var hasher = FNV1a64()
        hasher.add("osprey-feature-spec-v1")
        for type in eventTypes {
            hasher.add("event \(type.name) id=\(type.idField) time=\(type.timeField) late=\(type.allowedLateness) ttl=\(type.entityTTL.map(String.init) ?? "-")")
            for field in type.fields { hasher.add("field \(field.name) \(field.type.rawValue) \(field.required)") }
            for feature in type.features { hasher.add("feature \(feature.canonicalDescription)") }
        }
        return hasher.value
    }
}

/// One kind of event (payments, clicks ...) and the features computed from it.
public struct EventTypeSpec: Sendable, Equatable {
    /// The name used in configuration and metrics, e.g. `payment`.
    public var name: String
    /// The Kafka topic the events come from.
    public var topic: String
    /// The JSON Schema file describing the events, if configured (resolved path).
    public var schemaPath: String?
    /// The field holding the event identifier (string or integer).
    public var idField: String
    /// The field holding the event time: epoch milliseconds or an RFC 3339 string.
    public var timeField: String
    /// The field producers use as the Kafka message key (the partitioning key);
    /// `nil`: the entity field of the first aggregate feature.
    public var keyField: String?
    /// The config accepts that features on other entities than the message key
    /// are computed per input partition (`partition_local: true`), so several
    /// instances may share the group.
    public var partitionLocalAccepted = false
    /// How far behind the stream time an event may be and still update state (ms).
    public var allowedLateness: Int64
    /// How long an idle entity keeps its state (ms); `nil` derives it from the windows.
    public var entityTTL: Int64?
    /// The largest accepted event, in bytes.
    public var maxEventBytes: Int
    /// The longest accepted event id or entity key, in UTF-8 bytes: they are
    /// kept in state and echoed in every decision, so a megabyte-long card id
    /// is bad input, not a key.
    public var maxKeyBytes: Int
    /// The typed fields Osprey reads; other fields in an event are ignored.
    public var fields: [FieldSpec]
    /// The features, in the order of the feature vector (and of the model's inputs).
    public var features: [FeatureDefinition]

    /// Creates an event type.
    public init(
        name: String, topic: String, schemaPath: String? = nil, idField: String, timeField: String,
        allowedLateness: Int64, entityTTL: Int64? = nil, maxEventBytes: Int = 1 << 20, maxKeyBytes: Int = 256,
        fields: [FieldSpec], features: [FeatureDefinition]
    ) {
        self.name = name
        self.topic = topic
        self.schemaPath = schemaPath
        self.idField = idField
        self.timeField = timeField
        keyField = nil
        self.allowedLateness = allowedLateness
        self.entityTTL = entityTTL
        self.maxEventBytes = maxEventBytes
        self.maxKeyBytes = maxKeyBytes
        self.fields = fields
        self.features = features
    }

    /// The feature names in vector order.
    public var featureNames: [String] { features.map(\.name) }

    /// The entity fields of the aggregate features, in first-use order.
    public var entityFields: [String] {
        var seen: [String] = []
        for feature in features {
            if case .aggregate(let a) = feature.kind, !seen.contains(a.entity) { seen.append(a.entity) }
        }
        return seen
    }

    /// The message key field: ``keyField`` or the first entity field (else the id field).
    public var messageKeyField: String { keyField ?? entityFields.first ?? idField }

    /// Aggregate features on an entity other than the message key: each input
    /// partition sees only its share of such an entity's events.
    public var partitionLocalFeatures: [String] {
        let key = messageKeyField
        return features.compactMap { feature in
            if case .aggregate(let a) = feature.kind, a.entity != key { return feature.name }
            return nil
        }
    }

    /// The field named `name`.
    public func field(named name: String) -> FieldSpec? { fields.first { $0.name == name } }
}

/// A typed event field.
public struct FieldSpec: Sendable, Equatable {
    /// The JSON member name.
    public var name: String
    /// The JSON type it must have.
    public var type: FieldType
    /// Whether an event without it (or with `null`) is invalid.
    public var required: Bool

    /// Creates a field.
    public init(name: String, type: FieldType, required: Bool) {
        self.name = name
        self.type = type
        self.required = required
    }
}

/// The type of an event field.
public enum FieldType: String, Sendable, Equatable, CaseIterable {
    /// A JSON string.
    case string
    /// A finite JSON number.
    case number
    /// A JSON number with no fractional part.
    case integer
    /// `true` or `false`.
    case boolean
    /// Epoch milliseconds (a number) or an RFC 3339 string.
    case timestamp
}

/// One named value of the feature vector.
public struct FeatureDefinition: Sendable, Equatable {
    /// The feature name, as the model knows it.
    public var name: String
    /// How the value is computed.
    public var kind: FeatureKind

    /// Creates a feature.
    public init(name: String, kind: FeatureKind) {
        self.name = name
        self.kind = kind
    }

    var canonicalDescription: String {
        switch kind {
        case .raw(let field):
            return "\(name) raw \(field)"
        case .categorical(let field, let codes, let unknown, let missing):
            let table = codes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.bitPattern)" }.joined(separator: ",")
            return "\(name) categorical \(field) [\(table)] unknown=\(unknown.bitPattern) missing=\(missing.bitPattern)"
        case .aggregate(let aggregate):
            return "\(name) aggregate \(aggregate.entity) \(aggregate.function.rawValue) \(aggregate.field ?? "-") \(aggregate.window.map { "\($0.kind.rawValue):\($0.size):\($0.step)" } ?? "-")"
        case .ratio(let numerator, let denominator, let whenZero):
            return "\(name) ratio \(numerator) \(denominator) \(whenZero.bitPattern)"
        }
    }
}

/// How a feature's value is computed.
public enum FeatureKind: Sendable, Equatable {
    /// The event's own numeric (or boolean) field; missing when absent.
    case raw(field: String)
    /// A string field mapped to a code; `unknown` for values not in the table,
    /// `missing` when the field is absent.
    case categorical(field: String, codes: [String: Double], unknown: Double, missing: Double)
    /// A per-entity aggregate over past events.
    case aggregate(AggregateFeature)
    /// `numerator / denominator` of two earlier features; `whenZero` if the
    /// denominator is zero; missing if either is missing.
    case ratio(numerator: String, denominator: String, whenZero: Double)
}

/// A per-entity aggregate: "mean amount on this card over 24 h".
public struct AggregateFeature: Sendable, Equatable {
    /// The field whose value names the entity (card_id, merchant_id, user_id ...).
    public var entity: String
    /// The aggregation.
    public var function: AggregateFunction
    /// The aggregated field (`nil` for `count` and `time_since_previous`).
    public var field: String?
    /// The window (`nil` for `last` and `time_since_previous`).
    public var window: WindowSpec?
    /// Count only events whose `field` equals this value (e.g. action == click).
    public var filter: EventFilter?

    /// Creates an aggregate.
    public init(entity: String, function: AggregateFunction, field: String?, window: WindowSpec?, filter: EventFilter? = nil) {
        self.entity = entity
        self.function = function
        self.field = field
        self.window = window
        self.filter = filter
    }
}

/// Restricts an aggregate to the events whose string `field` is one of `values`.
public struct EventFilter: Sendable, Equatable {
    /// The string field tested.
    public var field: String
    /// The accepted values.
    public var values: [String]

    /// Creates a filter.
    public init(field: String, values: [String]) {
        self.field = field
        self.values = values
    }
}

/// The aggregations a feature can use.
public enum AggregateFunction: String, Sendable, Equatable, CaseIterable {
    /// Number of events in the window.
    case count
    /// Sum of the field over the window (0 when empty).
    case sum
    /// Mean of the field over the window (missing when empty).
    case mean
    /// Minimum of the field over the window (missing when empty).
    case min
    /// Maximum of the field over the window (missing when empty).
    case max
    /// Population standard deviation of the field (missing when empty).
    case stddev
    /// Number of distinct values of the field in the window.
    case distinctCount = "distinct_count"
    /// The field's value on the entity's latest earlier event.
    case last
    /// Seconds from the entity's latest earlier event to this event.
    case timeSincePrevious = "time_since_previous"

    /// Whether the aggregation needs a window.
    public var isWindowed: Bool { self != .last && self != .timeSincePrevious }
    /// Whether the aggregation reads a field.
    public var needsField: Bool { self != .count && self != .timeSincePrevious }
}

/// An event-time window.
///
/// Every window is a run of tiles of `step` milliseconds; a window of `size`
/// covers the `size / step` tiles ending with the tile of the entity's latest
/// event. Sliding windows choose `step` as their resolution, hopping windows as
/// their hop, and tumbling windows have `step == size`.
public struct WindowSpec: Sendable, Equatable {
    /// How the window was declared (it only changes how it is described).
    public enum Kind: String, Sendable, Equatable {
        case sliding, hopping, tumbling
    }

    /// The declared kind.
    public var kind: Kind
    /// The window length in milliseconds.
    public var size: Int64
    /// The tile length in milliseconds; divides `size`.
    public var step: Int64

    /// Creates a window; `size` must be a positive multiple of `step`.
    public init(kind: Kind, size: Int64, step: Int64) {
        self.kind = kind
        self.size = size
        self.step = step
    }

    /// Number of tiles the window spans.
    public var tileCount: Int64 { size / step }
}

/// FNV-1a, 64 bit: a stable digest (Swift's `Hasher` is seeded per process).
struct FNV1a64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ text: String) {
        for byte in text.utf8 { add(byte) }
        add(0x0A)
    }

    mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var h = FNV1a64()
        for b in bytes { h.add(b) }
        return h.value
    }
}

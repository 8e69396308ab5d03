#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OspreyJSON

/// Builds a validated ``FeatureSpec`` from the `events:` section of a configuration file.
///
/// Every problem is reported with its path (`events[0].features[3].window`), what
/// was found, and what to write instead; all problems of a file are reported at once.
public enum FeatureSpecLoader {
    /// Reads the spec from a YAML document. Relative schema paths are resolved
    /// against `baseDirectory` (the configuration file's folder).
    public static func load(yaml: String, baseDirectory: String) throws(ConfigErrors) -> FeatureSpec {
        let problems = ConfigProblems()
        guard let root = ConfigNode.parse(yaml: yaml, problems: problems) else {
            try problems.throwIfAny()
            throw ConfigErrors([ConfigError(path: "", message: "empty configuration")])
        }
        let spec = load(root: root, baseDirectory: baseDirectory)
        try problems.throwIfAny()
        return spec!
    }

    /// Reads the feature spec and the state settings of one configuration file.
    public static func loadWithSettings(yaml: String, baseDirectory: String) throws(ConfigErrors) -> (FeatureSpec, StateSettings) {
        let problems = ConfigProblems()
        guard let root = ConfigNode.parse(yaml: yaml, problems: problems) else {
            try problems.throwIfAny()
            throw ConfigErrors([ConfigError(path: "", message: "empty configuration")])
        }
        let spec = load(root: root, baseDirectory: baseDirectory)
        let settings = StateSettings.load(root: root, baseDirectory: baseDirectory)
        try problems.throwIfAny()
        return (spec!, settings)
    }

    /// Reads the spec from the document root, recording problems in the root's collector.
    public static func load(root: ConfigNode, baseDirectory: String) -> FeatureSpec? {
        guard let events = root.required("events", hint: "list the event types Osprey reads (see the README's config reference)")?.elements else {
            return nil
        }
        if events.isEmpty { root["events"]?.fail("needs at least one event type") }
        var types: [EventTypeSpec] = []
        for node in events {
            if let type = loadEventType(node, baseDirectory: baseDirectory) { types.append(type) }
        }
        checkUnique(types.map(\.name), nodes: events, key: "name", what: "event type name")
        checkUnique(types.map(\.topic), nodes: events, key: "topic", what: "topic")
        return FeatureSpec(eventTypes: types)
    }

    static let eventKeys = ["name", "topic", "schema", "id_field", "time_field", "key_field", "partition_local", "allowed_lateness", "entity_ttl", "max_event_bytes", "max_key_bytes", "fields", "features"]

    static func loadEventType(_ node: ConfigNode, baseDirectory: String) -> EventTypeSpec? {
        node.rejectUnknownKeys(eventKeys)
        let name = node.required("name", hint: "give the event type a name, e.g. 'name: payment'")?.string
        let topic = node.required("topic", hint: "name the Kafka topic the events come from")?.string
        let schema = node["schema"]?.string.map { resolve($0, against: baseDirectory) }
        let idField = node["id_field"]?.string ?? "event_id"
        let timeField = node["time_field"]?.string ?? "event_time"
        let keyField = node["key_field"]?.string
        let lateness = node["allowed_lateness"]?.duration ?? 0
        let ttl = node["entity_ttl"]?.duration
        if let ttl, ttl <= 0 { node["entity_ttl"]?.fail("must be positive") }
        var maxBytes = 1 << 20
        if let n = node["max_event_bytes"], let value = n.int {
            if value < 64 { n.fail("must be at least 64 bytes") } else { maxBytes = value }
        }
        var maxKeyBytes = 256
        if let n = node["max_key_bytes"], let value = n.int {
            if value < 1 || value > 65_535 { n.fail("must be between 1 and 65535 bytes") } else { maxKeyBytes = value }
        }
        let fields = node.required("fields", hint: "declare the event fields Osprey reads, e.g. 'amount: number'").flatMap(loadFields) ?? []
        var seenFields = Set<String>()
        for field in fields where !seenFields.insert(field.name).inserted {
            node["fields"]?.fail("field '\(field.name)' is declared twice")
        }
        let fieldsByName = Dictionary(fields.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        if let f = fieldsByName[idField] {
            if f.type != .string && f.type != .integer { node["fields"]?.fail("the id field '\(idField)' must be string or integer") }
            if !f.required { node["fields"]?.fail("the id field '\(idField)' must be required") }
        } else if !fields.isEmpty {
            (node["id_field"] ?? node).fail("the id field '\(idField)' is not among the declared fields; declare it (e.g. '\(idField): string') or set id_field")
        }
        if let f = fieldsByName[timeField] {
            if f.type != .timestamp { node["fields"]?.fail("the time field '\(timeField)' must have type timestamp") }
            if !f.required { node["fields"]?.fail("the time field '\(timeField)' must be required") }
        } else if !fields.isEmpty {
            (node["time_field"] ?? node).fail("the time field '\(timeField)' is not among the declared fields; declare it ('\(timeField): timestamp') or set time_field")
        }
        var features: [FeatureDefinition] = []
        if let list = node.required("features", hint: "list the features computed from these events")?.elements {
            if list.isEmpty { node["features"]?.fail("needs at least one feature") }
            for featureNode in list {
                if let feature = loadFeature(featureNode, fields: fieldsByName, earlier: features) {
                    if features.contains(where: { $0.name == feature.name }) {
                        featureNode["name"]?.fail("feature '\(feature.name)' is defined twice; names must be unique")
                    }
                    features.append(feature)
                }
            }
        }
        if let keyField, let keyNode = node["key_field"], !fields.isEmpty {
            if let f = fieldsByName[keyField] {
                if f.type != .string && f.type != .integer { keyNode.fail("the key field '\(keyField)' must be string or integer") }
            } else {
                keyNode.fail("'\(keyField)' is not a declared field")
            }
        }
        if let schema { checkSchema(schema, fields: fields, node: node["schema"]!) }
        guard let name, let topic else { return nil }
        var spec = EventTypeSpec(
            name: name, topic: topic, schemaPath: schema, idField: idField, timeField: timeField,
            allowedLateness: lateness, entityTTL: ttl, maxEventBytes: maxBytes, maxKeyBytes: maxKeyBytes, fields: fields, features: features)
        spec.keyField = keyField
        spec.partitionLocalAccepted = node["partition_local"]?.bool ?? false
        return spec
    }

    static func loadFields(_ node: ConfigNode) -> [FieldSpec]? {
        guard let entries = node.entries else { return nil }
        var fields: [FieldSpec] = []
        for (name, value) in entries {
            var typeText: String?
            var required = true
            if value.node.mapping != nil {
                value.rejectUnknownKeys(["type", "required"])
                typeText = value.required("type", hint: "one of \(FieldType.allCases.map(\.rawValue).joined(separator: ", "))")?.string
                required = value["required"]?.bool ?? true
            } else if var text = value.string {
                if text.hasSuffix("?") {
                    required = false
                    text.removeLast()
                }
                typeText = text
            }
            guard let typeText else { continue }
            guard let type = FieldType(rawValue: typeText) else {
                value.fail("'\(typeText)' is not a field type; use one of \(FieldType.allCases.map(\.rawValue).joined(separator: ", ")) (append '?' for an optional field)")
                continue
            }
            fields.append(FieldSpec(name: name, type: type, required: required))
        }
        return fields
    }

    static let featureKeys = ["name", "field", "entity", "aggregation", "window", "resolution", "where", "encode", "unknown", "missing", "numerator", "denominator", "when_denominator_zero"]

    static func loadFeature(_ node: ConfigNode, fields: [String: FieldSpec], earlier: [FeatureDefinition]) -> FeatureDefinition? {
        node.rejectUnknownKeys(featureKeys)
        guard let name = node.required("name", hint: "give the feature the name the model uses")?.string else { return nil }

        func field(_ key: String, types: Set<FieldType>) -> String? {
            guard let fieldNode = node.required(key, hint: "name one of the event's declared fields"), let fieldName = fieldNode.string else { return nil }
            guard let spec = fields[fieldName] else {
                fieldNode.fail("'\(fieldName)' is not a declared field; declared: \(fields.keys.sorted().joined(separator: ", "))")
                return nil
            }
            if !types.contains(spec.type) {
                fieldNode.fail("field '\(fieldName)' has type \(spec.type.rawValue); this needs \(types.map(\.rawValue).sorted().joined(separator: " or "))")
                return nil
            }
            return fieldName
        }

        if node["aggregation"] != nil {
            return loadAggregate(node, name: name, fields: fields, field: field)
        }
        if let codes = node["encode"] {
            guard let source = field("field", types: [.string, .integer, .boolean]) else { return nil }
            var table: [String: Double] = [:]
            if let entries = codes.entries {
                for (value, codeNode) in entries {
                    if let code = codeNode.double { table[value] = code }
                }
            }
            guard let unknown = node.required("unknown", hint: "give the code for values not in the table, e.g. 'unknown: -1'")?.double else { return nil }
            let missing = node["missing"]?.double ?? .nan
            return FeatureDefinition(name: name, kind: .categorical(field: source, codes: table, unknown: unknown, missing: missing))
        }
        if node["numerator"] != nil || node["denominator"] != nil {
            func reference(_ key: String) -> String? {
                guard let refNode = node.required(key, hint: "name an earlier feature"), let ref = refNode.string else { return nil }
                if !earlier.contains(where: { $0.name == ref }) {
                    refNode.fail("'\(ref)' is not a feature defined above this one; ratios read earlier features")
                    return nil
                }
                return ref
            }
            let numerator = reference("numerator")
            let denominator = reference("denominator")
            guard let whenZero = node.required("when_denominator_zero", hint: "give the value used when the denominator is 0, e.g. 0 (or .nan for missing)")?.double else { return nil }
            guard let numerator, let denominator else { return nil }
            return FeatureDefinition(name: name, kind: .ratio(numerator: numerator, denominator: denominator, whenZero: whenZero))
        }
        guard let source = field("field", types: [.number, .integer, .boolean, .timestamp]) else { return nil }
        return FeatureDefinition(name: name, kind: .raw(field: source))
    }

    static func loadAggregate(
        _ node: ConfigNode, name: String, fields: [String: FieldSpec],
        field: (String, Set<FieldType>) -> String?
    ) -> FeatureDefinition? {
        let aggNode = node["aggregation"]!
        guard let aggText = aggNode.string else { return nil }
        guard let function = AggregateFunction(rawValue: aggText) else {
            aggNode.fail("'\(aggText)' is not an aggregation; use one of \(AggregateFunction.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        let entity = field("entity", [.string, .integer])
        var input: String?
        if function.needsField {
            let types: Set<FieldType> = function == .distinctCount || function == .last
                ? [.string, .number, .integer, .boolean] : [.number, .integer, .boolean]
            input = field("field", types)
            if function == .last, let input, fields[input]?.type == .string {
                node["field"]?.fail("'last' needs a numeric field; encode strings with a categorical feature")
            }
        } else if node["field"] != nil {
            node["field"]?.fail("\(function.rawValue) does not read a field; remove 'field'")
        }
        var window: WindowSpec?
        if function.isWindowed {
            if let windowNode = node.required("window", hint: "give a window such as 5m, 1h, 24h, or {type: hopping, size: 1h, hop: 5m}") {
                window = loadWindow(windowNode, resolution: node["resolution"])
            }
        } else {
            if node["window"] != nil { node["window"]?.fail("\(function.rawValue) has no window; the entity TTL bounds how far back it looks") }
            if node["resolution"] != nil { node["resolution"]?.fail("\(function.rawValue) has no window; remove 'resolution'") }
        }
        var filter: EventFilter?
        if let whereNode = node["where"], let entries = whereNode.entries {
            if entries.count != 1 {
                whereNode.fail("give exactly one field, e.g. 'where: {action: click}' or 'where: {action: [view, click]}'")
            } else if let (key, valueNode) = entries.first {
                if let spec = fields[key], spec.type == .string {
                    let values: [String]? = valueNode.node.sequence != nil
                        ? valueNode.elements?.compactMap(\.string) : valueNode.string.map { [$0] }
                    if let values { filter = EventFilter(field: key, values: values) }
                } else {
                    whereNode.fail("'\(key)' is not a declared string field")
                }
            }
        }
        guard let entity else { return nil }
        if function.needsField && input == nil { return nil }
        if function.isWindowed && window == nil { return nil }
        return FeatureDefinition(name: name, kind: .aggregate(AggregateFeature(entity: entity, function: function, field: input, window: window, filter: filter)))
    }

    static let maximumWindow: Int64 = 366 * 86_400_000

    static func loadWindow(_ node: ConfigNode, resolution: ConfigNode?) -> WindowSpec? {
        var kind = WindowSpec.Kind.sliding
        var sizeNode = node
        var stepNode = resolution
        if node.node.mapping != nil {
            node.rejectUnknownKeys(["type", "size", "hop", "resolution"])
            if let typeText = node["type"]?.string {
                guard let k = WindowSpec.Kind(rawValue: typeText) else {
                    node["type"]?.fail("'\(typeText)' is not a window type; use sliding, hopping or tumbling")
                    return nil
                }
                kind = k
            }
            guard let s = node.required("size", hint: "give the window length, e.g. 'size: 1h'") else { return nil }
            sizeNode = s
            switch kind {
            case .sliding: stepNode = node["resolution"] ?? resolution
            case .hopping:
                guard let hop = node.required("hop", hint: "give the hop, e.g. 'hop: 5m'") else { return nil }
                stepNode = hop
            case .tumbling:
                stepNode = nil
                if node["hop"] != nil || node["resolution"] != nil { node.fail("a tumbling window has only a size") }
            }
        }
        guard let size = sizeNode.duration else { return nil }
        guard size > 0, size <= maximumWindow else {
            sizeNode.fail("window must be between 1ms and 366d")
            return nil
        }
        var step: Int64
        if kind == .tumbling {
            step = size
        } else if let stepNode {
            if stepNode.string == "exact" {
                step = 1
            } else {
                guard let s = stepNode.duration else { return nil }
                step = s
            }
        } else {
            // Default: 60 tiles per window, the coarsest step that keeps the
            // window edge within 1/60 of its length, when that divides evenly.
            step = size % 60 == 0 ? size / 60 : 1
        }
        guard step > 0, step <= size, size % step == 0 else {
            (stepNode ?? sizeNode).fail("\(Duration.text(step)) does not divide the window \(Duration.text(size)) evenly; pick a step such as \(Duration.text(Swift.max(1, size / 60)))")
            return nil
        }
        return WindowSpec(kind: kind, size: size, step: step)
    }

    static func checkUnique(_ values: [String], nodes: [ConfigNode], key: String, what: String) {
        var seen = Set<String>()
        for (value, node) in zip(values, nodes) where !seen.insert(value).inserted {
            node[key]?.fail("\(what) '\(value)' is used twice")
        }
    }

    static func resolve(_ path: String, against base: String) -> String {
        if path.hasPrefix("/") || base.isEmpty { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }

    /// Checks the declared fields against the event type's JSON Schema: every
    /// field must be a schema property of a compatible type, and required fields
    /// must be required by the schema too.
    static func checkSchema(_ path: String, fields: [FieldSpec], node: ConfigNode) {
        guard let bytes = readFileBytes(path) else {
            node.fail("cannot read the schema file '\(path)'; the path is relative to the config file")
            return
        }
        let schema: JSONValue
        do { schema = try JSONReader.parse(bytes) } catch {
            node.fail("the schema file '\(path)' is not valid JSON: \(error)")
            return
        }
        guard case .object(let properties)? = schema["properties"] else {
            node.fail("the schema file '\(path)' has no 'properties' object")
            return
        }
        let required = Set(schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for field in fields {
            guard let property = properties[field.name] else {
                node.fail("field '\(field.name)' is not a property in \(path); add it to the schema or remove it from fields")
                continue
            }
            let types: [String]
            switch property["type"] {
            case .string(let t)?: types = [t]
            case .array(let list)?: types = list.compactMap(\.stringValue)
            default: types = []
            }
            let accepted: Set<String>
            switch field.type {
            case .string: accepted = ["string"]
            case .number: accepted = ["number", "integer"]
            case .integer: accepted = ["integer"]
            case .boolean: accepted = ["boolean"]
            case .timestamp: accepted = ["integer", "string", "number"]
            }
            if !types.isEmpty && accepted.isDisjoint(with: types) {
                node.fail("field '\(field.name)' is \(field.type.rawValue) in the config but \(types.joined(separator: "/")) in \(path)")
            }
            if field.required && !required.contains(field.name) {
                node.fail("field '\(field.name)' is required in the config but optional in \(path); mark it optional ('\(field.type.rawValue)?') or require it in the schema")
            }
        }
    }
}

/// The bytes of a file, or `nil` if it cannot be read.
func readFileBytes(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    return ferror(file) == 0 ? bytes : nil
}

import OspreyFeatures
import Yams

/// Environment variables that override the configuration file.
///
/// | variable | setting |
/// |---|---|
/// | `OSPREY_KAFKA_BOOTSTRAP` | `kafka.bootstrap` |
/// | `OSPREY_GROUP_ID` | `kafka.group_id` |
/// | `OSPREY_GROUP_INSTANCE_ID` | `kafka.group_instance_id` |
/// | `OSPREY_INPUT_TOPICS` | the event types' `topic`, comma-separated in config order |
/// | `OSPREY_OUTPUT_TOPIC` | `output.topic` |
/// | `OSPREY_DLQ_TOPIC` | `output.dead_letter_topic` |
/// | `OSPREY_OUTPUT_INCLUDE_FEATURES` | `output.include_features` |
/// | `OSPREY_HTTP_HOST`, `OSPREY_HTTP_PORT` | `http.host`, `http.port` |
/// | `OSPREY_CHECKPOINT_DIR` | `checkpoints.directory` |
/// | `OSPREY_CHECKPOINT_INTERVAL` | `checkpoints.interval` |
/// | `OSPREY_STATE_MEMORY_BUDGET` | `state.memory_budget` |
/// | `OSPREY_MODEL`, `OSPREY_MODEL_VERSION` | `model.path`, `model.version` |
/// | `OSPREY_KAFKA_PROPERTY_<NAME>` | librdkafka property `<name>` with `_` read as `.` (`OSPREY_KAFKA_PROPERTY_SECURITY_PROTOCOL=ssl`) |
///
/// Besides these, every single-value setting the file has, outside lists, can
/// be replaced by `OSPREY_` and its path in capitals with `_` for `.`:
/// `OSPREY_OUTPUT_REASONS=5`, `OSPREY_STATE_MEMORY_BUDGET=4GiB`,
/// `OSPREY_KAFKA_CONSUMER_PROPERTIES_FETCH_WAIT_MAX_MS=2`.
public enum EnvironmentOverrides {
    /// The variables read whether or not the file has the setting.
    public static let aliases: Set<String> = [
        "OSPREY_KAFKA_BOOTSTRAP", "OSPREY_GROUP_ID", "OSPREY_GROUP_INSTANCE_ID", "OSPREY_INPUT_TOPICS", "OSPREY_OUTPUT_TOPIC",
        "OSPREY_DLQ_TOPIC", "OSPREY_OUTPUT_INCLUDE_FEATURES", "OSPREY_HTTP_HOST", "OSPREY_HTTP_PORT", "OSPREY_ADMIN_TOKEN",
        "OSPREY_CHECKPOINT_DIR", "OSPREY_CHECKPOINT_INTERVAL", "OSPREY_STATE_MEMORY_BUDGET", "OSPREY_MODEL", "OSPREY_MODEL_VERSION",
        "OSPREY_EXACTLY_ONCE", "OSPREY_TRANSACTIONAL_ID", "OSPREY_INSTANCES",
    ]

    /// `OSPREY_*` variables in `environment` that set nothing: neither an
    /// alias, a librdkafka property, nor a setting present in the file (in
    /// `applied`). Usually a typo, or a setting missing from the file.
    static func unused(_ environment: [String: String], applied: Set<String>) -> [String] {
        // Read by other parts of the toolchain, not the configuration.
        let elsewhere: Set<String> = ["OSPREY_REQUIRE_BROKER", "OSPREY_TRAINING_PYTHON", "OSPREY_BENCH_SKIP_BUILD", "OSPREY_BENCH_SKIP_INSTALL", "OSPREY_BENCH_NO_TL2CGEN", "OSPREY_ROOT", "OSPREY_TANSU", "OSPREY_BROKER_PID", "OSPREY_KAFKA_VENV"]
        return environment.keys.filter {
            $0.hasPrefix("OSPREY_") && !aliases.contains($0) && !applied.contains($0) && !$0.hasPrefix("OSPREY_KAFKA_PROPERTY_") && !elsewhere.contains($0)
        }.sorted()
    }

    /// Replaces the scalars of `node` (outside lists) named by `OSPREY_<PATH>` variables.
    static func replacingScalars(_ node: Node, environment: [String: String], path: String = "OSPREY", configPath: String = "", replaced: inout [String: String]) -> Node {
        guard case .mapping(var mapping) = node else { return node }
        var pairs: [(Node, Node)] = []
        for (key, value) in mapping {
            let keyText = key.string ?? ""
            let name = path + "_" + keyText.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 }.reduce(into: "") { $0.append($1) }
            let childPath = configPath.isEmpty ? keyText : "\(configPath).\(keyText)"
            switch value {
            case .scalar:
                if let replacement = environment[name] {
                    pairs.append((key, Node(replacement)))
                    replaced[childPath] = name
                } else {
                    pairs.append((key, value))
                }
            case .mapping:
                pairs.append((key, replacingScalars(value, environment: environment, path: name, configPath: childPath, replaced: &replaced)))
            default:
                pairs.append((key, value))
            }
        }
        mapping = Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark)
        return .mapping(mapping)
    }

    static func apply(
        _ environment: [String: String], alreadyApplied: Set<String> = [], spec: inout FeatureSpec, state: inout StateSettings, kafka: inout KafkaSettings,
        output: inout OutputSettings, model: inout ModelSettings, http: inout HTTPSettings, problems: ConfigProblems
    ) {
        // A variable that already replaced a setting in the file is not read twice.
        let env = environment.filter { !alreadyApplied.contains($0.key) }
        func fail(_ name: String, _ message: String) { problems.add(ConfigError(path: "$\(name)", message: message)) }
        if let v = env["OSPREY_KAFKA_BOOTSTRAP"] { kafka.bootstrap = v }
        if let v = env["OSPREY_GROUP_ID"] { kafka.groupID = v }
        if let v = env["OSPREY_GROUP_INSTANCE_ID"] { kafka.groupInstanceID = v.isEmpty ? nil : v }
        if let v = env["OSPREY_INPUT_TOPICS"] {
            let topics = v.split(separator: ",").map { String($0).trimmingCharacters(in: " ") }
            if topics.count != spec.eventTypes.count {
                fail("OSPREY_INPUT_TOPICS", "gives \(topics.count) topics for \(spec.eventTypes.count) event types (\(spec.eventTypes.map(\.name).joined(separator: ", "))); list one per event type, in config order")
            } else {
                for i in topics.indices { spec.eventTypes[i].topic = topics[i] }
            }
        }
        if let v = env["OSPREY_OUTPUT_TOPIC"] { output.topic = v }
        if let v = env["OSPREY_DLQ_TOPIC"] { output.deadLetterTopic = v }
        if let v = env["OSPREY_OUTPUT_INCLUDE_FEATURES"] {
            switch v.lowercased() {
            case "true", "1", "yes": output.includeFeatures = true
            case "false", "0", "no": output.includeFeatures = false
            default: fail("OSPREY_OUTPUT_INCLUDE_FEATURES", "'\(v)' is not true or false")
            }
        }
        if let v = env["OSPREY_HTTP_HOST"] { http.host = v }
        if let v = env["OSPREY_ADMIN_TOKEN"] { http.adminToken = v.isEmpty ? nil : v }
        if let v = env["OSPREY_HTTP_PORT"] {
            if let port = Int(v), (0...65535).contains(port) { http.port = port } else { fail("OSPREY_HTTP_PORT", "'\(v)' is not a port number (0-65535)") }
        }
        if let v = env["OSPREY_CHECKPOINT_DIR"] { state.checkpointDirectory = v }
        if let v = env["OSPREY_CHECKPOINT_INTERVAL"] {
            if let ms = Duration.milliseconds(v), ms >= 1000 { state.checkpointInterval = ms } else { fail("OSPREY_CHECKPOINT_INTERVAL", "'\(v)' is not a duration of at least 1s (e.g. 30s)") }
        }
        if let v = env["OSPREY_STATE_MEMORY_BUDGET"] {
            if let bytes = StateSettings.bytes(v) { state.memoryBudget = bytes } else { fail("OSPREY_STATE_MEMORY_BUDGET", "'\(v)' is not a byte size; write e.g. 512MiB or 2GiB") }
        }
        if let v = env["OSPREY_MODEL"] { model.path = v }
        if let v = env["OSPREY_MODEL_VERSION"] { model.version = v }
        for (name, value) in env.sorted(by: { $0.key < $1.key }) where name.hasPrefix("OSPREY_KAFKA_PROPERTY_") {
            let property = name.dropFirst("OSPREY_KAFKA_PROPERTY_".count).lowercased().replacingUnderscores()
            kafka.properties.append((property, value))
        }
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }

    func replacingUnderscores() -> String { String(map { $0 == "_" ? "." : $0 }) }
}

import OspreyFeatures

/// Everything `osprey run` needs: the feature spec, Kafka, output, model,
/// decision policy, state and checkpoint settings.
///
/// Read from the YAML file, then overridden by environment variables (see
/// ``EnvironmentOverrides``). Problems are collected and reported together.
public struct DaemonConfig: Sendable {
    /// The events and features.
    public var spec: FeatureSpec
    /// State budget and checkpoints.
    public var state: StateSettings
    /// Kafka connection and group.
    public var kafka: KafkaSettings
    /// Where decisions and dead letters go.
    public var output: OutputSettings
    /// The model file.
    public var model: ModelSettings
    /// Score thresholds to outcomes.
    public var policy: DecisionPolicy
    /// The HTTP port settings (served by the HTTP issue's routes).
    public var http: HTTPSettings
    /// How many instances share the consumer group (`deployment.instances`).
    public var instances = 1
    /// `OSPREY_*` environment variables that set nothing (typos, or settings
    /// the file lacks); `osprey run` and `validate` warn about them.
    public var unusedEnvironment: [String] = []

    /// Loads the configuration at `path` (relative paths inside it are relative
    /// to its folder) and applies `environment` overrides.
    public static func load(path: String, yaml: String, environment: [String: String]) throws(ConfigErrors) -> DaemonConfig {
        let base = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let baseDirectory = base.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : base
        let problems = ConfigProblems()
        guard let parsed = ConfigNode.parse(yaml: yaml, problems: problems) else {
            try problems.throwIfAny()
            throw ConfigErrors([ConfigError(path: "", message: "empty configuration")])
        }
        var replaced: [String: String] = [:]
        let root = ConfigNode(node: EnvironmentOverrides.replacingScalars(parsed.node, environment: environment, replaced: &replaced), path: "", problems: problems)
        do throws(ConfigErrors) {
            var config = try load(root: root, baseDirectory: baseDirectory, environment: environment, alreadyApplied: Set(replaced.values), problems: problems)
            config.unusedEnvironment = EnvironmentOverrides.unused(environment, applied: Set(replaced.values))
            return config
        } catch {
            // Name the variable when a bad value came from the environment.
            throw ConfigErrors(error.errors.map { e in
                guard let variable = replaced[e.path] else { return e }
                return ConfigError(path: e.path, message: "\(e.message) (set by \(variable))", line: e.line)
            })
        }
    }

    static func load(root: ConfigNode, baseDirectory: String, environment: [String: String], alreadyApplied: Set<String>, problems: ConfigProblems) throws(ConfigErrors) -> DaemonConfig {
        root.rejectUnknownKeys(["events", "state", "checkpoints", "kafka", "output", "model", "decision", "http", "deployment"])
        let spec = FeatureSpecLoader.load(root: root, baseDirectory: baseDirectory)
        var state = StateSettings.load(root: root, baseDirectory: baseDirectory)
        var kafka = KafkaSettings.load(root["kafka"], problems: problems)
        var output = OutputSettings.load(root["output"], problems: problems)
        var model = ModelSettings.load(root["model"], baseDirectory: baseDirectory, problems: problems)
        let policy = DecisionPolicy.load(root["decision"], problems: problems)
        var http = HTTPSettings.load(root["http"], problems: problems)
        var instances = 1
        if let deployment = root["deployment"] {
            deployment.rejectUnknownKeys(["instances"])
            if let n = deployment["instances"]?.int {
                if n < 1 { deployment["instances"]?.fail("must be at least 1") } else { instances = n }
            }
        }
        if let v = environment["OSPREY_INSTANCES"] {
            if let n = Int(v), n >= 1 { instances = n } else { problems.add(ConfigError(path: "$OSPREY_INSTANCES", message: "'\(v)' is not a whole number of at least 1")) }
        }
        guard var spec else {
            try problems.throwIfAny()
            throw ConfigErrors([ConfigError(path: "events", message: "missing")])
        }
        EnvironmentOverrides.apply(environment, alreadyApplied: alreadyApplied, spec: &spec, state: &state, kafka: &kafka, output: &output, model: &model, http: &http, problems: problems)
        if output.topic.isEmpty { problems.add(ConfigError(path: "output.topic", message: "missing; name the topic decisions go to (or set OSPREY_OUTPUT_TOPIC)")) }
        if output.deadLetterTopic.isEmpty { problems.add(ConfigError(path: "output.dead_letter_topic", message: "missing; name the dead-letter topic (or set OSPREY_DLQ_TOPIC)")) }
        if model.path.isEmpty && model.registry == nil { problems.add(ConfigError(path: "model.path", message: "missing; give the model file (or set OSPREY_MODEL), or a model registry with model.registry and model.name")) }
        if model.registry != nil && !model.path.isEmpty && environment["OSPREY_MODEL"] != nil {
            // OSPREY_MODEL names one file: it replaces the registry.
            model.registry = nil
            model.name = nil
        }
        let featureNames = Set(spec.eventTypes.flatMap(\.featureNames))
        for (i, rule) in policy.rules.enumerated() where !featureNames.contains(rule.feature) {
            problems.add(ConfigError(path: "decision.rules[\(i)].when", message: "no feature '\(rule.feature)'; rules read features by name: \(featureNames.sorted().joined(separator: ", "))"))
        }
        if kafka.bootstrap.isEmpty { problems.add(ConfigError(path: "kafka.bootstrap", message: "missing; give host:port of the brokers (or set OSPREY_KAFKA_BOOTSTRAP)")) }
        if kafka.groupID.isEmpty { problems.add(ConfigError(path: "kafka.group_id", message: "missing; name the consumer group (or set OSPREY_GROUP_ID)")) }
        if let v = environment["OSPREY_EXACTLY_ONCE"] {
            switch v.lowercased() {
            case "true", "1", "yes": output.exactlyOnce = true
            case "false", "0", "no": output.exactlyOnce = false
            default: problems.add(ConfigError(path: "$OSPREY_EXACTLY_ONCE", message: "'\(v)' is not true or false"))
            }
        }
        if let v = environment["OSPREY_TRANSACTIONAL_ID"] { output.transactionalID = v.isEmpty ? nil : v }
        if output.exactlyOnce {
            if output.transactionalID == nil, let instance = kafka.groupInstanceID { output.transactionalID = "osprey-\(kafka.groupID)-\(instance)" }
            if output.transactionalID == nil {
                problems.add(ConfigError(path: "output.transactional_id", message: "exactly-once needs an id that stays the same when this instance restarts (so the restart fences and aborts the transaction a crash left open) and differs between instances; set it, OSPREY_TRANSACTIONAL_ID, or kafka.group_instance_id"))
            }
            if state.checkpointDirectory == nil {
                problems.add(ConfigError(path: "output.exactly_once", message: "needs checkpoints.directory: each transaction is paired with the checkpoint of the state it committed"))
            }
            if state.checkpointKeep < 2 {
                problems.add(ConfigError(path: "checkpoints.keep", message: "exactly-once needs at least 2 (the checkpoint of the last committed transaction must survive the next one)"))
            }
        }
        if instances > 1 {
            for type in spec.eventTypes where !type.partitionLocalFeatures.isEmpty && !type.partitionLocalAccepted {
                let message = "\(instances) instances would each see only part of the events behind \(type.partitionLocalFeatures.joined(separator: ", ")): "
                    + "topic \(type.topic) is keyed by \(type.messageKeyField), so the events of one entity of another field are spread over partitions "
                    + "owned by different instances. Run one instance, key these features by \(type.messageKeyField), publish the events again "
                    + "keyed by that entity (a topic and event type of its own), or accept per-partition values for them with "
                    + "'partition_local: true' on event type '\(type.name)'"
                problems.add(ConfigError(path: "deployment.instances", message: message))
            }
        }
        try problems.throwIfAny()
        var config = DaemonConfig(spec: spec, state: state, kafka: kafka, output: output, model: model, policy: policy, http: http)
        config.instances = instances
        return config
    }
}

/// The `kafka:` section.
public struct KafkaSettings: Sendable, Equatable {
    /// `bootstrap.servers`.
    public var bootstrap = ""
    /// `group.id`.
    public var groupID = ""
    /// `group.instance.id` for static membership (stable across restarts).
    public var groupInstanceID: String?
    /// librdkafka properties for both clients.
    public var properties: [(String, String)] = []
    /// librdkafka properties for the consumer only.
    public var consumerProperties: [(String, String)] = []
    /// librdkafka properties for the producer only.
    public var producerProperties: [(String, String)] = []
    /// Pause fetching while the producer holds more than this many messages.
    public var maxInFlight = 100_000
    /// Replace the producer when it has delivered nothing for this long (ms)
    /// while messages wait and the brokers answer (`kafka.producer_stall_timeout`).
    public var producerStallTimeout: Int64 = 30_000

    public static func == (a: KafkaSettings, b: KafkaSettings) -> Bool {
        a.bootstrap == b.bootstrap && a.groupID == b.groupID && a.groupInstanceID == b.groupInstanceID
            && a.properties.elementsEqual(b.properties, by: ==) && a.consumerProperties.elementsEqual(b.consumerProperties, by: ==)
            && a.producerProperties.elementsEqual(b.producerProperties, by: ==) && a.maxInFlight == b.maxInFlight
            && a.producerStallTimeout == b.producerStallTimeout
    }

    static func load(_ node: ConfigNode?, problems: ConfigProblems) -> KafkaSettings {
        var settings = KafkaSettings()
        guard let node else { return settings }
        node.rejectUnknownKeys(["bootstrap", "group_id", "group_instance_id", "properties", "consumer_properties", "producer_properties", "max_in_flight", "producer_stall_timeout"])
        settings.bootstrap = node["bootstrap"]?.string ?? ""
        settings.groupID = node["group_id"]?.string ?? ""
        settings.groupInstanceID = node["group_instance_id"]?.string
        func properties(_ key: String) -> [(String, String)] {
            guard let entries = node[key]?.entries else { return [] }
            return entries.compactMap { name, value in value.string.map { (name, $0) } }
        }
        settings.properties = properties("properties")
        settings.consumerProperties = properties("consumer_properties")
        settings.producerProperties = properties("producer_properties")
        if let n = node["max_in_flight"]?.int { settings.maxInFlight = max(1, n) }
        if let stall = node["producer_stall_timeout"] {
            if let ms = stall.duration, ms >= 5_000 { settings.producerStallTimeout = ms } else { stall.fail("must be a duration of at least 5s, e.g. 30s") }
        }
        return settings
    }
}

/// The `output:` section.
public struct OutputSettings: Sendable, Equatable {
    /// The decision topic.
    public var topic = ""
    /// The dead-letter topic.
    public var deadLetterTopic = ""
    /// Put the feature vector in each decision (feature logging).
    public var includeFeatures = false
    /// How many reason codes each decision carries.
    public var reasons = 3
    /// Transactional output: decisions, dead letters and input offsets commit together.
    public var exactlyOnce = false
    /// The producer's `transactional.id`: stable across restarts of one
    /// instance, unique across instances (default: from `kafka.group_instance_id`).
    public var transactionalID: String?

    static func load(_ node: ConfigNode?, problems: ConfigProblems) -> OutputSettings {
        var settings = OutputSettings()
        guard let node else { return settings }
        node.rejectUnknownKeys(["topic", "dead_letter_topic", "include_features", "reasons", "exactly_once", "transactional_id"])
        settings.exactlyOnce = node["exactly_once"]?.bool ?? false
        settings.transactionalID = node["transactional_id"]?.string
        settings.topic = node["topic"]?.string ?? ""
        settings.deadLetterTopic = node["dead_letter_topic"]?.string ?? ""
        settings.includeFeatures = node["include_features"]?.bool ?? false
        if let n = node["reasons"]?.int { settings.reasons = max(0, min(n, 20)) }
        return settings
    }
}

/// The `model:` section: a single model file, or a registry of versions.
///
///     model:                         model:
///       path: model.json               registry: models
///       version: demo-1                name: payments
///                                      live: v1
///                                      challenger: v2
///                                      challenger_mode: canary
///                                      canary_fraction: 0.1
///                                      watch: 10s
public struct ModelSettings: Sendable, Equatable {
    /// The model file (XGBoost JSON or LightGBM text), when no registry is used.
    public var path = ""
    /// The version recorded in decisions for ``path`` (default: the file name).
    public var version: String?
    /// The registry folder (`<registry>/<name>/<version>/`).
    public var registry: String?
    /// The model's name in the registry.
    public var name: String?
    /// The live version when the registry records none (default: the last version by name).
    public var live: String?
    /// A challenger version.
    public var challenger: String?
    /// Shadow (default) or canary.
    public var challengerMode: ChallengerMode = .shadow
    /// In canary mode, the share of entities the challenger decides for.
    public var canaryFraction = 0.0
    /// Check the registry's deployment record this often (ms; 0: only on reload, SIGHUP).
    public var watchInterval: Int64 = 0
    /// The rolling window of drift (PSI) monitoring (ms).
    public var driftWindow: Int64 = 3_600_000

    /// The registry, when one is configured.
    public var modelRegistry: ModelRegistry? {
        guard let registry, let name else { return nil }
        return ModelRegistry(root: registry, name: name)
    }

    static func load(_ node: ConfigNode?, baseDirectory: String, problems: ConfigProblems) -> ModelSettings {
        var settings = ModelSettings()
        guard let node else { return settings }
        node.rejectUnknownKeys(["path", "version", "registry", "name", "live", "challenger", "challenger_mode", "canary_fraction", "watch", "drift_window"])
        func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : "\(baseDirectory)/\(path)" }
        if let path = node["path"]?.string { settings.path = absolute(path) }
        settings.version = node["version"]?.string
        settings.registry = node["registry"]?.string.map(absolute)
        settings.name = node["name"]?.string
        settings.live = node["live"]?.string
        settings.challenger = node["challenger"]?.string
        if let mode = node["challenger_mode"] {
            if let text = mode.string, let parsed = ChallengerMode(rawValue: text) { settings.challengerMode = parsed } else { mode.fail("must be shadow or canary") }
        }
        if let fraction = node["canary_fraction"] {
            if let f = fraction.double, f >= 0, f <= 1 { settings.canaryFraction = f } else { fraction.fail("must be a number from 0 to 1, e.g. 0.05 for 5% of entities") }
        }
        if let watch = node["watch"]?.duration { settings.watchInterval = watch }
        if let window = node["drift_window"] {
            if let ms = window.duration, ms >= 60_000 { settings.driftWindow = ms } else { window.fail("must be a duration of at least 1m, e.g. 1h") }
        }
        if settings.registry != nil && settings.name == nil { node.fail("'registry' needs 'name': the model's folder in the registry") }
        if settings.registry != nil && !settings.path.isEmpty { node.fail("give either 'path' (one model file) or 'registry' and 'name', not both") }
        return settings
    }
}

/// The `http:` section.
public struct HTTPSettings: Sendable, Equatable {
    /// Address to listen on.
    public var host = "127.0.0.1"
    /// Port (0: no HTTP port).
    public var port = 8080
    /// Bearer token for the admin routes (`nil`: admin routes always answer 401).
    public var adminToken: String?
    /// Largest accepted request body.
    public var maxBodyBytes = 1 << 20
    /// Largest `{"events": [...]}` batch.
    public var maxBatch = 100
    /// Consumer lag (events, per partition) above which /readyz fails.
    public var readyMaxLag: Int64 = 10_000
    /// Milliseconds a connection may send nothing before it closes, when no
    /// answer is owed to it (0: never).
    public var idleTimeout: Int64 = 60_000

    static func load(_ node: ConfigNode?, problems: ConfigProblems) -> HTTPSettings {
        var settings = HTTPSettings()
        guard let node else { return settings }
        node.rejectUnknownKeys(["host", "port", "admin_token", "max_body_bytes", "max_batch", "ready_max_lag", "idle_timeout"])
        if let host = node["host"]?.string { settings.host = host }
        if let port = node["port"]?.int { settings.port = port }
        settings.adminToken = node["admin_token"]?.string
        if let n = node["max_body_bytes"]?.byteSize { settings.maxBodyBytes = n }
        if let n = node["max_batch"]?.int { settings.maxBatch = max(1, n) }
        if let n = node["ready_max_lag"]?.int { settings.readyMaxLag = Int64(max(0, n)) }
        if let t = node["idle_timeout"]?.duration { settings.idleTimeout = max(0, t) }
        return settings
    }
}

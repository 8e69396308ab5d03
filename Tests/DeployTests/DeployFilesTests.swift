import Foundation
import OspreyFeatures
import Testing
import Yams
@testable import OspreyCore
@testable import OspreyHTTP

/// Keeps Deploy/ true to the code: the container image, Compose stack,
/// Kubernetes manifests, alert rules and dashboard may only name files,
/// ports, routes, environment variables, config keys and metrics that exist.
@Suite("Deploy files")
struct DeployFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    static func yaml(_ path: String) throws -> [String: Any] {
        try #require(try Yams.load(yaml: try text(path)) as? [String: Any], "\(path) is a YAML mapping")
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path) }

    /// The paths the HTTP server's router registers.
    static func routes() throws -> Set<String> {
        Set(try routesWithMethods().map { String($0.split(separator: " ")[1]) })
    }

    /// Every registered route as "METHOD path", from the router's source.
    static func routesWithMethods() throws -> Set<String> {
        let source = try text("Sources/OspreyHTTP/HTTPServer.swift")
        let regex = try NSRegularExpression(pattern: #"router\.(get|post)\("([^"]+)""#)
        return Set(regex.matches(in: source, range: NSRange(source.startIndex..., in: source)).map {
            source[Range($0.range(at: 1), in: source)!].uppercased() + " " + source[Range($0.range(at: 2), in: source)!]
        })
    }

    /// Every metric family Osprey exports, from a rendering with every kind of sample present.
    static func metricNames() -> Set<String> {
        var status = StreamStatus()
        status.models = [.init(role: "live", version: "v1", path: "m", trees: 1, features: ["a"], loadedAt: 0, metrics: [:])]
        status.drift = [.init(version: "v1", series: "score", psi: 0.1)]
        status.decisions = [.init(version: "v1", outcome: "approve"): 1]
        status.shadowDecisions = [.init(version: "v2", outcome: "approve"): 1]
        status.decisionSources = ["model": 1]
        status.consumed = ["payments-0": 1]
        status.lag = ["payments-0": 0]
        status.deadLetters = ["invalid_json": 1]
        status.featureMissing = ["a": 1]
        status.memoryBudget = 1 << 30
        let metrics = RequestMetrics()
        metrics.record(route: "/v1/score", status: 200, seconds: 0.001)
        let text = PrometheusText.render(status, requests: metrics.snapshot())
        var names = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            let name = String(parts[2])
            names.insert(name)
            if parts[3] == "histogram" { for suffix in ["_bucket", "_sum", "_count"] { names.insert(name + suffix) } }
        }
        return names
    }

    /// The `osprey_*` names a PromQL text uses.
    static func metricsUsed(in text: String) throws -> Set<String> {
        let regex = try NSRegularExpression(pattern: #"\bosprey_[a-z_]+\b"#)
        return Set(regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) })
    }

    /// Loads a config as `osprey run` would, with `environment`.
    static func load(_ path: String, yaml: String, environment: [String: String]) throws -> DaemonConfig {
        try DaemonConfig.load(path: path, yaml: yaml, environment: environment)
    }

    @Test("the table that answers 405 lists exactly the routes the router registers, and POST /v1/score")
    func routeMethodsMatchTheRouter() throws {
        let table = Set(RouteMethods.routes.map { "\($0.method) /" + $0.path.joined(separator: "/") })
        #expect(table == (try Self.routesWithMethods()).union(["POST /v1/score"]))
        #expect(RouteMethods.allowed(for: "/v1/score/") == ["POST"])
        #expect(RouteMethods.allowed(for: "/v1/entities/card_id/c-1/features") == ["GET"])
        #expect(RouteMethods.allowed(for: "/v1/entities/card_id/features").isEmpty)
        #expect(RouteMethods.allowed(for: "/nowhere").isEmpty)
    }

    @Test("the Dockerfile builds with the script the test suite runs, copies files that exist, and serves /healthz on the port it exposes")
    func dockerfile() throws {
        let dockerfile = try Self.text("Deploy/Dockerfile")
        #expect(dockerfile.contains("RUN Deploy/scripts/build-release.sh /out"))
        #expect(try Self.text("Deploy/scripts/test.sh").contains("Deploy/scripts/build-release.sh"), "test.sh runs the image's build step")
        for line in dockerfile.split(separator: "\n") where line.hasPrefix("COPY ") && !line.contains("--from=") {
            let parts = line.split(separator: " ").filter { !$0.hasPrefix("--") }
            for source in parts.dropFirst().dropLast() { #expect(Self.exists(String(source)), "COPY source \(source)") }
        }
        #expect(dockerfile.contains("FROM swift:"), "built with the official Swift image")
        #expect(dockerfile.contains("FROM debian:bookworm-slim"))
        #expect(dockerfile.contains("USER 10001:10001"), "runs as a non-root user")
        #expect(dockerfile.contains("EXPOSE 8080") && dockerfile.contains("OSPREY_HTTP_PORT=8080"))
        #expect(dockerfile.contains("/dev/tcp/127.0.0.1/8080") && dockerfile.contains("GET /healthz"))
        #expect(try Self.routes().contains("/healthz"))
        // Its default command is an example config that loads with the image's environment.
        let (path, yaml) = (Self.root.appendingPathComponent("Deploy/examples/payments/osprey.yaml").path, try Self.text("Deploy/examples/payments/osprey.yaml"))
        let config = try Self.load(path, yaml: yaml, environment: [
            "OSPREY_CHECKPOINT_DIR": "/var/lib/osprey/checkpoints", "OSPREY_HTTP_HOST": "0.0.0.0", "OSPREY_HTTP_PORT": "8080",
            "OSPREY_MODEL_REGISTRY": "/var/lib/osprey/models",
        ])
        #expect(config.unusedEnvironment.isEmpty)
        #expect(dockerfile.contains("CMD [\"run\", \"--config\", \"/opt/osprey/Deploy/examples/payments/osprey.yaml\"]"))
    }

    @Test("Compose: Kafka in KRaft mode, topics from Topics/, Osprey, the generator, Prometheus and Grafana, with files and variables that exist")
    func compose() throws {
        let compose = try Self.yaml("Deploy/compose.yaml")
        let services = try #require(compose["services"] as? [String: Any])
        #expect(Set(services.keys) == ["kafka", "topics", "osprey", "generator", "prometheus", "grafana"])
        let kafka = try #require(services["kafka"] as? [String: Any])
        #expect((kafka["image"] as? String)?.hasPrefix("apache/kafka:") == true)
        #expect((kafka["environment"] as? [String: Any])?["KAFKA_PROCESS_ROLES"] as? String == "broker,controller")
        // Every host path mounted exists (relative to Deploy/).
        for (name, service) in services {
            for volume in (service as? [String: Any])?["volumes"] as? [String] ?? [] {
                let host = String(volume.split(separator: ":")[0])
                guard host.hasPrefix(".") else { continue }
                #expect(Self.exists("Deploy/\(host)"), "\(name) mounts \(host)")
            }
        }
        let topics = try #require(services["topics"] as? [String: Any])
        #expect((topics["entrypoint"] as? [String])?.contains("/topics/create-topics.sh") == true)
        let generator = try #require(services["generator"] as? [String: Any])
        #expect((generator["command"] as? [String])?.last?.contains("/tools/generate_events.py payments") == true)
        let osprey = try #require(services["osprey"] as? [String: Any])
        #expect((osprey["build"] as? [String: Any])?["dockerfile"] as? String == "Deploy/Dockerfile")
        #expect((osprey["ports"] as? [String]) == ["127.0.0.1:8080:8080"], "published on loopback only")
        let environment = try #require(osprey["environment"] as? [String: String])
        let example = Self.root.appendingPathComponent("Deploy/examples/payments/osprey.yaml").path
        let config = try Self.load(example, yaml: try Self.text("Deploy/examples/payments/osprey.yaml"), environment: environment)
        #expect(config.unusedEnvironment.isEmpty, "unknown variables: \(config.unusedEnvironment)")
        #expect(config.kafka.bootstrap == "kafka:9092")
        let prometheus = try Self.text("Deploy/prometheus/prometheus.yml")
        #expect(prometheus.contains("targets: [\"osprey:8080\"]") && prometheus.contains("metrics_path: /metrics"))
    }

    @Test("Kubernetes: the manifests parse, the ConfigMap's config loads with the pod's environment, and ports, probes, volumes and sizes agree with it")
    func kubernetes() throws {
        var kinds: [String: [String: Any]] = [:]
        let kustomization = try Self.yaml("Deploy/kubernetes/kustomization.yaml")
        let files = try #require(kustomization["resources"] as? [String])
        for file in files + ["secret.yaml"] {
            for document in try Yams.load_all(yaml: try Self.text("Deploy/kubernetes/\(file)")) {
                let object = try #require(document as? [String: Any])
                let kind = try #require(object["kind"] as? String)
                let name = try #require((object["metadata"] as? [String: Any])?["name"] as? String)
                kinds["\(kind)/\(name)"] = object
            }
        }
        #expect(Set(kinds.keys) == ["ConfigMap/osprey-config", "PersistentVolumeClaim/osprey-models", "StatefulSet/osprey", "Service/osprey",
                                    "Service/osprey-headless", "PodDisruptionBudget/osprey", "Secret/osprey-admin"])
        let statefulSet = try #require(kinds["StatefulSet/osprey"])
        let spec = try #require(statefulSet["spec"] as? [String: Any])
        let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let replicas = try #require(spec["replicas"] as? Int)

        // The pod's environment, as Kubernetes would give it.
        var environment: [String: String] = [:]
        for variable in container["env"] as? [[String: Any]] ?? [] {
            let name = try #require(variable["name"] as? String)
            environment[name] = (variable["value"] as? String)?.replacingOccurrences(of: "$(POD_NAME)", with: "osprey-0") ?? "from-a-reference"
        }
        let configMap = try #require((kinds["ConfigMap/osprey-config"]?["data"] as? [String: String])?["osprey.yaml"])
        // The image holds Topics/ at /opt/osprey; here that is the repository.
        let yaml = configMap.replacingOccurrences(of: "/opt/osprey/", with: Self.root.path + "/")
        let config = try Self.load("/etc/osprey/osprey.yaml", yaml: yaml, environment: environment.filter { $0.key.hasPrefix("OSPREY_") })
        #expect(config.unusedEnvironment.isEmpty, "unknown variables: \(config.unusedEnvironment)")
        #expect(config.instances == replicas, "OSPREY_INSTANCES follows the replica count")
        #expect(config.kafka.groupInstanceID == "osprey-0", "static membership from the pod name")
        #expect(config.http.host == "0.0.0.0")

        // Port, probes and Services.
        let port = try #require((container["ports"] as? [[String: Any]])?.first)
        #expect(port["containerPort"] as? Int == config.http.port && port["name"] as? String == "http")
        let routes = try Self.routes()
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")] {
            let httpGet = try #require((container[probe] as? [String: Any])?["httpGet"] as? [String: Any], "\(probe)")
            #expect(httpGet["path"] as? String == path && httpGet["port"] as? String == "http")
            #expect(routes.contains(path))
        }
        for service in ["Service/osprey", "Service/osprey-headless"] {
            let ports = (kinds[service]?["spec"] as? [String: Any])?["ports"] as? [[String: Any]]
            #expect(ports?.first?["targetPort"] as? String == "http")
        }
        let annotations = (spec["template"] as? [String: Any]).flatMap { ($0["metadata"] as? [String: Any])?["annotations"] as? [String: String] }
        #expect(annotations?["prometheus.io/port"] == String(config.http.port) && routes.contains(annotations?["prometheus.io/path"] ?? ""))

        // Volumes hold what the config writes; the seeded model exists in the image.
        let mounts = Dictionary(uniqueKeysWithValues: (container["volumeMounts"] as? [[String: Any]] ?? []).map { ($0["name"] as! String, $0["mountPath"] as! String) })
        #expect(mounts["checkpoints"] == config.state.checkpointDirectory)
        #expect(mounts["models"] == config.model.registry)
        #expect(mounts["config"] == "/etc/osprey")
        let templates = spec["volumeClaimTemplates"] as? [[String: Any]]
        #expect((templates?.first?["metadata"] as? [String: Any])?["name"] as? String == "checkpoints", "a volume per pod for checkpoints")
        let seed = try #require((pod["initContainers"] as? [[String: Any]])?.first?["command"] as? [String])
        #expect(seed.last?.contains("/opt/osprey/Deploy/examples/payments/models/payments/v1") == true)
        #expect(Self.exists("Deploy/examples/payments/models/payments/v1/metadata.json"))

        // Shutdown and sizing.
        let grace = try #require(pod["terminationGracePeriodSeconds"] as? Int)
        #expect(grace > 45, "longer than Osprey's bounded stop")
        let resources = try #require(container["resources"] as? [String: Any])
        let limit = try #require((resources["limits"] as? [String: Any])?["memory"] as? String)
        let budget = try #require(config.state.memoryBudget)
        #expect(Self.kubernetesBytes(limit).map { $0 > budget } == true, "the memory limit \(limit) is above state.memory_budget")
        #expect(((kinds["PodDisruptionBudget/osprey"]?["spec"] as? [String: Any])?["maxUnavailable"] as? Int) == 1)
        #expect((pod["securityContext"] as? [String: Any])?["runAsNonRoot"] as? Bool == true)
    }

    @Test("alert rules and the dashboard query only metrics Osprey exports, and cover what ops must see")
    func metricsExist() throws {
        let exported = Self.metricNames()
        #expect(exported.count > 30)
        let alerts = try Self.text("Deploy/prometheus/alerts.yml")
        let dashboard = try Self.text("Deploy/grafana/osprey-dashboard.json")
        for (file, text) in [("alerts.yml", alerts), ("alerts_test.yml", try Self.text("Deploy/prometheus/alerts_test.yml")), ("osprey-dashboard.json", dashboard)] {
            let unknown = try Self.metricsUsed(in: text).subtracting(exported)
            #expect(unknown.isEmpty, "\(file) uses metrics Osprey does not export: \(unknown.sorted())")
        }
        let rules = try Self.yaml("Deploy/prometheus/alerts.yml")
        let names = ((rules["groups"] as? [[String: Any]])?.first?["rules"] as? [[String: Any]] ?? []).compactMap { $0["alert"] as? String }
        for needed in ["OspreyConsumerLagGrowing", "OspreyCheckpointTooOld", "OspreyDeadLettersRising", "OspreyDriftHigh", "OspreyNoDecisions", "OspreyLatencyOverBudget"] {
            #expect(names.contains(needed))
        }
        let panels = try #require((try JSONSerialization.jsonObject(with: Data(dashboard.utf8)) as? [String: Any])?["panels"] as? [[String: Any]])
        let queries = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }.joined(separator: "\n")
        for needed in ["osprey_events_consumed_total", "osprey_decisions_total", "osprey_score_bucket", "osprey_end_to_end_latency_seconds_bucket",
                       "osprey_consumer_lag", "osprey_checkpoint_age_seconds", "osprey_state_bytes", "osprey_drift_psi", "osprey_invalid_events_total"] {
            #expect(queries.contains(needed), "the dashboard shows \(needed)")
        }
        #expect(Self.exists("Deploy/grafana/provisioning/datasources/prometheus.yml") && Self.exists("Deploy/grafana/provisioning/dashboards/osprey.yml"))
    }

    @Test("promtool accepts the rules, passes their unit tests, and accepts the scrape config", .enabled(if: DeployFilesTests.promtool != nil, "no promtool: apt-get install prometheus (Deploy/scripts/test.sh does)"))
    func promtoolChecks() throws {
        let promtool = try #require(Self.promtool)
        func run(_ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: promtool)
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        let deploy = Self.root.appendingPathComponent("Deploy/prometheus")
        var (status, output) = try run(["check", "rules", deploy.appendingPathComponent("alerts.yml").path])
        #expect(status == 0, "\(output)")
        (status, output) = try run(["test", "rules", deploy.appendingPathComponent("alerts_test.yml").path])
        #expect(status == 0, "\(output)")
        // The scrape config names the rules where the container mounts them; point it here.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-prometheus-\(UUID().uuidString).yml")
        try (try Self.text("Deploy/prometheus/prometheus.yml")).replacingOccurrences(of: "/etc/prometheus/alerts.yml", with: deploy.appendingPathComponent("alerts.yml").path)
            .write(to: scratch, atomically: true, encoding: .utf8)
        (status, output) = try run(["check", "config", scratch.path])
        #expect(status == 0, "\(output)")
    }

    /// A Kubernetes memory quantity with a binary suffix (512Mi, 2Gi).
    static func kubernetesBytes(_ quantity: String) -> Int? {
        for (suffix, scale) in [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)] where quantity.hasSuffix(suffix) {
            return Int(quantity.dropLast(2)).map { $0 * scale }
        }
        return Int(quantity)
    }

    static let promtool: String? = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

import Foundation
import OspreyJSON
import Testing

/// The training loop end to end: generated labelled events, Deploy/training/train.py
/// (osprey backfill, XGBoost or LightGBM, evaluation), a registry version that
/// `osprey validate` accepts for the payments example.
///
/// Needs Python with numpy, xgboost and lightgbm: Deploy/scripts/test.sh
/// installs them and sets OSPREY_TRAINING_PYTHON.
@Suite("Training loop", .enabled(if: TrainingPython.path != nil, "no training Python: run Deploy/scripts/test.sh (or set OSPREY_TRAINING_PYTHON)"))
struct TrainingLoopTests {
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("train.py writes a registry version (model and metadata) that the daemon's validation accepts", arguments: ["xgboost", "lightgbm"])
    func trainsAVersion(library: String) throws {
        let python = try #require(TrainingPython.path)
        let osprey = try #require(Daemon.executable, "build the package first")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let events = directory.appendingPathComponent("events.jsonl").path
        let labels = directory.appendingPathComponent("labels.csv").path
        let registry = directory.appendingPathComponent("models").path
        let root = Daemon.root.path
        let generated = try Self.run(python, ["\(root)/Deploy/tools/generate_events.py", "payments", "--count", "40000", "--entities", "1000",
                                             "--rate", "20", "--seed", "5", "--out", events, "--labels", labels])
        #expect(generated.status == 0, "\(generated.output)")
        for expected in ["v1", "v2"] {
            let trained = try Self.run(python, ["\(root)/Deploy/training/train.py", "--config", Daemon.paymentsConfig, "--events", events,
                                               "--labels", labels, "--registry", registry, "--name", "payments", "--library", library,
                                               "--trees", "20", "--osprey", osprey])
            #expect(trained.status == 0, "\(trained.output)")
            #expect(trained.output.contains("payments \(expected):"), "versions are numbered: \(trained.output)")
        }
        let version = directory.appendingPathComponent("models/payments/v2")
        let modelFile = library == "xgboost" ? "model.json" : "model.txt"
        #expect(FileManager.default.fileExists(atPath: version.appendingPathComponent(modelFile).path))
        let metadata = try JSONReader.parse(Array(try Data(contentsOf: version.appendingPathComponent("metadata.json"))))
        let names = metadata["feature_names"]?.arrayValue ?? []
        let features = names.compactMap { $0.stringValue }
        #expect(features.first == "amount" && features.count == 14)
        // The generated fraud pattern is easy to learn: a working loop finds it.
        #expect((metadata["metrics"]?["auc"]?.numberValue ?? 0) > 0.95)
        #expect(metadata["metrics"]?["precision_at_decline"]?.numberValue != nil)
        #expect(metadata["metrics"]?["decline_threshold"]?.numberValue == 0.9)
        #expect(metadata["training"]?["events_sha256"]?.stringValue?.count == 64)
        #expect(metadata["reference"]?["score"]?["counts"]?.arrayValue?.isEmpty == false)
        #expect(metadata["reference"]?["features"]?["amount"]?["edges"]?.arrayValue?.isEmpty == false)

        let checked = try Self.run(osprey, ["validate", "--config", Daemon.paymentsConfig],
                                   environment: ["OSPREY_MODEL_REGISTRY": registry, "OSPREY_MODEL_LIVE": "v2"])
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("live model \(version.appendingPathComponent(modelFile).path): version v2"), "\(checked.output)")

        // A version is never overwritten.
        let again = try Self.run(python, ["\(root)/Deploy/training/train.py", "--config", Daemon.paymentsConfig, "--events", events,
                                         "--labels", labels, "--registry", registry, "--name", "payments", "--version", "v2", "--osprey", osprey])
        #expect(again.status != 0 && again.output.contains("never overwritten"))
    }
}

/// The Python with numpy, xgboost and lightgbm that test.sh prepared.
enum TrainingPython {
    static let path: String? = ProcessInfo.processInfo.environment["OSPREY_TRAINING_PYTHON"]
}

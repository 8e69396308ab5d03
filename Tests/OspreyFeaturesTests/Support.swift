import Foundation
@testable import OspreyFeatures

/// Paths and helpers shared by the feature tests.
enum FeatureFixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let referenceDirectory = repository.appendingPathComponent("Tests/Fixtures/features")
    static let referenceConfig = referenceDirectory.appendingPathComponent("osprey.yaml").path
    static let referenceEvents = referenceDirectory.appendingPathComponent("events.jsonl").path
    static let referenceExpected = referenceDirectory.appendingPathComponent("expected.csv").path

    static func spec(_ path: String) throws -> FeatureSpec {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try FeatureSpecLoader.load(yaml: text, baseDirectory: (path as NSString).deletingLastPathComponent)
    }

    static func plan(_ path: String = referenceConfig) throws -> FeaturePlan { FeaturePlan(spec: try spec(path)) }

    static func lines(_ path: String = referenceEvents) throws -> [[UInt8]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { Array($0.utf8) }
    }

    /// A CSV file as rows of fields (the files written here never quote).
    static func csv(_ path: String) throws -> [[String]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "osprey-tests-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs events through the daemon's path: decode from bytes, then process.
    static func stream(_ lines: [[UInt8]], plan: FeaturePlan, state: inout PartitionState) -> [(id: String, vector: FeatureVector)] {
        let engine = FeatureEngine(plan: plan)
        let decoder = plan.decoder(forEventType: 0)
        var event = decoder.makeEvent()
        var vector = engine.makeVector(eventType: 0)
        var out: [(String, FeatureVector)] = []
        for line in lines {
            do { try decoder.decode(line, into: &event) } catch { continue }
            engine.process(event, eventType: 0, state: &state, into: &vector)
            out.append((event.id, vector))
        }
        return out
    }

    static func config(_ features: String, fields: String = "      event_id: string\n      event_time: timestamp\n      card_id: string\n      amount: number\n", extra: String = "") -> String {
        """
        events:
          - name: payment
            topic: payments
        \(extra)    fields:
        \(fields)    features:
        \(features)
        """
    }
}

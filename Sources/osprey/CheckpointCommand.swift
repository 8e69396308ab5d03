import ArgumentParser
import Foundation
import OspreyFeatures

/// `osprey checkpoint`: tools for checkpoint files.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Inspect feature-state checkpoints.",
        subcommands: [Inspect.self]
    )

    /// `osprey checkpoint inspect PATH`.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what a checkpoint holds and verify its checksum (and its spec, with --config)."
        )

        @Argument(help: "Checkpoint file (.osck).")
        var path: String

        @Option(name: .long, help: "Also check the checkpoint against this configuration's feature spec.")
        var config: String?

        func run() throws {
            guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
            let plan = try config.map { FeaturePlan(spec: try ConfigFile.featureSpec(at: $0)) }
            let metadata: CheckpointMetadata
            let summary: CheckpointSummary
            do {
                (metadata, _, summary) = try CheckpointCodec.decode([UInt8](data), plan: nil)
            } catch {
                throw CLIError("\(path): \(error)")
            }
            var lines = [
                "file:            \(path)",
                "format:          version \(summary.version), \(summary.bytes) bytes, CRC-32C 0x\(String(summary.checksum, radix: 16)) (verified)",
                "partition:       \(metadata.topic)-\(metadata.partition)",
                "next offset:     \(metadata.nextOffset)",
                "created:         \(iso(metadata.createdAt))",
                "stream time:     \(summary.streamTime == .min ? "none" : "\(iso(summary.streamTime)) (\(summary.streamTime))")",
                "spec:            fingerprint 0x\(String(metadata.specFingerprint, radix: 16))",
                "events:          \(summary.appliedEvents) applied, \(summary.lateEvents) late, \(summary.expiredEntities) entity expiries",
            ]
            for (name, count) in zip(metadata.entityKinds, summary.entityCounts) {
                lines.append("entities:        \(name): \(count)")
            }
            lines.append("state words:     \(summary.stateWords) (\(summary.stateWords * 8) bytes)")
            if let plan {
                do {
                    _ = try CheckpointCodec.decode([UInt8](data), plan: plan)
                    lines.append("config:          compatible with \(config!)")
                } catch {
                    lines.append("config:          NOT compatible with \(config!): \(error)")
                    print(lines.joined(separator: "\n"))
                    throw ExitCode(2)
                }
            }
            print(lines.joined(separator: "\n"))
        }

        func iso(_ ms: Int64) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
        }
    }
}

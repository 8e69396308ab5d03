import ArgumentParser
import Foundation
import OspreyFeatures

/// `osprey backfill`: the daemon's feature vectors for a historical event file.
struct BackfillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Compute, for every event in a JSON-lines file, the feature vector the daemon would have used.",
        discussion: """
            The file is one partition's stream, in order, one JSON event per line. The \
            output CSV has event_id, then the features in config order (an empty field is \
            missing), then the label when --labels is given: ready for XGBoost or LightGBM. \
            Invalid events are skipped, as the daemon dead-letters them, and listed on stderr.
            """
    )

    @Option(name: .long, help: "Osprey configuration file (YAML).")
    var config: String

    @Option(name: .long, help: "Events, one JSON object per line, in stream order.")
    var events: String

    @Option(name: .long, help: "Output CSV ('-' for standard output).")
    var output: String

    @Option(name: .long, help: "CSV with event_id and label columns, joined as a last 'label' column.")
    var labels: String?

    @Option(name: .long, help: "Name of the label column in --labels.")
    var labelColumn = "label"

    @Option(name: .long, help: "Event type of the file (needed when the config declares several).")
    var eventType: String?

    @Flag(name: .long, help: "Also write event_time, stream_time, lag_ms and late columns.")
    var withMetadata = false

    func run() throws {
        let (spec, settings) = try ConfigFile.featureSpecAndSettings(at: config)
        let plan = FeaturePlan(spec: spec)
        let type = try ConfigFile.eventType(eventType, in: plan)
        let labelMap = try labels.map { try Backfill.readLabels(path: $0, labelColumn: labelColumn) }
        let start = Date()
        let report = try Backfill.run(
            engine: FeatureEngine(plan: plan), eventsPath: events, outputPath: output,
            options: .init(eventType: type, labels: labelMap, withMetadata: withMetadata, memoryBudget: settings.memoryBudget))
        let seconds = Date().timeIntervalSince(start)
        var summary = "backfill: \(report.rows) rows in \(String(format: "%.2f", seconds)) s; \(report.lateEvents) late events; \(report.entities) entities (~\(byteText(report.stateBytes)) of state)"
        if labelMap != nil { summary += "; \(report.unlabeled) rows without a label" }
        for (row, transition) in report.budgetTransitions {
            switch transition {
            case .exceeded(let bytes, let budget):
                summary += "\nbackfill: at row \(row) the feature state (\(byteText(bytes))) passed state.memory_budget (\(byteText(budget))); expired entities swept, nothing dropped; raise the budget or shorten windows/entity_ttl"
            case .recovered(let bytes, let budget):
                summary += "\nbackfill: at row \(row) the feature state (\(byteText(bytes))) is back under state.memory_budget (\(byteText(budget)))"
            }
        }
        if !report.rejected.isEmpty {
            summary += "\nbackfill: \(report.rejected.count) invalid events skipped (the daemon dead-letters them):"
            for (line, error) in report.rejected.prefix(20) { summary += "\n  line \(line): \(error)" }
            if report.rejected.count > 20 { summary += "\n  ... and \(report.rejected.count - 20) more" }
        }
        FileHandle.standardError.write(Data((summary + "\n").utf8))
    }
}

/// A byte count for people: KiB below 10 MiB, MiB below 10 GiB, else GiB.
func byteText(_ bytes: Int) -> String {
    if bytes < 10 << 20 { return "\(bytes >> 10) KiB" }
    if bytes < 10 << 30 { return "\(bytes >> 20) MiB" }
    return "\(bytes >> 30) GiB"
}

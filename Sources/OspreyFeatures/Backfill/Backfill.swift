#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Recomputes, for every event of a historical file, the feature vector the
/// daemon would have used, through the same ``FeatureEngine`` code path.
///
/// The file is read in order as one partition's stream: a JSON event per line
/// (blank lines are skipped). Events that fail to decode are skipped exactly as
/// the daemon sends them to the dead-letter topic without touching state, and
/// reported with their line numbers.
public struct Backfill {
    /// Options for one run.
    public struct Options: Sendable {
        /// The event type of every line.
        public var eventType: Int
        /// Labels by event id, joined as a last `label` column when given.
        public var labels: [String: String]?
        /// Also write event_time, stream_time, lag_ms and late columns.
        public var withMetadata = false
        /// The state's memory budget (`state.memory_budget`), if any.
        public var memoryBudget: Int?

        /// Creates options.
        public init(eventType: Int, labels: [String: String]? = nil, withMetadata: Bool = false, memoryBudget: Int? = nil) {
            self.eventType = eventType
            self.labels = labels
            self.withMetadata = withMetadata
            self.memoryBudget = memoryBudget
        }
    }

    /// What a run did.
    public struct Report: Sendable {
        /// Rows written.
        public var rows = 0
        /// Lines skipped because the event was invalid, with their reasons.
        public var rejected: [(line: Int, error: EventError)] = []
        /// Events later than the allowed lateness (scored, state unchanged).
        public var lateEvents = 0
        /// Rows whose event id had no label.
        public var unlabeled = 0
        /// Entities held at the end, and the state's estimated size.
        public var entities = 0
        public var stateBytes = 0
        /// Times the state crossed its memory budget, with the row it happened at.
        public var budgetTransitions: [(row: Int, transition: MemoryBudget.Transition)] = []
    }

    /// Reads a labels CSV (`event_id,label` header) into a map.
    public static func readLabels(path: String, labelColumn: String = "label") throws(BackfillError) -> [String: String] {
        guard let bytes = readFileBytes(path) else { throw .io("cannot read labels file \(path)") }
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).makeIterator()
        guard let header = lines.next() else { throw .labels("\(path) is empty; it needs a header with event_id and \(labelColumn)") }
        let names = header.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters() }
        guard let idColumn = names.firstIndex(of: "event_id") else { throw .labels("\(path) has no 'event_id' column (header: \(names.joined(separator: ",")))") }
        guard let valueColumn = names.firstIndex(of: labelColumn) else { throw .labels("\(path) has no '\(labelColumn)' column (header: \(names.joined(separator: ",")))") }
        var labels: [String: String] = [:]
        var lineNumber = 1
        while let line = lines.next() {
            lineNumber += 1
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count > Swift.max(idColumn, valueColumn) else { throw .labels("\(path) line \(lineNumber) has \(cells.count) columns, the header \(names.count)") }
            labels[cells[idColumn].trimmingCharacters()] = cells[valueColumn].trimmingCharacters()
        }
        return labels
    }

    /// Processes `eventsPath` (JSON lines) and writes the CSV to `outputPath` ("-" for standard output).
    public static func run(engine: FeatureEngine, eventsPath: String, outputPath: String, options: Options) throws(BackfillError) -> Report {
        guard let input = fopen(eventsPath, "rb") else { throw .io("cannot open events file \(eventsPath): \(String(cString: strerror(errno)))") }
        defer { fclose(input) }
        // Standard output is duplicated so closing the stream leaves fd 1 open.
        guard let output = outputPath == "-" ? fdopen(dup(1), "wb") : fopen(outputPath, "wb") else { throw .io("cannot create \(outputPath): \(String(cString: strerror(errno)))") }
        defer { fclose(output) }

        let plan = engine.plan
        let type = plan.spec.eventTypes[options.eventType]
        let decoder = plan.decoder(forEventType: options.eventType)
        var event = decoder.makeEvent()
        var vector = engine.makeVector(eventType: options.eventType)
        var state = PartitionState(plan: plan)
        var report = Report()

        var header = "event_id," + type.featureNames.map(csvField).joined(separator: ",")
        if options.withMetadata { header += ",event_time,stream_time,lag_ms,late" }
        if options.labels != nil { header += ",label" }
        header += "\n"
        fputs(header, output)

        var linePointer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(linePointer) }
        var lineNumber = 0
        var row = ""
        row.reserveCapacity(512)
        var nextShard = 0
        var budget = options.memoryBudget.map(MemoryBudget.init)
        while true {
            let length = getline(&linePointer, &capacity, input)
            if length < 0 { break }
            lineNumber += 1
            var n = length
            while n > 0, linePointer![n - 1] == 0x0A || linePointer![n - 1] == 0x0D { n -= 1 }
            let line = UnsafeRawBufferPointer(start: linePointer!, count: n)
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do throws(EventError) {
                try decoder.decode(line, into: &event)
            } catch {
                report.rejected.append((lineNumber, error))
                continue
            }
            engine.process(event, eventType: options.eventType, state: &state, into: &vector)
            if vector.late { report.lateEvents += 1 }

            row.removeAll(keepingCapacity: true)
            row += csvField(event.id)
            for v in vector.values {
                row += ","
                if !v.isNaN { row += v.description }
            }
            if options.withMetadata {
                row += ",\(vector.eventTime),\(vector.streamTime),\(vector.lag),\(vector.late ? 1 : 0)"
            }
            if let labels = options.labels {
                row += ","
                if let label = labels[event.id] { row += csvField(label) } else { report.unlabeled += 1 }
            }
            row += "\n"
            fputs(row, output)
            report.rows += 1

            // Return memory of idle entities as the daemon does; values never depend on it.
            if report.rows & 1023 == 0 {
                _ = state.sweep(shard: nextShard, plan: plan)
                nextShard = (nextShard + 1) % EntityTable.shardCount
                if let transition = budget?.observe(bytes: state.approximateBytes) {
                    report.budgetTransitions.append((report.rows, transition))
                    if case .exceeded = transition {
                        for shard in 0..<EntityTable.shardCount { _ = state.sweep(shard: shard, plan: plan) }
                    }
                }
            }
        }
        if ferror(input) != 0 { throw .io("error reading \(eventsPath)") }
        if fflush(output) != 0 || ferror(output) != 0 { throw .io("error writing \(outputPath): \(String(cString: strerror(errno)))") }
        report.entities = state.entityCount
        report.stateBytes = state.approximateBytes
        return report
    }
}

/// Why a backfill could not run.
public enum BackfillError: Error, Sendable, CustomStringConvertible {
    /// A file could not be read or written.
    case io(String)
    /// The labels file is not usable.
    case labels(String)

    public var description: String {
        switch self {
        case .io(let m), .labels(let m): return m
        }
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break.
func csvField(_ s: String) -> String {
    guard s.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else { return s }
    return "\"" + s.replacingQuotes() + "\""
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\"" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\"" { s.removeLast() }
        return String(s)
    }

    func replacingQuotes() -> String {
        var out = ""
        for c in self { if c == "\"" { out += "\"\"" } else { out.append(c) } }
        return out
    }
}

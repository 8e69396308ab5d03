import Logging

/// Hands the HTTP server's log messages to ``Log/line(_:)``, the daemon's one log.
///
/// Metadata is kept as given and formatted only when a message is written:
/// Hummingbird attaches a request id to every request's logger, and swift-log's
/// `StreamLogHandler` formats its whole metadata each time metadata is set,
/// which cost a few percent of the CPU of every scored request even though
/// nothing below `warning` is ever written.
struct LogLineHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
             source: String, file: String, function: String, line: UInt) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let explicit { all.merge(explicit) { _, new in new } }
        let details = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        Log.line("\(label) \(level): \(message)\(details)")
    }
}

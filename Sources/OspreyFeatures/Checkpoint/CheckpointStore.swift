#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The checkpoint files of every partition under one directory.
///
/// Each partition has its own folder, `<directory>/<topic>-<partition>/`, so its
/// state can be copied to another instance on its own. Files are named
/// `checkpoint-<created-at ms>-<next offset>.osck` (zero-padded, so names sort by
/// age) and written atomically: a temporary file, `fsync`, `rename`, and an
/// `fsync` of the folder. A crash leaves either the old set or the new one.
public struct CheckpointStore: Sendable {
    /// The root directory.
    public let directory: String
    /// How many checkpoints to keep per partition (older ones are deleted).
    public let keep: Int

    /// A store rooted at `directory`, keeping the last `keep` checkpoints per partition.
    public init(directory: String, keep: Int = 3) {
        self.directory = directory
        self.keep = Swift.max(1, keep)
    }

    /// The folder of one partition.
    public func folder(topic: String, partition: Int32) -> String {
        "\(directory)/\(topic)-\(partition)"
    }

    /// Writes a checkpoint of `state` and prunes old ones. Returns the path and size.
    @discardableResult
    public func write(_ state: PartitionState, metadata: CheckpointMetadata) throws(CheckpointError) -> (path: String, bytes: Int) {
        let bytes = CheckpointCodec.encode(state, metadata: metadata)
        let folder = folder(topic: metadata.topic, partition: metadata.partition)
        try makeDirectories(folder)
        let name = "checkpoint-\(pad(metadata.createdAt, 15))-\(pad(metadata.nextOffset, 19)).osck"
        let path = "\(folder)/\(name)"
        try writeAtomically(bytes, to: path, folder: folder)
        let files = checkpointFiles(in: folder)
        for old in files.dropLast(keep) { unlink("\(folder)/\(old)") }
        return (path, bytes.count)
    }

    /// A checkpoint that could not be used, and why.
    public struct Rejected: Sendable, CustomStringConvertible {
        /// The file.
        public var path: String
        /// What is wrong with it.
        public var error: CheckpointError
        public var description: String { "\(path): \(error)" }
    }

    /// Restores the newest usable checkpoint of a partition (with `nextOffset`:
    /// the newest one that resumes at that offset). Unusable newer
    /// files (corrupt, other spec) are returned so the caller can report each by name.
    public func restoreLatest(topic: String, partition: Int32, plan: FeaturePlan, nextOffset: Int64? = nil) -> (restored: (CheckpointMetadata, PartitionState, path: String)?, rejected: [Rejected]) {
        let folder = folder(topic: topic, partition: partition)
        var rejected: [Rejected] = []
        for name in checkpointFiles(in: folder).reversed() {
            // With `nextOffset`, only a checkpoint covering exactly that offset will do
            // (exactly-once pairs a checkpoint with the transaction that committed it).
            if let nextOffset, !name.hasSuffix("-\(pad(nextOffset, 19)).osck") { continue }
            let path = "\(folder)/\(name)"
            do throws(CheckpointError) {
                let (metadata, state) = try Self.read(path, plan: plan)
                guard metadata.topic == topic, metadata.partition == partition else {
                    throw .malformed("it belongs to \(metadata.topic)-\(metadata.partition)")
                }
                return ((metadata, state, path), rejected)
            } catch {
                rejected.append(Rejected(path: path, error: error))
            }
        }
        return (nil, rejected)
    }

    /// Reads and validates one checkpoint file against `plan`.
    public static func read(_ path: String, plan: FeaturePlan) throws(CheckpointError) -> (CheckpointMetadata, PartitionState) {
        guard let bytes = readFileBytes(path) else { throw .io("cannot read \(path): \(String(cString: strerror(errno)))") }
        let (metadata, state, _) = try CheckpointCodec.decode(bytes, plan: plan)
        return (metadata, state!)
    }

    /// The checkpoint file names in a folder, oldest first.
    public func checkpointFiles(in folder: String) -> [String] {
        guard let dir = opendir(folder) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasPrefix("checkpoint-") && name.hasSuffix(".osck") { names.append(name) }
        }
        return names.sorted()
    }

    func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(Swift.max(0, v))
        return String(repeating: "0", count: Swift.max(0, width - s.count)) + s
    }

    func makeDirectories(_ path: String) throws(CheckpointError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/\(part)"
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw .io("cannot create checkpoint folder \(current): \(String(cString: strerror(errno)))")
            }
        }
    }

    func writeAtomically(_ bytes: [UInt8], to path: String, folder: String) throws(CheckpointError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw .io("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let message = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw .io("cannot write \(temporary): \(message)")
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            unlink(temporary)
            throw .io("cannot fsync \(temporary): \(message)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw .io("cannot rename \(temporary) to \(path): \(message)")
        }
        let dirfd = open(folder, O_RDONLY)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }
}

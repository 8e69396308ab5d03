import Foundation
import OspreyFeatures

/// Writes checkpoints on a thread of its own, so the consuming loop stalls
/// only for the copy-on-write capture of the state, not for encoding and fsync.
///
/// `@unchecked Sendable`: its mutable queues are only touched under `condition`.
final class CheckpointWriter: @unchecked Sendable {
    struct Job: Sendable {
        var partition: String
        var state: PartitionState
        var metadata: CheckpointMetadata
    }

    struct Completion: Sendable {
        var partition: String
        var nextOffset: Int64
        var bytes: Int
        var seconds: Double
        var error: CheckpointError?
    }

    let store: CheckpointStore
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var completions: [Completion] = []
    private var busy = false
    private var stopping = false
    private var thread: Thread?

    init(store: CheckpointStore) {
        self.store = store
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "osprey-checkpoints"
        self.thread = thread
        thread.start()
    }

    /// Queues a snapshot for writing.
    func submit(_ job: Job) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Partitions with a job queued or being written.
    func pending() -> Set<String> {
        condition.lock()
        defer { condition.unlock() }
        var names = Set(jobs.map(\.partition))
        if busy, let current = currentPartition { names.insert(current) }
        return names
    }

    private var currentPartition: String?

    /// Completed writes since the last call.
    func drain() -> [Completion] {
        condition.lock()
        defer { condition.unlock() }
        let done = completions
        completions.removeAll()
        return done
    }

    /// Blocks until every queued job is written.
    func waitUntilIdle() {
        condition.lock()
        while !jobs.isEmpty || busy { condition.wait() }
        condition.unlock()
    }

    /// Finishes queued jobs and ends the thread.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        waitUntilIdle()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            busy = true
            currentPartition = job.partition
            condition.unlock()

            let start = Date()
            var completion = Completion(partition: job.partition, nextOffset: job.metadata.nextOffset, bytes: 0, seconds: 0, error: nil)
            do throws(CheckpointError) {
                completion.bytes = try store.write(job.state, metadata: job.metadata).bytes
            } catch {
                completion.error = error
            }
            completion.seconds = Date().timeIntervalSince(start)

            condition.lock()
            completions.append(completion)
            busy = false
            currentPartition = nil
            condition.broadcast()
            condition.unlock()
        }
    }
}

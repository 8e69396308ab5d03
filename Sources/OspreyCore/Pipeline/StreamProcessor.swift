#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OspreyFeatures
import OspreyKafka
import OspreyModel
import Synchronization

/// The streaming daemon's core: consume events, compute features, score,
/// decide, publish a decision for every event (or a dead letter), and keep
/// per-partition state checkpointed with the offsets it covers.
///
/// Everything runs on the thread that calls ``run()``: librdkafka's callbacks
/// (rebalances, delivery reports) are served inside its polls, so partition
/// state has one owner and needs no lock. Only ``requestStop()`` is called
/// from elsewhere.
///
/// Delivery guarantee (at least once): input offsets are committed only after
/// the producer has flushed every decision and dead letter for the events
/// before them, and after a checkpoint of the state they produced is on disk.
/// A restart restores that checkpoint and resumes from its offset, so no event
/// is lost and no window counts an event twice; events after the checkpoint
/// are decided again.
///
/// The properties each event touches are marked `@exclusivity(unchecked)`:
/// the run-time check of every access (a thread-local lookup each) took about
/// 3% of the stream thread's time, and no two accesses to one of them can
/// overlap: one thread uses them, the HTTP port reaches the stream only
/// through ``mailbox``, and librdkafka's callbacks run inside its polls,
/// between events, never inside an access.
public final class StreamProcessor {
    /// Running totals, for logs (and the metrics endpoint).
    public struct Counters: Sendable {
        public var consumed: UInt64 = 0
        public var decided: UInt64 = 0
        public var late: UInt64 = 0
        public var deadLetters: [String: UInt64] = [:]
        public var decisions: [String: UInt64] = [:]
        public var checkpoints: UInt64 = 0
        public var commits: UInt64 = 0
        public var producerRecoveries: UInt64 = 0
        public var sweptEntities: UInt64 = 0
    }

    let config: DaemonConfig
    let plan: FeaturePlan
    let engine: FeatureEngine
    /// The models serving; swapped whole between two events (see ``ModelManager``).
    @exclusivity(unchecked) var lineup: ModelLineup
    /// PSI of the live model's inputs and scores against its reference.
    @exclusivity(unchecked) var drift: DriftMonitor?
    let store: CheckpointStore?
    let writer: CheckpointWriter?
    let log: @Sendable (String) -> Void
    let stopFlag: StopFlag
    let typeByTopic: [String: Int]
    let types: [EventTypeRuntime]
    let outputTopic: String

    var consumer: KafkaConsumer?
    var producer: KafkaProducer
    /// Everything the producer was created with, to create it again.
    var producerProperties: [(String, String)] = []
    /// Requests from the HTTP port, served by the loop.
    public let mailbox: StreamMailbox
    /// Health, readiness and metrics, published by the loop.
    public let board: StatusBoard
    @exclusivity(unchecked) var status = StreamStatus()
    var lastPublish = Date.distantPast
    var consumedByPartition: [TopicPartition: UInt64] = [:]
    var httpWriters: [DecisionRecordWriter] = []
    var emptyStates: [PartitionState] = []
    @exclusivity(unchecked) var partitions: [TopicPartition: PartitionRuntime] = [:] {
        didSet {
            lastRuntime = nil
            partitionsVersion &+= 1
        }
    }
    /// Changes whenever ``partitions`` does: a batch whose events were taken
    /// under another version is not finished (its partitions were replaced,
    /// and replay brings the events back).
    var partitionsVersion: UInt64 = 0
    /// The partition of the last event handled (see ``runtime(of:)``);
    /// forgotten whenever the assignment changes.
    @exclusivity(unchecked) var lastRuntime: (topic: String, partition: Int32, runtime: PartitionRuntime)?
    /// Running totals.
    @exclusivity(unchecked) public private(set) var counters = Counters()
    var lastCheckpoint = Date()
    var budget: MemoryBudget?
    /// The shard of every partition's entity tables swept next: one per status
    /// publication (4 a second), so each expired entity's memory returns within 16 s.
    var sweepShard = 0
    /// The largest dead-letter value the producer accepts, with room for the
    /// key and headers: a larger original is cut to it (and says so).
    var deadLetterValueLimit = 0
    /// Delivery failures: after a failure the stream pauses for `backoff`,
    /// then replays from the checkpoints; each failure in a row doubles it.
    var deliveryBackoff: TimeInterval = 0
    var lastDeliveryFailure = Date.distantPast
    var replayAt: Date?
    /// Delivery failures of producers already replaced (the metric is a total).
    var retiredDeliveryFailures: UInt64 = 0
    /// Consumption is paused (back-pressure, or waiting to replay).
    var paused = false

    /// One assigned input partition.
    final class PartitionRuntime {
        let eventType: Int
        @exclusivity(unchecked) var state: PartitionState
        /// The next offset to process (the offset a checkpoint and commit record).
        @exclusivity(unchecked) var nextOffset: Int64
        /// The offset last committed.
        var committedOffset: Int64
        /// The offset the newest checkpoint on disk covers.
        var checkpointedOffset: Int64
        /// Events consumed since the last status publication.
        @exclusivity(unchecked) var consumed: UInt64 = 0

        init(eventType: Int, state: PartitionState, nextOffset: Int64) {
            self.eventType = eventType
            self.state = state
            self.nextOffset = nextOffset
            committedOffset = nextOffset
            checkpointedOffset = nextOffset
        }
    }

    /// Prepares the processor; Kafka connections open in ``run()``.
    public init(config: DaemonConfig, lineup: ModelLineup, stop: StopFlag,
                mailbox: StreamMailbox = StreamMailbox(), board: StatusBoard = StatusBoard(), log: @escaping @Sendable (String) -> Void) throws {
        stopFlag = stop
        self.mailbox = mailbox
        self.board = board
        self.config = config
        plan = FeaturePlan(spec: config.spec)
        engine = FeatureEngine(plan: plan)
        self.lineup = lineup
        self.log = log
        store = config.state.checkpointDirectory.map { CheckpointStore(directory: $0, keep: config.state.checkpointKeep) }
        // Exactly-once writes checkpoints inside the commit cycle, synchronously.
        writer = config.output.exactlyOnce ? nil : store.map(CheckpointWriter.init)
        typeByTopic = Dictionary(uniqueKeysWithValues: config.spec.eventTypes.enumerated().map { ($1.topic, $0) })
        var types: [EventTypeRuntime] = []
        for (index, type) in config.spec.eventTypes.enumerated() {
            let entity = type.messageKeyField
            let writer = DecisionRecordWriter(
                eventType: type.name, entityField: entity, featureNames: type.featureNames, includeFeatures: config.output.includeFeatures)
            let runtime = EventTypeRuntime(
                decoder: plan.decoder(forEventType: index), writer: writer,
                keyField: type.fields.firstIndex { $0.name == entity }!,
                keyKind: engine.entityKinds(ofEventType: index).first { $0.field == entity }?.kind,
                vector: engine.makeVector(eventType: index))
            runtime.rules = config.policy.rules.enumerated().compactMap { r, rule in
                type.featureNames.firstIndex(of: rule.feature).map { (r, $0) }
            }
            types.append(runtime)
        }
        self.types = types
        outputTopic = config.output.topic
        httpWriters = config.spec.eventTypes.map { type in
            DecisionRecordWriter(eventType: type.name, entityField: type.messageKeyField, featureNames: type.featureNames, includeFeatures: true)
        }
        let compiled = plan
        emptyStates = config.spec.eventTypes.map { _ in PartitionState(plan: compiled) }
        status.readyMaxLag = config.http.readyMaxLag
        budget = config.state.memoryBudget.map(MemoryBudget.init)
        status.memoryBudget = config.state.memoryBudget
        var producerProperties: [(String, String)] = [
            ("bootstrap.servers", config.kafka.bootstrap),
            ("linger.ms", "5"),
            // Never give up on a decision: while the broker is away, retry; the
            // checkpoint/commit cycle waits for the acknowledgements.
            ("message.timeout.ms", "0"),
        ]
        if config.output.exactlyOnce, let transactionalID = config.output.transactionalID {
            // Stable across restarts: initialising it fences the crashed
            // predecessor and aborts the transaction it left open, which would
            // otherwise hold back read_committed readers until it timed out.
            producerProperties += [("transactional.id", transactionalID),
                                   ("transaction.timeout.ms", "60000"), ("message.timeout.ms", "55000")]
        }
        self.producerProperties = producerProperties + config.kafka.properties + config.kafka.producerProperties
        producer = try KafkaProducer(properties: self.producerProperties)
        let maxMessage = self.producerProperties.last { $0.0 == "message.max.bytes" }.flatMap { Int($0.1) } ?? 1_000_000
        deadLetterValueLimit = max(1024, maxMessage - 64 * 1024)
        let outcomes = config.policy.outcomes
        self.outcomes = outcomes
        fallbackOutcome = outcomes.firstIndex(of: config.policy.fallbackOutcome ?? config.policy.defaultOutcome)!
        ruleOutcomes = config.policy.rules.map { rule in outcomes.firstIndex(of: rule.outcome)! }
        decidedByText = config.policy.rules.map { "rule:\($0.name)" }
        sourceCounts = Array(repeating: 0, count: config.policy.rules.count + 2)
        decisionCounts = Array(repeating: Array(repeating: 0, count: outcomes.count), count: 3)
        shadowCounts = Array(repeating: Array(repeating: 0, count: outcomes.count), count: 2)
        install(lineup)
        status.modelChanges = 0
        board.publish(status)
    }

    /// Asks ``run()`` to stop: it finishes the event in hand, flushes, writes a
    /// final checkpoint, commits and returns. Safe from any thread.
    public func requestStop() { stopFlag.request() }

    /// Consumes until ``requestStop()``; then shuts down gracefully.
    public func run() throws {
        // Also when start-up fails: HTTP requests get their 503, not a wait.
        defer { mailbox.close() }
        var properties: [(String, String)] = [
            ("bootstrap.servers", config.kafka.bootstrap),
            ("group.id", config.kafka.groupID),
        ]
        if let instance = config.kafka.groupInstanceID { properties.append(("group.instance.id", instance)) }
        // An input topic created after start-up is noticed at the next metadata
        // refresh (librdkafka's default: 5 minutes); 10 s keeps the wait short.
        properties.append(("topic.metadata.refresh.interval.ms", "10000"))
        properties += config.kafka.properties + config.kafka.consumerProperties
        let consumer = try KafkaConsumer(properties: properties, handlers: .init(
            assigned: { [unowned self] in self.assign($0) },
            revoked: { [unowned self] in self.revoke($0) },
            error: { [unowned self] in self.kafkaError($0) }))
        self.consumer = consumer
        if config.output.exactlyOnce {
            try producer.startTransactions()
            log("exactly-once: transactional producer ready; decisions commit with their input offsets")
        }
        try consumer.subscribe(config.spec.eventTypes.map(\.topic))
        let waker = consumer.makeWaker()
        mailbox.setWaker { waker.wake() }
        status.running = true
        log("consuming \(config.spec.eventTypes.map(\.topic).joined(separator: ", ")) as group \(config.kafka.groupID); decisions to \(config.output.topic), dead letters to \(config.output.deadLetterTopic)")
        for type in config.spec.eventTypes where !type.partitionLocalFeatures.isEmpty {
            log("note: \(type.partitionLocalFeatures.joined(separator: ", ")) follow entities other than the message key (\(type.messageKeyField)); each partition computes them from its own events")
        }

        while !stopFlag.isRequested {
            clock.anchor()
            var handled = 0
            while handled < 1024 {
                // HTTP requests wait at most one batch of 64 events for their turn.
                var taken = consumer.drain(limit: 64, { take($0) }, then: { finishBatch() })
                // Nothing fetched: wait for the next message, unless a request
                // is waiting (the drain may have taken the wake-up it posted).
                if taken == 0 && handled == 0 && !mailbox.hasRequests {
                    taken = consumer.poll(timeoutMs: 50, { take($0) }, then: { finishBatch() }) ? 1 : 0
                }
                if taken == 0 { break }
                handled += taken
                serveMailbox()
            }
            producer.poll(timeoutMs: 0)
            if producer.fatalError != nil { recoverProducer() }
            if producer.failed > 0, replayAt == nil { deliveryFailed() }
            if let at = replayAt, Date() >= at { replayAfterDeliveryFailure() }
            serveMailbox()
            if Date().timeIntervalSince(lastPublish) >= 0.25 { publishStatus() }
            // Back-pressure: stop fetching while the producer is far behind.
            if !paused && producer.queueLength > config.kafka.maxInFlight {
                consumer.pause(Array(partitions.keys))
                paused = true
                log("pausing consumption: \(producer.queueLength) messages waiting for the broker")
            } else if paused && replayAt == nil && producer.queueLength < config.kafka.maxInFlight / 2 {
                consumer.resume(Array(partitions.keys))
                paused = false
                log("resuming consumption")
            }
            if Date().timeIntervalSince(lastCheckpoint) * 1000 >= Double(config.state.checkpointInterval) {
                if config.output.exactlyOnce { commitTransaction(reason: "interval") } else { checkpointInBackground() }
                lastCheckpoint = Date()
            }
            commitWrittenCheckpoints()
        }
        status.stopping = true
        publishStatus()
        mailbox.close()
        log("stopping: finishing in-flight events")
        if !failed { checkpoint(Array(partitions.keys), reason: "shutdown") }
        consumer.close()
        writer?.stop()
        _ = producer.flush(timeoutMs: 10_000)
        self.consumer = nil
        status.running = false
        publishStatus()
        log("stopped: \(counters.consumed) events consumed, \(counters.decided) decided, \(counters.deadLetters.values.reduce(0, +)) dead letters")
    }

    /// Kafka client errors, each distinct one logged at once and then at most
    /// every 30 s with how often it recurred: a broker that is down for an hour
    /// makes a few hundred lines, not a million.
    var recentErrors: [String: (count: Int, logged: Date)] = [:]

    func kafkaError(_ text: String) {
        // Addresses and timings vary between repeats of the same problem.
        let kind = String(text.prefix { $0 != ":" })
        if kind == "UNKNOWN_TOPIC_OR_PART", partitions.isEmpty {
            status.unknownTopics = config.spec.eventTypes.map(\.topic).joined(separator: ", ")
        }
        if status.brokerTrouble == nil, ["_ALL_BROKERS_DOWN", "_TRANSPORT", "_RESOLVE"].contains(kind) {
            status.brokerTrouble = (text, Int64(Date().timeIntervalSince1970 * 1000))
            log("not ready: brokers unreachable (\(text)); retrying with backoff, events already consumed are kept")
        }
        let now = Date()
        if let seen = recentErrors[kind] {
            if now.timeIntervalSince(seen.logged) >= 30 {
                log("kafka: \(text) (\(seen.count + 1) times in the last \(Int(now.timeIntervalSince(seen.logged))) s)")
                recentErrors[kind] = (0, now)
            } else {
                recentErrors[kind] = (seen.count + 1, seen.logged)
            }
        } else {
            log("kafka: \(text)")
            recentErrors[kind] = (0, now)
        }
    }

    // MARK: HTTP requests and status

    /// Every outcome the policy gives; counts below are by position in it.
    var outcomes: [String] = []
    var fallbackOutcome = 0
    var ruleOutcomes: [Int] = []
    var decidedByText: [String] = []
    /// Decisions by [decider: live, challenger, none][outcome], folded into
    /// named totals when the status is published or the lineup changes.
    @exclusivity(unchecked) var decisionCounts: [[UInt64]] = []
    /// Shadow outcomes by [shadow model: live, challenger][outcome].
    @exclusivity(unchecked) var shadowCounts: [[UInt64]] = []
    /// Decisions by source: model, fallback, then each rule.
    @exclusivity(unchecked) var sourceCounts: [UInt64] = []

    /// Makes `next` the serving lineup (between two events, on the stream thread).
    func install(_ next: ModelLineup) {
        if !status.models.isEmpty { foldDecisionCounts() }
        lineup = next
        let width = max(next.live?.explainer.valueCount ?? 0, next.challenger?.explainer.valueCount ?? 0)
        scratch.contributions = [Double](repeating: 0, count: width)
        drift = next.live.flatMap { DriftMonitor(model: $0, featureNames: $0.model.featureNames, windowSeconds: Double(config.model.driftWindow) / 1000, now: Date().timeIntervalSince1970) }
        func info(_ model: LoadedModel, _ role: String) -> StreamStatus.ModelInfo {
            .init(role: role, version: model.version, path: model.path, trees: model.model.ensemble.trees.count,
                  features: model.model.featureNames, loadedAt: model.loadedAt, metrics: model.metadata?.metrics ?? [:])
        }
        status.models = (next.live.map { [info($0, "live")] } ?? []) + (next.challenger.map { [info($0, next.mode == .canary ? "canary" : "shadow")] } ?? [])
        status.canaryFraction = next.challenger != nil && next.mode == .canary ? next.canaryFraction : 0
        status.modelChanges += 1
        status.drift = []
    }

    /// Names the per-position decision counts with the current lineup's versions.
    func foldDecisionCounts() {
        let versions = [lineup.live?.version, lineup.challenger?.version, nil]
        for (slot, counts) in decisionCounts.enumerated() {
            for (o, n) in counts.enumerated() where n > 0 {
                status.decisions[.init(version: versions[slot] ?? "none", outcome: outcomes[o]), default: 0] += n
                decisionCounts[slot][o] = 0
            }
        }
        for (slot, counts) in shadowCounts.enumerated() {
            for (o, n) in counts.enumerated() where n > 0 {
                status.shadowDecisions[.init(version: versions[slot] ?? "none", outcome: outcomes[o]), default: 0] += n
                shadowCounts[slot][o] = 0
            }
        }
        for (i, n) in sourceCounts.enumerated() where n > 0 {
            let name = i == 0 ? "model" : i == 1 ? "fallback" : decidedByText[i - 2]
            status.decisionSources[name, default: 0] += n
            sourceCounts[i] = 0
        }
    }

    /// Folds per-partition consumption counts into the monotonic per-partition totals.
    func foldConsumed(_ tp: TopicPartition, _ runtime: PartitionRuntime) {
        consumedByPartition[tp, default: 0] += runtime.consumed
        runtime.consumed = 0
    }

    /// While the brokers are unreachable, asks one of them (at most every
    /// second, 200 ms at most) whether it is back; consuming a message also
    /// proves it.
    func probeBroker() {
        guard let trouble = status.brokerTrouble, let consumer else { return }
        guard Date().timeIntervalSince(lastBrokerProbe) >= 1 else { return }
        lastBrokerProbe = Date()
        guard let tp = partitions.keys.first else { return }
        do throws(KafkaError) {
            _ = try consumer.watermarks(tp, timeoutMs: 200)
            brokerReachable(since: trouble.since)
        } catch {}
    }

    func brokerReachable(since: Int64) {
        status.brokerTrouble = nil
        log("brokers reachable again after \(Int64(Date().timeIntervalSince1970 * 1000) - since) ms")
    }

    var lastBrokerProbe = Date.distantPast
    /// When the producer last delivered something (or had nothing to deliver).
    var lastDeliveryProgress = Date()
    var lastDelivered: UInt64 = 0

    /// A producer that delivers nothing for `kafka.producer_stall_timeout`
    /// while messages wait and the brokers answer is stuck (an idempotent
    /// producer whose broker forgot its producer id waits forever): it is
    /// replaced and the partitions replay from their checkpoints.
    func watchProducer(now: Date) {
        let delivered = producer.delivered
        if producer.queueLength == 0 || delivered != lastDelivered || status.brokerTrouble != nil {
            lastDelivered = delivered
            lastDeliveryProgress = now
            return
        }
        guard now.timeIntervalSince(lastDeliveryProgress) * 1000 >= Double(config.kafka.producerStallTimeout) else { return }
        log("the producer delivered nothing for \(config.kafka.producerStallTimeout / 1000) s with \(producer.queueLength) messages waiting while the brokers answer; replacing it")
        lastDeliveryProgress = now
        recoverProducer(reason: "stalled")
    }

    /// After a fatal producer error librdkafka drops every decision it had not
    /// delivered, so the stream goes back to what is safe: a new producer,
    /// and each partition restored from its newest checkpoint (or, without
    /// one, the committed offset) and consumed again from there. No event
    /// goes without a decision; the ones after the checkpoint are decided again.
    func recoverProducer(reason given: String? = nil) {
        let reason = given ?? producer.fatalError ?? "unknown"
        if config.output.exactlyOnce {
            // The restart pairs state with the last committed transaction.
            log("the transactional producer hit a fatal error (\(reason)); exiting for a restart")
            failed = true
            requestStop()
            return
        }
        log("producer failure (\(reason)): its undelivered decisions are dropped; starting a new producer and replaying each partition from its last checkpoint")
        retiredDeliveryFailures += producer.failed
        do throws(KafkaError) {
            producer = try KafkaProducer(properties: producerProperties)
        } catch {
            log("cannot create a new producer: \(error)")
            requestStop()
            return
        }
        guard let consumer else { return }
        let owned = Array(partitions.keys)
        let restored = assign(owned)
        var seeks: [TopicPartition: Int64] = [:]
        for tp in owned {
            if let offset = restored[tp] {
                seeks[tp] = offset
            } else {
                let committed = (try? consumer.committed([tp])[tp]) ?? nil
                seeks[tp] = committed.flatMap { $0 >= 0 ? $0 : nil } ?? -2
            }
        }
        do throws(KafkaError) {
            try consumer.seek(seeks)
            counters.producerRecoveries += 1
        } catch {
            log("cannot rewind the partitions after the producer failed: \(error); stopping (a restart replays from the checkpoints)")
            requestStop()
        }
    }

    /// Decisions or dead letters the broker refused (or that could not even be
    /// enqueued) are output lost: the stream stops taking events, reports not
    /// ready, waits a backoff (1 s, doubling to 30 s while failures keep
    /// coming) and replays from the checkpoints with a new producer. Nothing
    /// is committed meanwhile, so a restart would replay the same events.
    /// A producer in a fatal state is replaced at once instead.
    func deliveryFailed(_ immediate: String? = nil) {
        guard replayAt == nil else { return }
        let now = Date()
        let error = immediate ?? "\(producer.failed) messages failed delivery: \(producer.lastDeliveryError ?? "?")"
        if let fatal = producer.fatalError {
            recoverProducer(reason: fatal)
            return
        }
        if config.output.exactlyOnce {
            // The open transaction cannot commit; a restart pairs state with the last one that did.
            recoverProducer(reason: error)
            return
        }
        deliveryBackoff = now.timeIntervalSince(lastDeliveryFailure) > 60 ? 1 : min(max(1, deliveryBackoff * 2), 30)
        lastDeliveryFailure = now
        status.outputTrouble = (error, Int64(now.timeIntervalSince1970 * 1000))
        if let consumer, !paused {
            consumer.pause(Array(partitions.keys))
            paused = true
        }
        replayAt = now.addingTimeInterval(deliveryBackoff)
        log("not ready: output lost (\(error)); replaying from the last checkpoints in \(Int(deliveryBackoff)) s")
    }

    func replayAfterDeliveryFailure() {
        replayAt = nil
        recoverProducer(reason: status.outputTrouble?.text ?? "delivery failed")
        if let consumer, paused {
            consumer.resume(Array(partitions.keys))
            paused = false
        }
    }

    /// Called when a checkpoint finds every message delivered.
    func outputDelivered() {
        guard let trouble = status.outputTrouble, replayAt == nil else { return }
        status.outputTrouble = nil
        log("output delivered again (after: \(trouble.text)); ready")
    }

    /// Returns the memory of entities idle beyond their TTL: one shard of every
    /// partition per call, or all of them when the state has just grown past
    /// `state.memory_budget`. Expired entities already read as empty, so this
    /// never changes a feature value.
    func sweepExpiredEntities(bytes: Int) {
        var shards = [sweepShard]
        if let transition = budget?.observe(bytes: bytes) {
            switch transition {
            case .exceeded(let bytes, let limit):
                log("feature state \(Self.byteText(bytes)) is over state.memory_budget (\(Self.byteText(limit))): sweeping expired entities now; nothing is dropped, so raise the budget (and the memory limit) or shorten windows or entity_ttl")
                shards = Array(0..<EntityTable.shardCount)
            case .recovered(let bytes, let limit):
                log("feature state \(Self.byteText(bytes)) is back under state.memory_budget (\(Self.byteText(limit)))")
            }
        }
        for runtime in partitions.values {
            for shard in shards { counters.sweptEntities += UInt64(runtime.state.sweep(shard: shard, plan: plan)) }
        }
        sweepShard = (sweepShard + 1) % EntityTable.shardCount
        if sweepShard == 0 || shards.count > 1 { Self.returnFreeHeapPages() }
    }

    /// Gives the pages of free heap chunks back to the system, once per round
    /// of sweeps (about 16 s). Entity shards and their index arrays grow
    /// through sizes below the mmap threshold, and glibc keeps what they free
    /// in its heap; without this, RSS stays ~7% above the state's size. Costs
    /// under a millisecond with 100k entities.
    static func returnFreeHeapPages() {
        #if canImport(Glibc)
        _ = glibcMallocTrim(0)
        #endif
    }

    static func byteText(_ bytes: Int) -> String {
        for (unit, scale) in [("GiB", 1 << 30), ("MiB", 1 << 20)] where bytes >= scale {
            return "\((Double(bytes) / Double(scale) * 10).rounded() / 10) \(unit)"
        }
        return "\((bytes + 1023) / 1024) KiB"
    }

    func publishStatus() {
        lastPublish = Date()
        probeBroker()
        watchProducer(now: lastPublish)
        for (tp, runtime) in partitions { foldConsumed(tp, runtime) }
        foldDecisionCounts()
        counters.decisions = status.decisions.reduce(into: [:]) { $0[$1.key.outcome, default: 0] += $1.value }
        if drift != nil {
            drift!.rotate(now: lastPublish.timeIntervalSince1970)
            status.drift = drift!.psi().map { .init(version: drift!.version, series: $0.name, psi: $0.value) }
            status.driftWindowEvents = drift!.windowCount
        }
        var missing: [String: UInt64] = [:]
        var vectors: UInt64 = 0
        for (t, type) in types.enumerated() {
            vectors += type.vectors
            for (i, feature) in config.spec.eventTypes[t].features.enumerated() where type.missing[i] > 0 { missing[feature.name, default: 0] += type.missing[i] }
        }
        status.featureMissing = missing
        status.vectors = vectors
        status.consumed = Dictionary(uniqueKeysWithValues: consumedByPartition.map { ($0.key.description, $0.value) })
        sweepExpiredEntities(bytes: status.stateBytes)
        var lag: [String: Int64] = [:]
        var entities = 0
        var bytes = 0
        for (tp, runtime) in partitions {
            let high = consumer?.cachedWatermarks(tp).high ?? -1
            if high >= 0 { lag[tp.description] = max(0, high - max(runtime.nextOffset, 0)) }
            entities += runtime.state.entityCount
            bytes += runtime.state.approximateBytes
        }
        status.lag = lag
        status.entities = entities
        status.stateBytes = bytes
        status.sweptEntities = counters.sweptEntities
        status.overBudget = budget?.isExceeded ?? false
        status.assigned = partitions.count
        status.deadLetters = counters.deadLetters
        status.lateEvents = counters.late
        status.producerQueue = producer.queueLength
        status.deliveryFailures = retiredDeliveryFailures + producer.failed
        status.outputReplays = counters.producerRecoveries
        status.checkpoints = counters.checkpoints
        board.publish(status)
    }

    func noteCheckpoint(bytes: Int, seconds: Double) {
        status.lastCheckpointAt = Int64(Date().timeIntervalSince1970 * 1000)
        status.lastCheckpointBytes = bytes
        status.checkpointSeconds.observe(seconds)
    }

    func serveMailbox() {
        for request in mailbox.take() {
            switch request {
            case .score(let typeName, let events, let explain, let reply):
                reply(scoreForHTTP(typeName: typeName, events: events, explain: explain))
            case .entity(let field, let id, let reply):
                reply.resume(returning: describeEntity(field: field, id: id))
            case .deploy(let next, let reply):
                install(next)
                var switched: [String: Int64] = [:]
                for (tp, runtime) in partitions { switched[tp.description] = runtime.nextOffset }
                log("models now \(next.summary); the next event of each partition is scored by them")
                publishStatus()
                reply.resume(returning: .switched(switched))
            }
        }
    }

    /// Scores events as the stream would at this moment, changing nothing:
    /// the state of the partition holding the event's key entity is previewed.
    func scoreForHTTP(typeName: String?, events: [[UInt8]], explain: Bool) -> ScoreAnswer {
        let typeIndex: Int
        if let typeName {
            guard let i = plan.eventTypeIndex(named: typeName) else {
                return .failure(status: 400, code: "unknown_event_type", message: "no event type '\(typeName)'; configured: \(config.spec.eventTypes.map(\.name).joined(separator: ", "))", field: "event_type", index: nil)
            }
            typeIndex = i
        } else if config.spec.eventTypes.count == 1 {
            typeIndex = 0
        } else {
            return .failure(status: 400, code: "event_type_needed", message: "several event types are configured; add ?event_type=NAME", field: "event_type", index: nil)
        }
        let type = types[typeIndex]
        var results: [[UInt8]] = []
        results.reserveCapacity(events.count)
        // The type's event and vector are the stream's scratch space, free
        // between events, which is when the mailbox is served.
        for (index, bytes) in events.enumerated() {
            let started = DispatchTime.now().uptimeNanoseconds
            do throws(EventError) {
                try type.decoder.decode(bytes, into: &type.event)
            } catch {
                return .failure(status: 400, code: error.reason.code, message: error.message, field: error.field, index: events.count > 1 ? index : nil)
            }
            let event = type.event
            let key = event.strings[type.keyField] ?? event.id
            // The partition that holds the key's entity; any of the type's partitions when none does.
            let owner = type.keyKind.flatMap { k in partition(holding: key, kind: k, eventType: typeIndex) }
                ?? partitions.values.first { $0.eventType == typeIndex }
            engine.preview(event, eventType: typeIndex, state: owner?.state ?? emptyStates[typeIndex], into: &type.vector)
            let vector = type.vector
            let verdict = decide(vector, rules: type.rules, entity: key)
            var json = JSONText(capacity: 1024)
            httpWriters[typeIndex].write(
                into: &json, eventID: event.id, entity: key, verdict: verdict, decision: outcomes[verdict.outcome],
                decidedBy: decidedBy(verdict), shadowDecision: verdict.shadow == nil ? nil : outcomes[verdict.shadowOutcome],
                reasons: scratch.reasons[...], vector: vector, processedAt: Int64(Date().timeIntervalSince1970 * 1000),
                latencyMicros: Int64((DispatchTime.now().uptimeNanoseconds - started) / 1000),
                source: .init(topic: "http", partition: -1, offset: -1))
            if explain, let decider = verdict.decider, let phi = try? decider.explainer.contributions(vector.values, method: .exact) {
                let spec = config.spec.eventTypes[typeIndex]
                json.bytes.removeLast()  // the closing brace
                json.raw(",\"explanation\":{\"method\":\"treeshap\",\"bias\":")
                json.number(phi[spec.features.count])
                json.raw(",\"contributions\":{")
                for (i, feature) in spec.features.enumerated() {
                    if i > 0 { json.raw(",") }
                    json.string(feature.name)
                    json.raw(":")
                    json.number(phi[i])
                }
                json.raw("}}}")
            }
            results.append(json.bytes)
        }
        return .results(results)
    }

    /// The partition of event type `eventType` whose state holds entity `key`
    /// of kind `kind`. The key is hashed once for all the partitions' tables.
    ///
    /// The partitions that the usual producer partitioners pick for the key
    /// are looked at first: each look at a large table is a cache miss or two,
    /// and a topic may have dozens of partitions.
    func partition(holding key: String, kind: Int, eventType: Int) -> PartitionRuntime? {
        var key = key
        let topic = config.spec.eventTypes[eventType].topic
        return key.withUTF8 { bytes in
            let hash = EntityTable.keyHash(bytes)
            func holds(_ runtime: PartitionRuntime) -> Bool { runtime.state.tables[kind].contains(bytes, hash: hash) }
            var guesses: (Int32, Int32) = (-1, -1)
            if let count = types[eventType].partitionCount, count > 0, !bytes.isEmpty {
                let raw = UnsafeRawBufferPointer(bytes)
                guesses = (KeyPartitioner.crc32(raw, partitionCount: count), KeyPartitioner.murmur2(raw, partitionCount: count))
                if let runtime = partitions[TopicPartition(topic: topic, partition: guesses.0)], holds(runtime) { return runtime }
                if guesses.1 != guesses.0, let runtime = partitions[TopicPartition(topic: topic, partition: guesses.1)], holds(runtime) { return runtime }
            }
            return partitions.first { tp, runtime in
                runtime.eventType == eventType && tp.partition != guesses.0 && tp.partition != guesses.1 && holds(runtime)
            }?.value
        }
    }

    func describeEntity(field: String, id: String) -> EntityAnswer {
        var kinds: [(type: Int, kind: Int)] = []
        for t in config.spec.eventTypes.indices {
            for (f, k) in engine.entityKinds(ofEventType: t) where f == field { kinds.append((t, k)) }
        }
        guard !kinds.isEmpty else {
            return .failure(status: 404, code: "unknown_entity_type", message: "no feature follows '\(field)'")
        }
        var json = JSONText(capacity: 512)
        json.raw("{\"entity_field\":")
        json.string(field)
        json.raw(",\"entity\":")
        json.string(id)
        json.raw(",\"event_types\":[")
        var found = false
        for (t, k) in kinds {
            for (tp, runtime) in partitions where runtime.eventType == t {
                guard let (clock, features) = engine.describe(entity: id, kind: k, in: runtime.state) else { continue }
                if found { json.raw(",") }
                found = true
                json.raw("{\"event_type\":")
                json.string(config.spec.eventTypes[t].name)
                json.raw(",\"partition\":")
                json.string(tp.description)
                json.raw(",\"last_event_time\":")
                json.integer(clock)
                json.raw(",\"stream_time\":")
                json.integer(runtime.state.streamTime)
                json.raw(",\"features\":{")
                for (i, f) in features.enumerated() {
                    if i > 0 { json.raw(",") }
                    json.string(f.name)
                    json.raw(":")
                    json.number(f.value)
                }
                json.raw("}}")
            }
        }
        json.raw("]}")
        return found ? .found(json.bytes) : .failure(status: 404, code: "unknown_entity", message: "no state for \(field) '\(id)' on this instance")
    }

    // MARK: Partitions

    func assign(_ list: [TopicPartition]) -> [TopicPartition: Int64] {
        status.unknownTopics = nil
        var offsets: [TopicPartition: Int64] = [:]
        for tp in list {
            guard let type = typeByTopic[tp.topic] else { continue }
            var state = PartitionState(plan: plan)
            var next: Int64 = -1
            if config.output.exactlyOnce, let store {
                // The committed offset says which transaction last committed; the
                // checkpoint written for it is the state to resume with.
                let committed = (try? consumer?.committed([tp])[tp]) ?? nil
                if let committed {
                    let (restored, rejected) = store.restoreLatest(topic: tp.topic, partition: tp.partition, plan: plan, nextOffset: committed)
                    for r in rejected { log("checkpoint skipped: \(r)") }
                    if let (_, restoredState, path) = restored {
                        state = restoredState
                        log("\(tp): restored \(restoredState.entityCount) entities from \(path), paired with the committed offset \(committed)")
                    } else if committed > 0 {
                        log("\(tp): no checkpoint for the committed offset \(committed); resuming there without state (features start empty)")
                    }
                    next = committed
                    offsets[tp] = committed
                } else {
                    offsets[tp] = -2  // RD_KAFKA_OFFSET_BEGINNING: nothing committed, nothing to pair
                    log("\(tp): nothing committed; starting from the beginning without state")
                }
            } else if let store {
                let (restored, rejected) = store.restoreLatest(topic: tp.topic, partition: tp.partition, plan: plan)
                for r in rejected { log("checkpoint skipped: \(r)") }
                if let (metadata, restoredState, path) = restored {
                    // A checkpoint past the partition's end belongs to an earlier
                    // incarnation of the topic (deleted and recreated): its state
                    // describes other events, so it is not used.
                    let high = (try? consumer?.watermarks(tp).high) ?? Int64.max
                    if metadata.nextOffset > high {
                        log("\(tp): ignoring \(path): it resumes at offset \(metadata.nextOffset) but the partition ends at \(high) (topic recreated or truncated?); starting without state")
                    } else {
                        state = restoredState
                        next = metadata.nextOffset
                        offsets[tp] = metadata.nextOffset
                        log("\(tp): restored \(restoredState.entityCount) entities from \(path); resuming at offset \(metadata.nextOffset)")
                    }
                }
            }
            if offsets[tp] == nil { log("\(tp): no checkpoint; starting from the committed offset (or the earliest)") }
            partitions[tp] = PartitionRuntime(eventType: type, state: state, nextOffset: next)
        }
        for type in Set(list.compactMap { typeByTopic[$0.topic] }) {
            // Only a shortcut for HTTP lookups: without it they look everywhere.
            types[type].partitionCount = try? consumer?.partitionCount(of: config.spec.eventTypes[type].topic, timeoutMs: 2_000)
        }
        return offsets
    }

    func revoke(_ list: [TopicPartition]) {
        checkpoint(list, reason: "revoked")
        for tp in list {
            if let runtime = partitions[tp] { foldConsumed(tp, runtime) }
            partitions[tp] = nil
        }
        log("released \(list.map(\.description).joined(separator: ", "))")
    }

    /// Flushes the producer, checkpoints `list` and commits their offsets.
    /// Skipped (and retried at the next interval) when the broker has not
    /// acknowledged everything: committing then could lose decisions.
    func checkpoint(_ list: [TopicPartition], reason: String) {
        if config.output.exactlyOnce {
            commitTransaction(reason: reason)
            return
        }
        let owned = list.filter { partitions[$0] != nil && partitions[$0]!.nextOffset >= 0 }
        // Output was lost after the last checkpoint: nothing newer may be recorded.
        guard !owned.isEmpty, replayAt == nil else { return }
        // Background writes first, so none lands after (and ages) this one.
        writer?.waitUntilIdle()
        commitWrittenCheckpoints()
        let deadline = Date().addingTimeInterval(reason == "interval" ? 5 : 30)
        while !producer.flush(timeoutMs: 500) {
            if Date() > deadline {
                log("checkpoint (\(reason)) postponed: \(producer.queueLength) messages not yet acknowledged by the broker")
                return
            }
        }
        if producer.failed > 0 {
            log("checkpoint (\(reason)) refused: \(producer.failed) messages failed delivery (\(producer.lastDeliveryError ?? "?")); offsets stay uncommitted so they are replayed")
            return
        }
        outputDelivered()
        var offsets: [TopicPartition: Int64] = [:]
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for tp in owned {
            let runtime = partitions[tp]!
            if let store, runtime.nextOffset != runtime.checkpointedOffset {
                do throws(CheckpointError) {
                    let metadata = CheckpointMetadata(topic: tp.topic, partition: tp.partition, nextOffset: runtime.nextOffset, createdAt: now, specFingerprint: plan.fingerprint, entityKinds: plan.entityKindNames)
                    let started = Date()
                    let written = try store.write(runtime.state, metadata: metadata)
                    noteCheckpoint(bytes: written.bytes, seconds: Date().timeIntervalSince(started))
                    runtime.checkpointedOffset = runtime.nextOffset
                    counters.checkpoints += 1
                } catch {
                    log("checkpoint of \(tp) failed: \(error); its offset is not committed")
                    continue
                }
            }
            if runtime.nextOffset != runtime.committedOffset { offsets[tp] = runtime.nextOffset }
        }
        // With the brokers unreachable a commit could only wait and fail;
        // the offsets stay due and go with the next checkpoint after.
        guard !offsets.isEmpty, let consumer, status.brokerTrouble == nil else { return }
        do throws(KafkaError) {
            try consumer.commit(offsets)
            for (tp, offset) in offsets { partitions[tp]?.committedOffset = offset }
            counters.commits += 1
        } catch {
            log("commit failed: \(error); the checkpoint holds the offsets, a restart resumes from it")
        }
    }

    /// Exactly-once: checkpoints every partition with progress, then commits the
    /// transaction with their offsets. The open transaction holds the output of
    /// every partition, so all of them commit together. A failure stops the
    /// daemon: the transaction is not committed, and a restart resumes from the
    /// checkpoints paired with the last committed offsets.
    func commitTransaction(reason: String) {
        guard let consumer, let store else { return }
        let due = partitions.filter { $0.value.nextOffset >= 0 && $0.value.nextOffset != $0.value.committedOffset }
        guard !due.isEmpty else { return }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var offsets: [TopicPartition: Int64] = [:]
        for (tp, runtime) in due {
            let metadata = CheckpointMetadata(topic: tp.topic, partition: tp.partition, nextOffset: runtime.nextOffset, createdAt: now, specFingerprint: plan.fingerprint, entityKinds: plan.entityKindNames)
            do throws(CheckpointError) {
                let started = Date()
                let written = try store.write(runtime.state, metadata: metadata)
                noteCheckpoint(bytes: written.bytes, seconds: Date().timeIntervalSince(started))
            } catch {
                log("checkpoint of \(tp) failed: \(error); stopping without committing (a restart resumes from the last commit)")
                failed = true
                requestStop()
                return
            }
            offsets[tp] = runtime.nextOffset
        }
        do throws(KafkaError) {
            try producer.commitTransaction(offsets: offsets, consumer: consumer)
            for (tp, offset) in offsets {
                partitions[tp]?.committedOffset = offset
                partitions[tp]?.checkpointedOffset = offset
            }
            counters.checkpoints += UInt64(offsets.count)
            counters.commits += 1
        } catch {
            log("transaction commit (\(reason)) failed: \(error); stopping (a restart resumes from the last committed transaction)")
            try? producer.abortTransaction()
            failed = true
            requestStop()
        }
    }

    /// Set when the daemon must exit non-zero (an exactly-once commit failed).
    public private(set) var failed = false

    /// The periodic checkpoint: flushes the producer (so every decision before
    /// the offsets is acknowledged), captures each partition's state (a
    /// copy-on-write snapshot, microseconds) and hands it to the writer thread;
    /// the offsets are committed once the file is on disk.
    func checkpointInBackground() {
        guard let writer else {
            checkpoint(Array(partitions.keys), reason: "interval")
            return
        }
        guard replayAt == nil else { return }
        let busy = writer.pending()
        let due = partitions.filter { $0.value.nextOffset >= 0 && $0.value.nextOffset != $0.value.checkpointedOffset && !busy.contains($0.key.description) }
        guard !due.isEmpty else { return }
        let deadline = Date().addingTimeInterval(5)
        while !producer.flush(timeoutMs: 100) {
            if Date() > deadline {
                log("checkpoint postponed: \(producer.queueLength) messages not yet acknowledged by the broker")
                return
            }
            if stopFlag.isRequested { return }
        }
        if producer.failed > 0 {
            deliveryFailed()
            return
        }
        outputDelivered()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (tp, runtime) in due {
            let metadata = CheckpointMetadata(topic: tp.topic, partition: tp.partition, nextOffset: runtime.nextOffset, createdAt: now, specFingerprint: plan.fingerprint, entityKinds: plan.entityKindNames)
            writer.submit(.init(partition: tp.description, state: runtime.state, metadata: metadata))
        }
    }

    /// Offsets of written checkpoints not committed while the brokers were unreachable.
    var deferredCommits: [TopicPartition: Int64] = [:]

    /// Commits the offsets of checkpoints the writer has finished, for partitions still owned.
    func commitWrittenCheckpoints() {
        guard let writer, let consumer else { return }
        var offsets: [TopicPartition: Int64] = [:]
        for done in writer.drain() {
            guard let (tp, runtime) = partitions.first(where: { $0.key.description == done.partition }) else { continue }
            if let error = done.error {
                log("checkpoint of \(tp) failed: \(error); its offset is not committed")
                continue
            }
            counters.checkpoints += 1
            noteCheckpoint(bytes: done.bytes, seconds: done.seconds)
            runtime.checkpointedOffset = max(runtime.checkpointedOffset, done.nextOffset)
            if done.nextOffset > runtime.committedOffset { offsets[tp] = done.nextOffset }
        }
        for (tp, offset) in deferredCommits where offsets[tp] == nil && offset > partitions[tp]?.committedOffset ?? .max {
            offsets[tp] = offset
        }
        deferredCommits = [:]
        guard !offsets.isEmpty else { return }
        // With the brokers unreachable a commit could only wait and fail:
        // the offsets wait for them to come back.
        guard status.brokerTrouble == nil else {
            deferredCommits = offsets
            return
        }
        do throws(KafkaError) {
            try consumer.commit(offsets)
            for (tp, offset) in offsets { partitions[tp]?.committedOffset = offset }
            counters.commits += 1
        } catch {
            log("commit failed: \(error); the checkpoint holds the offsets, a restart resumes from it")
        }
    }

    // MARK: Events

    @exclusivity(unchecked) var scratch = ScoringScratch()
    /// The poll batch being processed (see ``take(_:)``), and beside it, by
    /// position, each event's feature vector (kept from batch to batch, so
    /// computing a vector allocates nothing).
    @exclusivity(unchecked) var batch: [PendingEvent] = []
    @exclusivity(unchecked) var batchVectors: [FeatureVector] = []
    /// By position as well: each event decoded, and its entity keys hashed
    /// (``FeaturePlan/keysPerEvent`` per event), so that the features of the
    /// whole batch are computed in one pass that loads each event's state
    /// while the events before it are worked on (``computeFeatures()``).
    @exclusivity(unchecked) var batchEvents: [DecodedEvent] = []
    @exclusivity(unchecked) var batchKeys: [UInt64] = []
    /// Scoring scratch for a batch: the events one model scores, their rows
    /// (feature values, one row after another), their predictions, and the
    /// contributions of the events the live (0) and challenger (1) models decide.
    @exclusivity(unchecked) var batchRowsOf: [Int] = []
    @exclusivity(unchecked) var batchRows: [Double] = []
    @exclusivity(unchecked) var batchPredictions: [Double] = []
    @exclusivity(unchecked) var batchContributions: [[Double]] = [[], []]
    /// The explainer's scratch (one value per tree and event scored at once,
    /// too large for the stack); apart from ``scratch`` because both are lent out at once.
    @exclusivity(unchecked) var explainWorkspace: [UInt32] = []
    /// Wall-clock times of the events' monotonic readings; anchored every loop turn.
    @exclusivity(unchecked) var clock = WallClock()

    /// The runtime of the partition `message` came from. Messages come in
    /// runs from one partition (a fetch answers per partition), so the last
    /// one found is tried before the dictionary, whose lookup hashes the
    /// topic's name.
    @inline(__always)
    func runtime(of message: ConsumedMessage) -> PartitionRuntime? {
        if let last = lastRuntime, last.partition == message.partition, last.topic == message.topic { return last.runtime }
        guard let runtime = partitions[TopicPartition(topic: message.topic, partition: message.partition)] else { return nil }
        lastRuntime = (message.topic, message.partition, runtime)
        return runtime
    }

    /// Takes one message of a poll batch: decodes it and hashes its entity
    /// keys, and leaves its features (which must be computed in stream order)
    /// and its scoring to ``finishBatch()``; a bad event goes to the
    /// dead-letter topic at once.
    func take(_ message: ConsumedMessage) {
        // Waiting to replay: everything from the checkpoints on comes again.
        guard let runtime = runtime(of: message), replayAt == nil else { return }
        // A new producer replays every partition from its checkpoint (see
        // ``recoverProducer(reason:)``): the rest of a batch fetched before
        // that comes again.
        if batch.isEmpty { batchVersion = partitionsVersion } else if batchVersion != partitionsVersion { return }
        let started = DispatchTime.now().uptimeNanoseconds
        if let trouble = status.brokerTrouble { brokerReachable(since: trouble.since) }
        counters.consumed += 1
        runtime.consumed += 1
        let type = types[runtime.eventType]
        let slot = batch.count
        while batchEvents.count <= slot { batchEvents.append(type.event) }
        if batchEvents[slot].numbers.count != type.event.numbers.count { batchEvents[slot] = type.event }
        do throws(EventError) {
            try type.decoder.decode(message.value, into: &batchEvents[slot])
        } catch {
            deadLetter(message, error)
            batch.append(PendingEvent(runtime: runtime, message: message, started: started, deadLettered: true))
            return
        }
        // Dead letters keep their slot without a vector.
        while batchVectors.count <= slot { batchVectors.append(type.vector) }
        if batchVectors[slot].values.count != type.vector.values.count { batchVectors[slot] = type.vector }
        let stride = engine.plan.keysPerEvent
        if batchKeys.count < (slot + 1) * stride { batchKeys.append(contentsOf: repeatElement(0, count: (slot + 1) * stride - batchKeys.count)) }
        batchKeys.withUnsafeMutableBufferPointer { keys in
            engine.hashKeys(of: &batchEvents[slot], eventType: runtime.eventType, into: keys.baseAddress! + slot * stride)
        }
        var pending = PendingEvent(runtime: runtime, message: message, started: started, deadLettered: false)
        pending.eventID = batchEvents[slot].id
        pending.entity = batchEvents[slot].strings[type.keyField] ?? batchEvents[slot].id
        batch.append(pending)
    }

    /// Computes the batch's feature vectors, in stream order, asking for the
    /// state of the events a few places ahead while each one is worked on
    /// (see ``FeatureEngine/PrefetchStage``).
    func computeFeatures() {
        let count = batch.count
        let stride = engine.plan.keysPerEvent
        batchKeys.withUnsafeBufferPointer { keys in
            // No keys: every event of the batch went to the dead-letter topic.
            guard let keys = keys.baseAddress else { return }
            func prefetch(_ j: Int, _ stage: FeatureEngine.PrefetchStage) {
                guard j < count, !batch[j].deadLettered else { return }
                let runtime = batch[j].runtime
                engine.prefetch(keys: keys + j * stride, eventType: runtime.eventType, state: &runtime.state, stage: stage)
            }
            for i in 0..<count {
                prefetch(i + FeatureEngine.slotLookahead, .slots)
                prefetch(i + FeatureEngine.blockLookahead, .blocks)
                guard !batch[i].deadLettered else { continue }
                let runtime = batch[i].runtime
                engine.process(&batchEvents[i], eventType: runtime.eventType, keys: keys + i * stride, state: &runtime.state, into: &batchVectors[i])
            }
        }
    }

    /// Scores the batch's events together, then decides and publishes each in
    /// order: the trees are descended block by block for all of them (see
    /// ``GradientBoostedModel/predict(rows:count:into:)``), which is faster
    /// than one event at a time and gives the same scores.
    func finishBatch() {
        defer { batch.removeAll(keepingCapacity: true) }
        guard !batch.isEmpty, replayAt == nil, batchVersion == partitionsVersion else { return }
        computeFeatures()
        for i in batch.indices where !batch[i].deadLettered { batch[i].verdict = unscoredVerdict(for: batch[i].entity) }
        for (m, model) in [lineup.live, lineup.challenger].enumerated() {
            guard let model else { continue }
            scoreBatch(with: model, slot: m, deciding: true)
            scoreBatch(with: model, slot: m, deciding: false)
        }
        let finished = DispatchTime.now().uptimeNanoseconds
        let wallClock = clock.seconds(at: finished)
        for i in batch.indices {
            // A failed enqueue stops the batch (a fatal one replaces the
            // partitions at once): replay brings the rest back.
            guard replayAt == nil, batchVersion == partitionsVersion else { return }
            let pending = batch[i]
            if pending.deadLettered {
                pending.runtime.nextOffset = pending.message.offset + 1
                continue
            }
            publish(pending, vector: batchVectors[i], finished: finished, wallClock: wallClock)
        }
    }

    /// The batch's version of ``partitionsVersion``: that of its first event.
    var batchVersion: UInt64 = 0

    /// Scores the batch's events that `model` decides (`deciding`, with reason
    /// codes into ``batchContributions``[`slot`]) or shadows.
    func scoreBatch(with model: LoadedModel, slot: Int, deciding: Bool) {
        batchRowsOf.removeAll(keepingCapacity: true)
        for i in batch.indices where !batch[i].deadLettered && (deciding ? batch[i].verdict.decider : batch[i].verdict.shadow) === model {
            batchRowsOf.append(i)
        }
        let n = batchRowsOf.count
        guard n > 0 else { return }
        let f = model.model.featureCount, p = model.model.predictionCount
        let reasons = deciding ? config.output.reasons : 0
        Self.ensure(&batchRows, n * f)
        Self.ensure(&batchPredictions, n * p)
        for (r, i) in batchRowsOf.enumerated() {
            batchVectors[i].values.withUnsafeBufferPointer { values in
                precondition(values.count >= f, "the vector has \(values.count) values, the model needs \(f)")
                for j in 0..<f { batchRows[r * f + j] = values[j] }
            }
        }
        batchRows.withUnsafeBufferPointer { rows in
            let rows = UnsafeBufferPointer(rebasing: rows[0..<n * f])
            batchPredictions.withUnsafeMutableBufferPointer { out in
                if reasons > 0 {
                    let v = model.explainer.valueCount
                    Self.ensure(&batchContributions[slot], n * v)
                    Self.ensure(&explainWorkspace, n * model.explainer.workspaceCount)
                    batchContributions[slot].withUnsafeMutableBufferPointer { phi in
                        do {
                            try explainWorkspace.withUnsafeMutableBufferPointer { (w) throws(ContributionError) in
                                try model.explainer.predict(rows: rows, count: n, into: out, contributions: phi, workspace: w)
                            }
                        } catch {
                            // No reason codes for this model (linear trees); the scores are written.
                            for k in phi.indices { phi[k] = 0 }
                        }
                    }
                } else {
                    model.model.predict(rows: rows, count: n, into: out)
                }
            }
        }
        for (r, i) in batchRowsOf.enumerated() {
            let score = batchPredictions[r * p]
            if deciding {
                batch[i].verdict.score = score
                batch[i].row = reasons > 0 ? r : -1
            } else {
                batch[i].verdict.shadowScore = score
                batch[i].verdict.shadowOutcome = config.policy.outcomeIndex(for: score)
            }
        }
    }

    /// Grows `buffer` to at least `count` values.
    static func ensure<T: Numeric>(_ buffer: inout [T], _ count: Int) {
        if buffer.count < count { buffer = [T](repeating: 0, count: count) }
    }

    /// Decides one scored event of the batch and publishes its decision.
    func publish(_ pending: PendingEvent, vector: FeatureVector, finished: UInt64, wallClock: Double) {
        let runtime = pending.runtime
        let message = pending.message
        let type = types[runtime.eventType]
        if vector.late { counters.late += 1 }
        var verdict = pending.verdict
        scratch.reasons.removeAll(keepingCapacity: true)
        if pending.row >= 0, let decider = verdict.decider {
            let v = decider.explainer.valueCount
            let slot = verdict.canary ? 1 : 0
            batchContributions[slot].withUnsafeBufferPointer { phi in
                decider.explainer.topReasons(UnsafeBufferPointer(rebasing: phi[pending.row * v..<(pending.row + 1) * v]),
                                             count: config.output.reasons, into: &scratch.reasons)
            }
        }
        settle(&verdict, vector: vector, rules: type.rules)
        type.writer.write(
            into: &scratch.json, eventID: pending.eventID, entity: pending.entity, verdict: verdict, decision: outcomes[verdict.outcome],
            decidedBy: decidedBy(verdict), shadowDecision: verdict.shadow == nil ? nil : outcomes[verdict.shadowOutcome],
            reasons: scratch.reasons[...], vector: vector, processedAt: Int64(wallClock * 1000),
            latencyMicros: Int64((finished - pending.started) / 1000),
            source: .init(topic: message.topic, partition: message.partition, offset: message.offset))
        var failure: KafkaError?
        var key = pending.entity
        key.withUTF8 { keyBytes in
            scratch.json.bytes.withUnsafeBytes { value in
                do throws(KafkaError) {
                    try producer.produce(topic: outputTopic, key: UnsafeRawBufferPointer(keyBytes), value: value)
                } catch {
                    failure = error
                }
            }
        }
        if let failure {
            deliveryFailed("cannot enqueue the decision for \(TopicPartition(topic: message.topic, partition: message.partition))@\(message.offset): \(failure)")
            return
        }
        counters.decided += 1
        count(verdict)
        runtime.nextOffset = message.offset + 1
        if verdict.decider != nil { status.score.observe(verdict.score) }
        if drift != nil, verdict.decider === lineup.live {
            vector.values.withUnsafeBufferPointer { drift!.observe(score: verdict.score, features: $0) }
        }
        status.processingSeconds.observe(Double(finished - pending.started) / 1e9)
        status.endToEndSeconds.observe(wallClock - Double(vector.eventTime) / 1000)
        type.vectors += 1
        // Counted by position; named only when the status is published.
        for (i, v) in vector.values.enumerated() where v.isNaN { type.missing[i] += 1 }
    }

    /// Decides one event: rules first, then the deciding model's score
    /// (the challenger's for canary entities), else the fallback; the other
    /// model of the lineup is scored on the same vector as a shadow. Reason
    /// codes of the deciding model are left in `scratch.reasons`.
    func decide(_ vector: FeatureVector, rules: [(rule: Int, feature: Int)], entity: String) -> Verdict {
        var verdict = unscoredVerdict(for: entity)
        scratch.reasons.removeAll(keepingCapacity: true)
        if let decider = verdict.decider { verdict.score = score(vector, with: decider, reasons: config.output.reasons) }
        if let shadow = verdict.shadow {
            verdict.shadowScore = score(vector, with: shadow, reasons: 0)
            verdict.shadowOutcome = config.policy.outcomeIndex(for: verdict.shadowScore)
        }
        settle(&verdict, vector: vector, rules: rules)
        return verdict
    }

    /// Which model decides for `entity` (the challenger for canary entities)
    /// and which shadows it, before either has scored.
    func unscoredVerdict(for entity: String) -> Verdict {
        var verdict = Verdict()
        verdict.canary = lineup.challengerDecides(entity)
        verdict.decider = verdict.canary ? lineup.challenger : lineup.live
        verdict.shadow = verdict.canary ? lineup.live : lineup.challenger
        return verdict
    }

    /// Gives a scored verdict its outcome: the first rule that holds, else
    /// the thresholds on the deciding model's score, else the fallback.
    func settle(_ verdict: inout Verdict, vector: FeatureVector, rules: [(rule: Int, feature: Int)]) {
        for (rule, feature) in rules where config.policy.rules[rule].holds(vector.values[feature]) {
            verdict.source = rule
            verdict.outcome = ruleOutcomes[rule]
            return
        }
        if verdict.decider != nil, verdict.score.isFinite {
            verdict.outcome = config.policy.outcomeIndex(for: verdict.score)
        } else {
            verdict.source = Verdict.byFallback
            verdict.outcome = fallbackOutcome
        }
    }

    func decidedBy(_ verdict: Verdict) -> String {
        switch verdict.source {
        case Verdict.byModel: "model"
        case Verdict.byFallback: "fallback"
        default: decidedByText[verdict.source]
        }
    }

    /// Counts a published decision by position (named at publication).
    func count(_ verdict: Verdict) {
        let slot = verdict.decider == nil ? 2 : verdict.canary ? 1 : 0
        decisionCounts[slot][verdict.outcome] += 1
        if verdict.shadow != nil { shadowCounts[verdict.canary ? 0 : 1][verdict.shadowOutcome] += 1 }
        sourceCounts[verdict.source == Verdict.byModel ? 0 : verdict.source == Verdict.byFallback ? 1 : verdict.source + 2] += 1
    }

    /// `model`'s score for `vector`, and its top `reasons` reason codes into `scratch.reasons`.
    func score(_ vector: FeatureVector, with model: LoadedModel, reasons: Int) -> Double {
        var score = 0.0
        vector.values.withUnsafeBufferPointer { row in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: max(1, model.model.predictionCount)) { out in
                if reasons > 0 {
                    // One descent gives both the score and the path credits.
                    if explainWorkspace.count < model.explainer.workspaceCount {
                        explainWorkspace = [UInt32](repeating: 0, count: model.explainer.workspaceCount)
                    }
                    scratch.contributions.withUnsafeMutableBufferPointer { phi in
                        do {
                            try explainWorkspace.withUnsafeMutableBufferPointer { (w) throws(ContributionError) in
                                try model.explainer.predict(row, into: out, contributions: phi, workspace: w)
                            }
                        } catch {
                            // No reason codes for this model (linear trees); the score is written.
                            for i in phi.indices { phi[i] = 0 }
                        }
                    }
                    let phi = scratch.contributions
                    phi.withUnsafeBufferPointer { model.explainer.topReasons($0, count: reasons, into: &scratch.reasons) }
                } else {
                    model.model.predict(row, into: out)
                }
                score = out[0]
            }
        }
        return score
    }

    func deadLetter(_ message: ConsumedMessage, _ error: EventError) {
        counters.deadLetters[error.reason.code, default: 0] += 1
        var headers: [(String, [UInt8])] = [
            ("osprey.error.reason", Array(error.reason.code.utf8)),
            ("osprey.error.message", Array(error.message.utf8)),
            ("osprey.source.topic", Array(message.topic.utf8)),
            ("osprey.source.partition", Array(String(message.partition).utf8)),
            ("osprey.source.offset", Array(String(message.offset).utf8)),
        ]
        if let field = error.field { headers.append(("osprey.error.field", Array(field.utf8))) }
        // An event too big for the producer would fail its dead letter on
        // every replay: keep its first bytes and say how big it was.
        var key = message.key
        if let k = key, k.count > 16 * 1024 {
            headers.append(("osprey.original.key_bytes", Array(String(k.count).utf8)))
            key = nil
        }
        var value = message.value
        if value.count > deadLetterValueLimit {
            headers.append(("osprey.original.bytes", Array(String(value.count).utf8)))
            value = UnsafeRawBufferPointer(rebasing: value.prefix(deadLetterValueLimit))
        }
        do throws(KafkaError) {
            try producer.produce(topic: config.output.deadLetterTopic, key: key, value: value, headers: headers)
        } catch {
            deliveryFailed("cannot enqueue a dead letter for \(message.topic)-\(message.partition)@\(message.offset): \(error)")
        }
    }
}

/// A stop request shared with signal handlers and other threads.
public final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    /// A flag not yet raised.
    public init() {}

    /// Raises the flag.
    public func request() { flag.store(true, ordering: .relaxed) }

    /// Whether the flag was raised.
    public var isRequested: Bool { flag.load(ordering: .relaxed) }
}

/// Buffers reused for every event.
struct ScoringScratch {
    var json = JSONText(capacity: 1024)
    var contributions: [Double] = []
    var reasons: [ReasonCode] = []
}

/// An event of the current poll batch, from ``StreamProcessor/take(_:)`` to
/// its decision in ``StreamProcessor/finishBatch()``.
struct PendingEvent {
    let runtime: StreamProcessor.PartitionRuntime
    /// Its bytes are valid until the batch is finished.
    let message: ConsumedMessage
    /// When the event was taken (monotonic ns).
    let started: UInt64
    /// The event went to the dead-letter topic: only its offset remains to advance.
    let deadLettered: Bool
    var eventID = ""
    var entity = ""
    var verdict = Verdict()
    /// The event's row in its decider's batch contributions (-1: no reason codes).
    var row = -1
}

/// What the loop keeps per event type: its decoder and record writer, and the
/// event and vector buffers reused for every event (a class, so the hot path
/// borrows one reference instead of copying their arrays).
final class EventTypeRuntime {
    let decoder: EventDecoder
    let writer: DecisionRecordWriter
    /// The field decisions are keyed by.
    let keyField: Int
    /// The entity kind that follows the key field, if a feature does.
    let keyKind: Int?
    @exclusivity(unchecked) var event: DecodedEvent
    @exclusivity(unchecked) var vector: FeatureVector
    /// The policy's rules that read this type's features: (rule, feature position).
    var rules: [(rule: Int, feature: Int)] = []
    /// Vectors scored, and per feature how many had it missing.
    @exclusivity(unchecked) var vectors: UInt64 = 0
    @exclusivity(unchecked) var missing: [UInt64]
    /// How many partitions the type's topic had at the last assignment
    /// (nil: not known), for finding an HTTP request's partition.
    var partitionCount: Int32?

    init(decoder: EventDecoder, writer: DecisionRecordWriter, keyField: Int, keyKind: Int?, vector: FeatureVector) {
        self.decoder = decoder
        self.writer = writer
        self.keyField = keyField
        self.keyKind = keyKind
        event = decoder.makeEvent()
        self.vector = vector
        missing = Array(repeating: 0, count: vector.values.count)
    }
}

#if canImport(Glibc)
/// glibc's `malloc_trim` (malloc.h is not part of Swift's Glibc module).
@_silgen_name("malloc_trim")
func glibcMallocTrim(_ pad: Int) -> Int32
#endif

import Synchronization

/// Work the HTTP port hands to the stream thread, which owns all state.
///
/// HTTP handlers never touch partition state: they post a request here and
/// await the answer; the stream loop serves requests between events, with the
/// same code that processes the stream. Scoring requests preview the state
/// (they change nothing).
public final class StreamMailbox: Sendable {
    /// One request and where its answer goes.
    public enum Request: Sendable {
        /// Score raw events (JSON bytes) of `eventType` (nil: the only type).
        /// `reply` runs on the stream thread; it must hand the answer on, not work on it.
        case score(eventType: String?, events: [[UInt8]], explain: Bool, reply: @Sendable (ScoreAnswer) -> Void)
        /// The current features of entity `id` of kind `entityField`.
        case entity(entityField: String, id: String, reply: CheckedContinuation<EntityAnswer, Never>)
        /// Serve with `lineup` from the next event on.
        case deploy(ModelLineup, reply: CheckedContinuation<DeployAnswer, Never>)
    }

    /// Waiting requests; once closed, none are taken any more.
    private struct Queue {
        var requests: [Request] = []
        var closed = false
    }

    private let pending = Mutex(Queue())
    // The wake function sits in a class box: a bare closure stored in a
    // generic Mutex is re-wrapped in reabstraction thunks on every inout
    // access, and the chain grows with each request.
    private let waker = Mutex<Waker?>(nil)

    final class Waker: Sendable {
        let wake: @Sendable () -> Void
        init(_ wake: @escaping @Sendable () -> Void) { self.wake = wake }
    }

    /// An empty mailbox.
    public init() {}

    /// Posts a request and wakes the stream thread; once the stream has
    /// stopped, refuses it at once (503).
    public func post(_ request: Request) {
        let accepted = pending.withLock { queue in
            if !queue.closed { queue.requests.append(request) }
            return !queue.closed
        }
        if accepted { waker.withLock { $0 }?.wake() } else { Self.refuse(request) }
    }

    /// Reads an entity's features through the stream thread.
    public func entity(field: String, id: String) async -> EntityAnswer {
        await withCheckedContinuation { post(.entity(entityField: field, id: id, reply: $0)) }
    }

    /// Hands a new model lineup to the stream thread; returns once it serves.
    public func deploy(_ lineup: ModelLineup) async -> DeployAnswer {
        await withCheckedContinuation { post(.deploy(lineup, reply: $0)) }
    }

    func setWaker(_ wake: (@Sendable () -> Void)?) {
        let box = wake.map(Waker.init)
        waker.withLock { $0 = box }
    }

    /// Whether a request is waiting.
    var hasRequests: Bool { pending.withLock { !$0.requests.isEmpty } }

    func take() -> [Request] {
        pending.withLock { queue in
            let taken = queue.requests
            queue.requests.removeAll()
            return taken
        }
    }

    /// The stream has stopped: refuses what waits and everything posted later,
    /// so that no HTTP request waits for an answer that will not come.
    func close() {
        setWaker(nil)
        let left = pending.withLock { queue in
            queue.closed = true
            let left = queue.requests
            queue.requests.removeAll()
            return left
        }
        for request in left { Self.refuse(request) }
    }

    static func refuse(_ request: Request) {
        switch request {
        case .score(_, _, _, let reply): reply(.failure(status: 503, code: "stopping", message: "the daemon is shutting down", field: nil, index: nil))
        case .entity(_, _, let reply): reply.resume(returning: .failure(status: 503, code: "stopping", message: "the daemon is shutting down"))
        case .deploy(_, let reply): reply.resume(returning: .refused("the daemon is shutting down"))
        }
    }
}

/// The answer to a scoring request.
public enum ScoreAnswer: Sendable {
    /// One JSON object per event, in request order.
    case results([[UInt8]])
    /// The request cannot be served: HTTP status, error code, message, field, event index.
    case failure(status: Int, code: String, message: String, field: String?, index: Int?)
}

/// The answer to an entity lookup.
public enum EntityAnswer: Sendable {
    /// The entity's features as a JSON object.
    case found([UInt8])
    /// No such entity kind or entity.
    case failure(status: Int, code: String, message: String)
}

/// The answer to a model deployment.
public enum DeployAnswer: Sendable {
    /// Serving; per input partition, the first offset the new lineup scores.
    case switched([String: Int64])
    /// Not installed, and why.
    case refused(String)
}

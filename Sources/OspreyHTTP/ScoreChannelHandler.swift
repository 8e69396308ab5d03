import Dispatch
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import OspreyCore
import OspreyJSON

/// Serves `POST /v1/score` on the connection's event loop.
///
/// Scoring is the port's hot route. Through the router, each request hopped
/// from the event loop to a task on Swift's cooperative pool, then to the
/// stream thread, then back to the pool and to the event loop; the pool's
/// share of that (task switches, reference counting, the router and its
/// middleware) cost more CPU than the scoring. This handler sits right after
/// NIO's HTTP/1 codec, ahead of the conversion to Hummingbird's HTTP types and
/// the router (see ``ScoringHTTP1Channel``): it takes score requests, posts
/// them to the stream thread's mailbox, and writes the answer from the event
/// loop when the stream thread hands it back. Every other request goes on.
///
/// Most score requests never get here: ``DirectScoreHandler`` serves those of
/// the plain shape from the bytes, ahead of NIO's decoder. This handler takes
/// the rest: HTTP/1.0, `Expect: 100-continue`, bodies over the limit, and any
/// score request on a connection that has sent another kind of request.
///
/// Answers leave in request order. A request read while a score is pending, or
/// a score request read while the router still owes an answer, waits here, and
/// the connection stops reading until it has gone on; a pipelining client
/// cannot make the handler hold more than what two reads deliver.
final class ScoreChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The route's path, as the request metrics name it.
    static let path = "/v1/score"

    /// A request part, or an error from the decoder, which is answered in
    /// its turn like a request.
    private enum Inbound {
        case part(HTTPServerRequestPart)
        case error(any Error)
    }

    private enum State: Equatable {
        /// Between requests.
        case idle
        /// Passing a request's parts to the router.
        case routing
        /// Reading a score request's body.
        case reading
        /// Waiting for the stream thread's answer.
        case scoring
    }

    /// A score request being read or scored.
    private struct Pending {
        var parameters: ScoreRoute.Parameters
        var version: HTTPVersion
        var keepAlive: Bool
        var started: UInt64
        var body: [UInt8] = []
        /// The answer when the request is refused whatever its body says (too
        /// large, or a bad parameter); its body is then read and dropped.
        var refused: ScoreRoute.Response?
    }

    private let route: ScoreRoute
    private var state = State.idle
    private var pending: Pending?
    /// Requests passed to the router whose answer has not ended yet.
    private var unanswered = 0
    /// What was read while it could not be handled yet, oldest first.
    private var held = CircularBuffer<Inbound>()
    private var readPending = false
    /// Whether parts went to the router since the last read-complete event.
    private var forwarded = false
    private var context: ChannelHandlerContext?
    private var date = HTTPDate()
    /// Answered the last request this connection gets; it is closing and reads nothing more.
    private var closing = false

    /// Where finished answers are written, below the response encoder.
    private let writer: RawResponseWriter

    init(route: ScoreRoute, writer: RawResponseWriter) {
        self.route = route
        self.writer = writer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if closing { return }
        if state == .scoring || !held.isEmpty {
            held.append(.part(part))
            return
        }
        handle(part, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Behind a request the router is answering, the error waits its turn.
        if state == .scoring || !held.isEmpty || (state == .idle && unanswered > 0) {
            held.append(.error(error))
            return
        }
        fail(error, context: context)
    }

    /// A request NIO's decoder refused (malformed, or headers over its
    /// limits) gets a JSON error, as every other bad request does, and the
    /// connection closes: nothing after it can be framed. Other errors, and
    /// errors while the router owes an answer or reads a body, go to the router.
    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        guard let parserError = error as? HTTPParserError, unanswered == 0, state != .routing else {
            context.fireErrorCaught(error)
            return
        }
        closing = true
        held.removeAll()
        pending = nil
        state = .idle
        let response = parserError == .headerOverflow
            ? ScoreRoute.failure(431, "headers_too_large", "the request's headers are over the server's limits")
            : ScoreRoute.failure(400, "malformed_http", "the request is not valid HTTP/1.1 (\(parserError))")
        write(response, version: .http1_1, keepAlive: false, context: context)
        route.metrics.record(route: "unmatched", status: response.status, seconds: 0)
    }

    /// A connection that sent nothing for `http.idle_timeout` closes when it is
    /// owed no answer: between requests, or stalled in a score request's body.
    /// A request being scored, or one the router owes an answer, keeps it open.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .read? = event as? IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if unanswered == 0 && held.isEmpty && (state == .idle || state == .reading) {
            closing = true
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        forwarded = false
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        // Only a client that sent more than one request at a time is held
        // back: stopping reads for every score would cost two epoll_ctl
        // calls per request.
        if !held.isEmpty {
            readPending = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended: Bool
        if case .end = unwrapOutboundIn(data) { ended = true } else { ended = false }
        context.write(data, promise: promise)
        if ended {
            // The router also answers decoding errors, which were no request.
            unanswered = max(0, unanswered - 1)
            if unanswered == 0 { resume(context: context) }
        }
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (state, part) {
        case (.idle, .head(let head)):
            guard let uri = ScoreRoute.target(of: head) else {
                unanswered += 1
                state = .routing
                forward(part, context: context)
                return
            }
            if unanswered > 0 {
                held.append(.part(part))
                return
            }
            let declared = head.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
            var parameters = ScoreRoute.Parameters()
            var refused: ScoreRoute.Response?
            switch ScoreRoute.parameters(uri) {
            case .success(let p): parameters = p
            case .failure(let r): refused = r
            }
            pending = Pending(
                parameters: parameters, version: head.version, keepAlive: head.isKeepAlive,
                started: DispatchTime.now().uptimeNanoseconds,
                refused: declared > route.settings.maxBodyBytes ? tooLarge : refused)
            state = .reading
            // A client that asks before sending its body (curl does above
            // 1 MB) hears at once: go on, or the refusal and the connection closes.
            if head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                if let refused = pending!.refused {
                    pending!.keepAlive = false
                    closing = true
                    answer(refused, context: context)
                } else {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
                }
            }
        case (.routing, _):
            if case .end = part { state = .idle }
            forward(part, context: context)
        case (.reading, .body(let buffer)):
            guard pending?.refused == nil else { return }
            if pending!.body.count + buffer.readableBytes > route.settings.maxBodyBytes {
                pending!.refused = tooLarge
                pending!.body = []
            } else {
                pending!.body.append(contentsOf: buffer.readableBytesView)
            }
        case (.reading, .end):
            score(context: context)
        default:
            // Out of order (the codec never does this); the router reports it.
            forward(part, context: context)
        }
    }

    private func forward(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        forwarded = true
        context.fireChannelRead(wrapInboundOut(part))
    }

    private var tooLarge: ScoreRoute.Response {
        ScoreRoute.failure(413, "too_large", "the body is larger than http.max_body_bytes (\(route.settings.maxBodyBytes) bytes)")
    }

    /// Parses the read request and posts it to the stream thread, or answers at once.
    private func score(context: ChannelHandlerContext) {
        guard let request = pending else { return }
        if let refused = request.refused { return answer(refused, context: context) }
        if let failure = route.submit(request.body, request.parameters, on: context.eventLoop, then: { [self] in scored($0) }) {
            return answer(failure, context: context)
        }
        state = .scoring
        pending!.body = []
    }

    /// The stream thread's answer, back on the event loop.
    private func scored(_ response: ScoreRoute.Response) {
        guard state == .scoring, let context else { return }
        answer(response, context: context)
    }

    private func answer(_ response: ScoreRoute.Response, context: ChannelHandlerContext) {
        let request = pending!
        pending = nil
        state = .idle
        write(response, version: request.version, keepAlive: request.keepAlive, context: context)
        route.metrics.record(route: Self.path, status: response.status,
                             seconds: Double(DispatchTime.now().uptimeNanoseconds - request.started) / 1e9)
        if request.keepAlive { resume(context: context) }
    }

    /// Writes a JSON answer; closes the connection after it unless `keepAlive`.
    ///
    /// The answer leaves as one buffer written below NIO's response encoder
    /// (see ``RawResponseWriter``): building an `HTTPHeaders` and having the
    /// encoder serialise it took a fifth of the event loops' time per score.
    private func write(_ response: ScoreRoute.Response, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
        // HTTP/1.1 keeps the connection by default, HTTP/1.0 closes it.
        let connection: ResponseFraming.Connection
        if !keepAlive {
            connection = .close
        } else if version.major == 1 && version.minor == 0 {
            connection = .keepAlive
        } else {
            connection = .implied
        }
        let buffer = ResponseFraming.answer(response, version: version, connection: connection, date: date.now(),
                                            allocator: context.channel.allocator)
        guard let raw = writer.context else { return }
        if keepAlive {
            raw.writeAndFlush(NIOAny(buffer), promise: nil)
        } else {
            let channel = context.channel
            raw.writeAndFlush(NIOAny(buffer)).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Handles the held parts that may go now, and reads again once none wait.
    private func resume(context: ChannelHandlerContext) {
        while let next = held.first, state != .scoring {
            switch next {
            case .part(let part):
                // A score request waits until the router has answered (as in handle).
                if case .head(let head) = part, state == .idle, unanswered > 0, ScoreRoute.target(of: head) != nil {
                    break
                }
                held.removeFirst()
                handle(part, context: context)
                continue
            case .error(let error):
                if state == .idle && unanswered > 0 { break }
                held.removeFirst()
                fail(error, context: context)
                if closing { return }
                continue
            }
            break
        }
        // The router's channel hands parts on at read-complete; held parts
        // passed on outside a read need one of their own.
        if forwarded {
            forwarded = false
            context.fireChannelReadComplete()
        }
        if readPending && held.isEmpty {
            readPending = false
            context.read()
        }
    }
}

/// What the score route needs: its limits, the stream's mailbox, and the request metrics.
struct ScoreRoute: Sendable {
    let settings: HTTPSettings
    let mailbox: StreamMailbox
    let metrics: RequestMetrics

    /// A finished answer: status and JSON body.
    struct Response: Error {
        var status: Int
        var body: [UInt8]
    }

    /// The request's target parsed, when the request is a POST to the score route.
    static func target(of head: HTTPRequestHead) -> URI? {
        guard head.method == .POST else { return nil }
        let uri = URI(head.uri)
        return uri.path == ScoreChannelHandler.path || uri.path == ScoreChannelHandler.path + "/" ? uri : nil
    }

    /// What a score request's query asks for.
    struct Parameters {
        /// `explain=true`: add TreeSHAP contributions.
        var explain = false
        /// `event_type=NAME`: the event type, when several are configured.
        var eventType: String?
    }

    /// The query's parameters, or the 400 for an `explain` that is no boolean.
    static func parameters(_ uri: URI) -> Result<Parameters, Response> {
        let query = uri.queryParameters
        guard let explain = flag(query["explain"].map(String.init)) else {
            return .failure(failure(400, "invalid_parameter", "'explain' must be true or false (or 1 or 0)", field: "explain"))
        }
        return .success(Parameters(explain: explain, eventType: query["event_type"].map(String.init)))
    }

    /// Posts a read request's events to the stream thread. Returns the answer
    /// at once when the body cannot be scored; otherwise `then` gets it on
    /// `loop` once the stream thread has scored the events.
    func submit(_ body: [UInt8], _ parameters: Parameters, on loop: any EventLoop,
                then answer: @escaping (Response) -> Void) -> Response? {
        switch events(in: body) {
        case .failure(let failure):
            return failure
        case .success(let (events, batch)):
            let reply = NIOLoopBound(answer, eventLoop: loop)
            mailbox.post(.score(eventType: parameters.eventType, events: events, explain: parameters.explain) { scored in
                loop.execute { reply.value(Self.response(scored, batch: batch)) }
            })
            return nil
        }
    }

    /// A boolean query parameter: absent is false; nil when it is neither
    /// `true`/`1` nor `false`/`0`.
    static func flag(_ value: String?) -> Bool? {
        switch value {
        case nil, "false", "0": return false
        case "true", "1": return true
        default: return nil
        }
    }

    /// The events of a score request's body: the body itself (one event, which
    /// the stream's decoder checks), or the items of `{"events": [...]}`.
    func events(in body: [UInt8]) -> Result<(events: [[UInt8]], batch: Bool), Response> {
        // Only a body that may be a batch is parsed here; a single event goes
        // to the stream's decoder as it is, which reports what is wrong with it.
        guard Self.mayBeBatch(body) else { return .success(([body], false)) }
        let value: JSONValue
        do {
            value = try JSONReader.parse(body)
        } catch {
            return .failure(Self.failure(400, "invalid_json", "the body is not JSON: \(error)"))
        }
        guard case .object(let members) = value, members.count == 1, let list = members["events"] else {
            return .success(([body], false))
        }
        guard case .array(let items) = list else { return .failure(Self.failure(400, "wrong_type", "'events' must be an array of events", field: "events")) }
        guard !items.isEmpty else { return .failure(Self.failure(400, "empty", "'events' is empty", field: "events")) }
        guard items.count <= settings.maxBatch else {
            return .failure(Self.failure(413, "batch_too_large", "\(items.count) events is over the limit of \(settings.maxBatch) (http.max_batch)", field: "events"))
        }
        return .success((items.map(JSONText.encode), true))
    }

    /// Whether a body may be the batch form `{"events": ...}`: an object whose
    /// first key is `events`. Anything else is one event.
    static func mayBeBatch(_ body: [UInt8]) -> Bool {
        var i = body.startIndex
        func skipSpace() { while i < body.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(body[i]) { i += 1 } }
        skipSpace()
        guard i < body.endIndex, body[i] == UInt8(ascii: "{") else { return false }
        i += 1
        skipSpace()
        return body[i...].starts(with: #""events""#.utf8)
    }

    /// The HTTP answer for the stream's answer: one record, or `{"results": [...]}` for a batch.
    static func response(_ answer: ScoreAnswer, batch: Bool) -> Response {
        switch answer {
        case .results(let results):
            if !batch { return Response(status: 200, body: results[0]) }
            var body = Array(#"{"results":["#.utf8)
            body.reserveCapacity(results.reduce(16) { $0 + $1.count + 1 })
            for (i, r) in results.enumerated() {
                if i > 0 { body.append(UInt8(ascii: ",")) }
                body += r
            }
            body += "]}".utf8
            return Response(status: 200, body: body)
        case .failure(let status, let code, let message, let field, let index):
            return failure(status, code, message, field: field, index: index)
        }
    }

    /// A JSON error answer.
    static func failure(_ status: Int, _ code: String, _ message: String, field: String? = nil, index: Int? = nil) -> Response {
        Response(status: status, body: errorBody(code, message, field: field, index: index))
    }
}

/// Hummingbird's HTTP/1.1 child channel with ``ScoreChannelHandler`` placed
/// right after NIO's HTTP/1 codec. Hummingbird's own
/// `additionalChannelHandlers` go after its conversion to HTTP types, which
/// for a score request would build a second head and header list each way
/// (a sixth of the event loop's samples) only for this handler to read two
/// headers.
struct ScoringHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let route: ScoreRoute

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // As Hummingbird's HTTP1Channel, with the score handler ahead of the conversion.
            let pipeline = channel.pipeline.syncOperations
            if route.settings.idleTimeout > 0 {
                try pipeline.addHandler(IdleStateHandler(readTimeout: .milliseconds(route.settings.idleTimeout)))
            }
            let writer = RawResponseWriter()
            try pipeline.addHandler(writer)
            try pipeline.addHandler(DirectScoreHandler(route: route))
            try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false)
            try pipeline.addHandler(ScoreChannelHandler(route: route, writer: writer))
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

/// The place in a connection's pipeline, between the socket and NIO's HTTP/1
/// codec, where ``ScoreChannelHandler`` writes its answers as finished bytes.
///
/// Writes pass through untouched. Answers written here keep their order with
/// the router's, which go through the encoder first: the encoder writes on
/// at once, and the score handler answers only when the router owes none.
final class RawResponseWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// This handler's context while it is in a pipeline.
    private(set) var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }
}

/// The status line and headers of the score route's answers, written
/// straight into the answer's buffer.
enum ResponseFraming {
    /// Whether the answer says what becomes of the connection.
    enum Connection {
        /// Nothing: HTTP/1.1 keeps it.
        case implied
        /// `connection: keep-alive`, which an HTTP/1.0 client needs to keep it.
        case keepAlive
        /// `connection: close`.
        case close
    }

    /// Room enough for the longest status line and headers written here.
    static let headRoom = 192

    /// An answer's bytes: status line, headers, JSON body.
    static func answer(_ response: ScoreRoute.Response, version: HTTPVersion, connection: Connection, date: String,
                       allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: headRoom + response.body.count)
        writeHead(status: response.status, version: version, contentLength: response.body.count,
                  date: date, connection: connection, to: &buffer)
        buffer.writeBytes(response.body)
        return buffer
    }

    /// Writes `HTTP/1.x <status> <reason>` and the headers, through the empty line.
    static func writeHead(status: Int, version: HTTPVersion, contentLength: Int, date: String,
                          connection: Connection, to buffer: inout ByteBuffer) {
        buffer.writeStaticString(version.minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ")
        buffer.writeString(String(status))
        buffer.writeStaticString(" ")
        buffer.writeString(HTTPResponseStatus(statusCode: status).reasonPhrase)
        buffer.writeStaticString("\r\ncontent-type: application/json\r\ncontent-length: ")
        buffer.writeString(String(contentLength))
        buffer.writeStaticString("\r\nserver: osprey\r\ndate: ")
        buffer.writeString(date)
        switch connection {
        case .implied: break
        case .keepAlive: buffer.writeStaticString("\r\nconnection: keep-alive")
        case .close: buffer.writeStaticString("\r\nconnection: close")
        }
        buffer.writeStaticString("\r\n\r\n")
    }
}

/// The `Date` header's value, formatted once per second (RFC 9110 IMF-fixdate).
struct HTTPDate {
    private var second = -1
    private var text = ""

    /// The current time as an IMF-fixdate, e.g. `Tue, 24 Nov 2026 04:30:00 GMT`.
    mutating func now() -> String {
        var t = time(nil)
        if t != second {
            second = t
            var parts = tm()
            gmtime_r(&t, &parts)
            let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
            text = "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        }
        return text
    }
}

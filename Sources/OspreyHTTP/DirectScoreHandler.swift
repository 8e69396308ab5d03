import Dispatch
import HummingbirdCore
import NIOCore
import NIOHTTP1
import OspreyCore

/// Serves plain `POST /v1/score` requests from the connection's bytes,
/// ahead of NIO's HTTP/1 decoder.
///
/// It reads each request's head with ``ScoreRequestHead`` and, while every
/// request on the connection has that simple shape, never hands a byte to the
/// decoder: no head or header list is built, and the body is copied once. The
/// first request it declines (another route, HTTP/1.0, `Expect`, a body over
/// the limit, anything unusual) and every byte after it go to NIO's decoder,
/// and the connection stays on that path, where ``ScoreChannelHandler`` and
/// the router answer as before. The switch happens only between requests,
/// with no answer owed, so answers keep their order.
final class DirectScoreHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// Reading requests here; none is being scored.
        case idle
        /// Waiting for the stream thread's answer.
        case scoring
        /// The answer said `connection: close`; what follows is dropped.
        case closing
        /// Passing everything on to NIO's decoder.
        case passing
    }

    private let route: ScoreRoute
    private var state = State.idle
    /// Bytes read and not handled yet.
    private var unread: ByteBuffer?
    /// The request being scored: when it was read, and whether the connection stays.
    private var started: UInt64 = 0
    private var keepAlive = true
    /// A read the channel asked for while a pipelined request waited.
    private var readPending = false
    /// Inside `channelRead`: bytes passed on now are followed by the channel's own read-complete.
    private var reading = false
    private var context: ChannelHandlerContext?
    private var date = HTTPDate()

    init(route: ScoreRoute) {
        self.route = route
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .passing:
            context.fireChannelRead(data)
        case .closing:
            break
        case .idle, .scoring:
            var bytes = unwrapInboundIn(data)
            if unread == nil {
                unread = bytes
            } else {
                unread!.writeBuffer(&bytes)
            }
            reading = true
            serve(context: context)
            reading = false
        }
    }

    /// A connection that sent nothing for `http.idle_timeout`, or stalled in
    /// a request, closes unless its request is being scored.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard state != .passing, case .read? = event as? IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if state == .idle {
            state = .closing
            context.close(promise: nil)
        }
    }

    func read(context: ChannelHandlerContext) {
        // Reads stop only while a scored request has another behind it:
        // stopping them for every score would cost two epoll_ctl calls each.
        if state == .scoring, let unread, unread.readableBytes > 0 {
            readPending = true
        } else {
            context.read()
        }
    }

    /// Handles the complete requests in `unread`, one at a time.
    private func serve(context: ChannelHandlerContext) {
        while state == .idle, let buffer = unread, buffer.readableBytes > 0 {
            let parse = buffer.withUnsafeReadableBytes(ScoreRequestHead.parse)
            switch parse {
            case .incomplete:
                return
            case .other:
                return pass(context: context)
            case .head(let head):
                guard head.contentLength <= route.settings.maxBodyBytes else { return pass(context: context) }
                guard buffer.readableBytes >= head.length + head.contentLength else { return }
                let body = buffer.withUnsafeReadableBytes { Array($0[head.length..<(head.length + head.contentLength)]) }
                unread!.moveReaderIndex(forwardBy: head.length + head.contentLength)
                if unread!.readableBytes == 0 { unread = nil }
                score(head, body: body, context: context)
            }
        }
    }

    /// Hands the unread bytes, and all later ones, to NIO's decoder.
    private func pass(context: ChannelHandlerContext) {
        state = .passing
        guard let buffer = unread else { return }
        unread = nil
        context.fireChannelRead(wrapInboundOut(buffer))
        // Outside a read (after an answer) the decoder needs a read-complete
        // of its own to hand the parts on.
        if !reading { context.fireChannelReadComplete() }
    }

    private func score(_ head: ScoreRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        started = DispatchTime.now().uptimeNanoseconds
        keepAlive = head.keepAlive
        var parameters = ScoreRoute.Parameters()
        if let query = head.query {
            switch ScoreRoute.parameters(URI("/?" + query)) {
            case .success(let p): parameters = p
            case .failure(let refusal): return answer(refusal, context: context)
            }
        }
        if let failure = route.submit(body, parameters, on: context.eventLoop, then: { [self] in scored($0) }) {
            return answer(failure, context: context)
        }
        state = .scoring
    }

    /// The stream thread's answer, back on the event loop.
    private func scored(_ response: ScoreRoute.Response) {
        guard state == .scoring, let context else { return }
        answer(response, context: context)
        serve(context: context)
        if readPending && state != .scoring {
            readPending = false
            context.read()
        }
    }

    private func answer(_ response: ScoreRoute.Response, context: ChannelHandlerContext) {
        let buffer = ResponseFraming.answer(response, version: .http1_1, connection: keepAlive ? .implied : .close,
                                            date: date.now(), allocator: context.channel.allocator)
        route.metrics.record(route: ScoreChannelHandler.path, status: response.status,
                             seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        if keepAlive {
            state = .idle
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } else {
            state = .closing
            unread = nil
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

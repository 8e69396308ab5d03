import NIOCore
import NIOEmbedded
@testable import OspreyCore
@testable import OspreyHTTP
import Testing

/// ``DirectScoreHandler`` in a pipeline of its own: what it posts to the
/// stream thread's mailbox, what it writes back, and what it passes on to
/// where NIO's HTTP/1 decoder would be.
@Suite("Plain score requests served from the connection's bytes")
struct DirectScoreHandlerTests {
    /// Collects the bytes passed on towards NIO's decoder.
    final class PassedOn: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var text = ""
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
    }

    let mailbox = StreamMailbox()
    let metrics = RequestMetrics()
    let passedOn = PassedOn()
    let channel = EmbeddedChannel()

    init() throws {
        let route = ScoreRoute(settings: HTTPSettings(), mailbox: mailbox, metrics: metrics)
        try channel.pipeline.syncOperations.addHandler(DirectScoreHandler(route: route))
        try channel.pipeline.syncOperations.addHandler(passedOn)
    }

    static func post(_ id: String, headers: String = "") -> String {
        let body = #"{"event_id":"\#(id)"}"#
        return "POST /v1/score HTTP/1.1\r\nHost: osprey\r\n\(headers)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// Answers the score requests waiting in the mailbox, each with
    /// `{"answer": <its event_id>}`; returns the event ids, in order.
    func answerWaitingRequests() -> [String] {
        var ids: [String] = []
        for request in mailbox.take() {
            guard case .score(_, let events, _, let reply) = request else { continue }
            let id = String(decoding: events[0], as: UTF8.self).split(separator: "\"")[3]
            ids.append(String(id))
            reply(.results([Array(#"{"answer":"\#(id)"}"#.utf8)]))
        }
        channel.embeddedEventLoop.run()
        return ids
    }

    func written() throws -> String {
        var text = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { text += buffer.readString(length: buffer.readableBytes) ?? "" }
        return text
    }

    @Test("score requests are posted one at a time and answered in order; the first other request and everything after it go on to NIO's decoder")
    func servesThenPassesOn() throws {
        let healthz = "GET /healthz HTTP/1.1\r\nHost: osprey\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: Self.post("a") + Self.post("b") + healthz + Self.post("c")))
        #expect(answerWaitingRequests() == ["a"])
        #expect(passedOn.text.isEmpty, "nothing passes on while a score request is ahead")
        #expect(answerWaitingRequests() == ["b"])
        #expect(answerWaitingRequests() == [], "c comes after a request that is not a plain score")
        let answers = try written()
        #expect(answers.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 3, "\(answers)")
        #expect(answers.hasSuffix(#"{"answer":"b"}"#) && answers.contains(#"{"answer":"a"}HTTP/1.1"#), "\(answers)")
        #expect(passedOn.text == healthz + Self.post("c"))
        #expect(metrics.snapshot().counts[ScoreChannelHandler.path] == [200: 2])
    }

    @Test("a request split over several reads is posted once its last byte is in; Connection: close answers, then closes")
    func splitRequestsAndClose() throws {
        let request = Array((Self.post("s") + Self.post("t", headers: "Connection: close\r\n")).utf8)
        for piece in stride(from: 0, to: request.count, by: 17) {
            try channel.writeInbound(ByteBuffer(bytes: request[piece..<min(piece + 17, request.count)]))
            channel.embeddedEventLoop.run()
        }
        #expect(answerWaitingRequests() == ["s"])
        #expect(answerWaitingRequests() == ["t"])
        let answers = try written()
        #expect(answers.hasSuffix("connection: close\r\n\r\n" + #"{"answer":"t"}"#), "\(answers)")
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive, "the connection closes after the answer to Connection: close")
        #expect(passedOn.text.isEmpty)
    }

    @Test("a bad explain parameter is answered at once, without the stream thread")
    func badParameter() throws {
        let body = #"{"event_id":"x"}"#
        try channel.writeInbound(ByteBuffer(string: "POST /v1/score?explain=maybe HTTP/1.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"))
        #expect(mailbox.take().isEmpty)
        let answer = try written()
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && answer.contains(#""field":"explain""#), "\(answer)")
    }
}

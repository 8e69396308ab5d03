@testable import OspreyHTTP
import OspreyRandom
import Testing

/// ``ScoreRequestHead`` takes the simple score requests and declines
/// everything else, whole, to NIO's decoder; it never rejects.
@Suite("Score request heads read from the connection's bytes")
struct ScoreRequestHeadTests {
    func parse(_ text: String) -> ScoreRequestHead.Parse {
        Array(text.utf8).withUnsafeBytes { ScoreRequestHead.parse($0) }
    }

    func head(_ text: String) -> ScoreRequestHead? {
        if case .head(let head) = parse(text) { return head }
        return nil
    }

    let plain = "POST /v1/score HTTP/1.1\r\nHost: osprey\r\nContent-Type: application/json\r\nContent-Length: 42\r\n\r\n"

    @Test("a plain request: body length, keep-alive, and where the body starts")
    func plainRequest() {
        #expect(head(plain) == ScoreRequestHead(query: nil, contentLength: 42, keepAlive: true, length: plain.utf8.count))
        // Bytes after the head (the body, the next request) do not matter.
        #expect(head(plain + "{\"event_id\":") == ScoreRequestHead(query: nil, contentLength: 42, keepAlive: true, length: plain.utf8.count))
    }

    @Test("header names in any case, spaces around values, a trailing slash, a query")
    func variants() {
        let text = "POST /v1/score/?explain=true&event_type=payment HTTP/1.1\r\ncontent-LENGTH:\t7 \r\nCONNECTION:  Close\r\nX-Trace: a\u{00e9}b\r\n\r\n"
        #expect(head(text) == ScoreRequestHead(query: "explain=true&event_type=payment", contentLength: 7, keepAlive: false, length: text.utf8.count))
        #expect(head("POST /v1/score HTTP/1.1\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")?.keepAlive == true)
    }

    @Test("every prefix of a request is incomplete, never declined")
    func prefixes() {
        let bytes = Array(plain.utf8)
        for n in 0..<bytes.count {
            let parse = bytes[..<n].withUnsafeBytes { ScoreRequestHead.parse($0) }
            #expect(parse == .incomplete, "\(n) bytes: \(parse)")
        }
    }

    @Test("other routes, methods and versions go to NIO's decoder", arguments: [
        "GET /healthz HTTP/1.1\r\n\r\n",
        "GET /v1/score HTTP/1.1\r\n\r\n",
        "post /v1/score HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
        "POST /v1/scores HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
        "POST /v1/score// HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
        "POST /v1/score HTTP/1.0\r\nContent-Length: 1\r\n\r\n",
        "POST /v1/score HTTP/2.0\r\nContent-Length: 1\r\n\r\n",
        "POST  /v1/score HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
        "NOT HTTP AT ALL\r\n\r\n",
    ])
    func otherRequests(_ text: String) {
        #expect(parse(text) == .other)
    }

    @Test("framing this parser does not handle goes to NIO's decoder", arguments: [
        "Transfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: 5 5\r\n",
        "Content-Length: \r\n",
        "Content-Length: 1234567890\r\n",
        "Content-Length: 5\r\nExpect: 100-continue\r\n",
        "Content-Length: 5\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n",
        "Content-Length: 5\r\nConnection: keep-alive, close\r\n",
        "Host: osprey\r\n",
        "Content-Length: 5\r\n folded: value\r\n",
        "Content-Length: 5\r\nBad Name: x\r\n",
        "Content-Length: 5\r\n: no name\r\n",
        "Content-Length: 5\nHost: osprey\r\n",
        "Content-Length: 5\r\nX-Control: a\u{0001}b\r\n",
        "Content-Length: 5\r\nX-Delete: a\u{007f}b\r\n",
    ])
    func unusualHeaders(_ headers: String) {
        #expect(parse("POST /v1/score HTTP/1.1\r\n" + headers + "\r\n") == .other)
    }

    @Test("a bare LF or a stray byte after the headers' CR is declined")
    func lineEnds() {
        #expect(parse("POST /v1/score HTTP/1.1\nContent-Length: 1\r\n\r\n") == .other)
        #expect(parse("POST /v1/score HTTP/1.1\r\nContent-Length: 1\r\n\rX") == .other)
    }

    @Test("a head that does not end within the limit is declined, so NIO enforces its own")
    func longHeads() {
        let padding = "X-Padding: " + String(repeating: "a", count: ScoreRequestHead.maximumLength) + "\r\n"
        #expect(parse("POST /v1/score HTTP/1.1\r\nContent-Length: 1\r\n" + padding) == .other)
        #expect(parse("POST /v1/score HTTP/1.1\r\nContent-Length: 1\r\n" + padding + "\r\n") == .other)
        #expect(parse("POST /v1/score?" + String(repeating: "q", count: ScoreRequestHead.maximumLength)) == .other)
    }

    @Test("mutated requests never trap, and an accepted head ends with its empty line")
    func mutations() {
        var random = SplitMix64(seed: 11)
        let base = Array((plain + "{\"event_id\":\"e-1\"}").utf8)
        let alphabet = Array("\r\n :/?0123456789aAzZ-\t\u{7f}\u{0}".utf8) + [0xC3, 0xFF]
        var accepted = 0
        for _ in 0..<20_000 {
            var bytes = base
            for _ in 0..<(1 + random.next() % 4) {
                let at = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[at] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                case 1: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: at)
                case 2: bytes.remove(at: at)
                default: bytes.removeLast(Int(random.next() % UInt64(max(1, bytes.count / 2))))
                }
            }
            let parse = bytes.withUnsafeBytes { ScoreRequestHead.parse($0) }
            if case .head(let head) = parse {
                accepted += 1
                #expect(head.length <= bytes.count && bytes[..<head.length].suffix(4).elementsEqual("\r\n\r\n".utf8))
                #expect(bytes.starts(with: "POST /v1/score".utf8))
            }
        }
        #expect(accepted > 1000, "the mutations leave many requests acceptable (\(accepted))")
    }
}

/// The head of a plain `POST /v1/score` request, read straight from the
/// connection's bytes by a deliberately narrow parser.
///
/// NIO's HTTP/1 decoder handles every form HTTP/1.1 allows, and for each
/// request builds a head, a header list of strings and a body part; on the
/// score route that took about a quarter of the event loops' CPU. The requests
/// a scoring client sends are nearly always the same simple shape, which this
/// parser accepts: `POST /v1/score[?query] HTTP/1.1`, headers with token names
/// and printable values, CRLF line ends, one `Content-Length`. Anything else
/// (another route or method, HTTP/1.0, `Transfer-Encoding`, `Expect`,
/// `Upgrade`, an unusual `Connection`, a doubtful byte) is ``Parse/other``,
/// and the connection's bytes go to NIO's decoder from there on. The parser
/// never decides that a request is invalid; it only declines.
struct ScoreRequestHead: Equatable {
    /// The request target's query (without `?`), when it has one.
    var query: String?
    /// The body's length, from `Content-Length`.
    var contentLength: Int
    /// False when the client sent `Connection: close`.
    var keepAlive: Bool
    /// Bytes of the request line and headers, through the empty line.
    var length: Int

    /// What the start of a connection's unread bytes holds.
    enum Parse: Equatable {
        /// A score request's head, complete.
        case head(ScoreRequestHead)
        /// Possibly a score request, not all there yet.
        case incomplete
        /// Something for NIO's decoder.
        case other
    }

    /// Heads longer than this are left to NIO's decoder, which enforces
    /// the server's header limits and answers 431.
    static let maximumLength = 8192

    private static let requestLine = Array("POST /v1/score".utf8)
    private static let version = Array(" HTTP/1.1\r\n".utf8)

    /// Parses the head at the start of `bytes`.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Parse {
        let parse = scan(bytes)
        return parse == .incomplete && bytes.count >= maximumLength ? .other : parse
    }

    private static func scan(_ bytes: UnsafeRawBufferPointer) -> Parse {
        let n = bytes.count
        // The request line: method and path, then an optional slash and query.
        let prefix = min(n, requestLine.count)
        for i in 0..<prefix where bytes[i] != requestLine[i] { return .other }
        guard n > requestLine.count else { return .incomplete }
        var i = requestLine.count
        if bytes[i] == UInt8(ascii: "/") {
            i += 1
            guard i < n else { return .incomplete }
        }
        var query: String?
        if bytes[i] == UInt8(ascii: "?") {
            let start = i + 1
            i = start
            while i < n, bytes[i] > 0x20, bytes[i] < 0x7F { i += 1 }
            guard i < n else { return .incomplete }
            query = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        }
        for v in version.indices {
            guard i + v < n else { return .incomplete }
            if bytes[i + v] != version[v] { return .other }
        }
        i += version.count

        // Headers, up to the empty line.
        var contentLength: Int?
        var keepAlive = true
        while true {
            guard i < n else { return .incomplete }
            if bytes[i] == 0x0D {
                guard i + 1 < n else { return .incomplete }
                guard bytes[i + 1] == 0x0A else { return .other }
                i += 2
                break
            }
            let nameStart = i
            while i < n, isTokenByte(bytes[i]) { i += 1 }
            guard i < n else { return .incomplete }
            guard bytes[i] == UInt8(ascii: ":"), i > nameStart else { return .other }
            let nameEnd = i
            i += 1
            while i < n, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
            let valueStart = i
            while i < n, bytes[i] == 0x09 || (bytes[i] >= 0x20 && bytes[i] != 0x7F) { i += 1 }
            guard i + 1 < n else { return .incomplete }
            guard bytes[i] == 0x0D, bytes[i + 1] == 0x0A else { return .other }
            var valueEnd = i
            while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            i += 2
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd])
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            if equalsIgnoringCase(name, "content-length") {
                guard contentLength == nil, let length = decimal(value) else { return .other }
                contentLength = length
            } else if equalsIgnoringCase(name, "connection") {
                if equalsIgnoringCase(value, "close") {
                    keepAlive = false
                } else if !equalsIgnoringCase(value, "keep-alive") {
                    return .other
                }
            } else if equalsIgnoringCase(name, "transfer-encoding") || equalsIgnoringCase(name, "expect")
                        || equalsIgnoringCase(name, "upgrade") {
                return .other
            }
        }
        guard let contentLength, i <= maximumLength else { return .other }
        return .head(ScoreRequestHead(query: query, contentLength: contentLength, keepAlive: keepAlive, length: i))
    }

    /// RFC 9110's `tchar`.
    @inline(__always)
    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Whether `bytes` spell `lowercase` in any case.
    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for i in 0..<bytes.count {
            let b = bytes[i]
            if (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b | 0x20 : b) != expected[i] { return false }
        }
        return true
    }

    /// A `Content-Length` value: 1 to 9 digits (larger bodies are over any limit anyway).
    private static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 9 else { return nil }
        var value = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(b - UInt8(ascii: "0"))
        }
        return value
    }
}

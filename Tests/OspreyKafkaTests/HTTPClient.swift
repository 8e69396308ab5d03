import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OspreyJSON
import Testing

/// Blocking HTTP calls to a daemon's side port (the tests are synchronous).
enum HTTPClient {
    struct Reply {
        var status: Int
        var body: [UInt8]
        /// The status line and headers as sent (pipelined calls only).
        var head = ""
        /// The header lines after the status line, names lowercased.
        var headerLines: [String] {
            head.split(separator: "\r\n").dropFirst().map { line in
                let colon = line.firstIndex(of: ":") ?? line.endIndex
                return line[..<colon].lowercased() + line[colon...]
            }
        }
        var json: JSONValue? { try? JSONReader.parse(body) }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One request; fails the test when no answer comes within 30 s.
    static func call(_ method: String, _ url: String, body: [UInt8]? = nil, headers: [String: String] = [:]) throws -> Reply {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.httpBody = body.map { Data($0) }
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Reply?
        URLSession.shared.dataTask(with: request) { data, response, _ in
            result = Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: Array(data ?? Data()))
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 30)
        return try #require(result, "\(method) \(url) got no answer")
    }

    /// The value of the unlabelled series `name` on the daemon at `base`'s /metrics (nil if absent or unreachable).
    static func metric(_ name: String, at base: String) -> Double? {
        guard let text = try? call("GET", "\(base)/metrics").text else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Writes `requests` (raw HTTP/1.1 text) to one connection in a single
    /// write (or in writes of `splitEvery` bytes, 5 ms apart), then reads
    /// `count` answers (all, until the server closes, when nil).
    /// Each final answer needs a Content-Length.
    static func pipelined(_ requests: [String], port: Int, count: Int? = nil, splitEvery: Int? = nil) throws -> [Reply] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0, "connect to port \(port)")
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let out = Array(requests.joined().utf8)
        var sent = 0
        while sent < out.count {
            let end = splitEvery.map { min(out.count, sent + $0) } ?? out.count
            let n = out[sent..<end].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            try #require(n > 0, "send")
            sent += n
            if splitEvery != nil { usleep(5_000) }
        }
        var input: [UInt8] = []
        var replies: [Reply] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while count.map({ replies.count < $0 }) ?? true {
            // Parse every complete answer in the buffer, then read more.
            while let end = input.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: input[..<end.lowerBound], as: UTF8.self)
                let lines = head.split(separator: "\r\n")
                let status = Int(lines[0].split(separator: " ")[1])!
                // An interim answer (100 Continue) has no body.
                let length = status < 200 ? 0 : try #require(lines.dropFirst().first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }, "no Content-Length in \(head)")
                guard input.count >= end.upperBound + length else { break }
                replies.append(Reply(status: status, body: Array(input[end.upperBound..<end.upperBound + length]), head: head))
                input.removeFirst(end.upperBound + length)
            }
            if let count, replies.count >= count { break }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            input += chunk[..<n]
        }
        return replies
    }
}

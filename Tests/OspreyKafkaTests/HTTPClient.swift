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

}

import Foundation
import Hummingbird
import Logging
import NIOCore
import OspreyCore
import OspreyJSON
import ServiceLifecycle
import Synchronization

/// The side HTTP port: synchronous scoring and entity lookups (served by the
/// stream thread through its mailbox, on the same state and code), health,
/// readiness, metrics, and the token-protected admin routes.
public struct HTTPServer: Sendable {
    let settings: HTTPSettings
    let mailbox: StreamMailbox
    let board: StatusBoard
    let requests = RequestMetrics()

    /// A server for `settings`, talking to the stream through `mailbox` and `board`.
    public init(settings: HTTPSettings, mailbox: StreamMailbox, board: StatusBoard) {
        self.settings = settings
        self.mailbox = mailbox
        self.board = board
    }

    /// The Hummingbird application.
    public func makeApplication(logger: Logger) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: JSONErrors(metrics: requests))
        router.get("/healthz") { _, _ in json(200, #"{"status":"ok"}"#) }
        router.get("/readyz") { _, _ in
            let status = board.current
            if status.isReady { return json(200, #"{"ready":true}"#) }
            var body = JSONText()
            body.raw(#"{"ready":false,"reasons":["#)
            for (i, reason) in status.notReadyReasons.enumerated() {
                if i > 0 { body.raw(",") }
                body.string(reason)
            }
            body.raw("]}")
            return json(503, body.bytes)
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: PrometheusText.render(board.current, requests: requests.snapshot()))))
        }
        router.get("/v1/models") { _, _ in
            let status = board.current
            var body = JSONText()
            body.raw(#"{"models":[{"version":"#)
            body.string(status.modelVersion)
            body.raw(#","role":"live","path":"#)
            body.string(status.modelPath)
            body.raw(#","trees":\#(status.modelTrees),"loaded_at":\#(status.modelLoadedAt),"features":["#)
            for (i, name) in status.modelFeatures.enumerated() {
                if i > 0 { body.raw(",") }
                body.string(name)
            }
            body.raw("]}]}")
            return json(200, body.bytes)
        }
        router.get("/v1/entities/:type/:id/features") { _, context in
            let field = context.parameters.get("type") ?? ""
            let id = context.parameters.get("id") ?? ""
            switch await mailbox.entity(field: field, id: id) {
            case .found(let bytes): return json(200, bytes)
            case .failure(let status, let code, let message): return errorResponse(status, code, message)
            }
        }
        router.post("/v1/score") { request, context in
            var request = request
            let buffer = try await request.collectBody(upTo: settings.maxBodyBytes)
            let bytes = Array(buffer.readableBytesView)
            let explain = request.uri.queryParameters["explain"].map { $0 == "true" || $0 == "1" } ?? false
            let eventType = request.uri.queryParameters["event_type"].map(String.init)
            let value: JSONValue
            do {
                value = try JSONReader.parse(bytes)
            } catch {
                return errorResponse(400, "invalid_json", "the body is not JSON: \(error)")
            }
            var events: [[UInt8]] = []
            var batch = false
            if case .object(let members) = value, members.count == 1, let list = members["events"] {
                guard case .array(let items) = list else { return errorResponse(400, "wrong_type", "'events' must be an array of events", field: "events") }
                guard !items.isEmpty else { return errorResponse(400, "empty", "'events' is empty", field: "events") }
                guard items.count <= settings.maxBatch else {
                    return errorResponse(413, "batch_too_large", "\(items.count) events is over the limit of \(settings.maxBatch) (http.max_batch)", field: "events")
                }
                events = items.map(JSONText.encode)
                batch = true
            } else {
                events = [bytes]
            }
            switch await mailbox.score(eventType: eventType, events: events, explain: explain) {
            case .results(let results):
                if !batch { return json(200, results[0]) }
                var body: [UInt8] = Array(#"{"results":["#.utf8)
                for (i, r) in results.enumerated() {
                    if i > 0 { body.append(0x2C) }
                    body += r
                }
                body += Array("]}".utf8)
                return json(200, body)
            case .failure(let status, let code, let message, let field, let index):
                return errorResponse(status, code, message, field: field, index: index)
            }
        }
        router.post("/v1/models/reload") { request, _ in
            guard let token = settings.adminToken, !token.isEmpty,
                  request.headers[.authorization] == "Bearer \(token)" else {
                return errorResponse(401, "unauthorized", "admin routes need 'Authorization: Bearer <http.admin_token>'")
            }
            return errorResponse(501, "not_implemented", "model reload comes with the model registry; restart with the new model meanwhile")
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "osprey"),
            logger: logger)
    }
}

func json(_ status: Int, _ text: String) -> Response { json(status, Array(text.utf8)) }

func json(_ status: Int, _ bytes: [UInt8]) -> Response {
    Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
}

func errorResponse(_ status: Int, _ code: String, _ message: String, field: String? = nil, index: Int? = nil) -> Response {
    var body = JSONText()
    body.raw(#"{"error":"#)
    body.string(code)
    body.raw(#","message":"#)
    body.string(message)
    if let field {
        body.raw(#","field":"#)
        body.string(field)
    }
    if let index { body.raw(#","index":\#(index)"#) }
    body.raw("}")
    return json(status, body.bytes)
}

/// Turns every error (unknown route, body too large, anything thrown) into a
/// JSON answer with the right status, and counts requests per route and status.
struct JSONErrors<Context: RequestContext>: RouterMiddleware {
    let metrics: RequestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as NIOTooManyBytesError {
            _ = error
            response = errorResponse(413, "too_large", "the body is larger than http.max_body_bytes")
        } catch let error as HTTPError {
            let code = error.status.code
            response = errorResponse(code, code == 404 ? "not_found" : code == 405 ? "method_not_allowed" : "http_\(code)",
                                     code == 404 ? "no route \(request.method) \(request.uri.path)" : (error.body ?? "\(error.status)"))
        } catch {
            response = errorResponse(500, "internal", "\(error)")
        }
        let route = context.endpointPath ?? "unmatched"
        metrics.record(route: route, status: response.status.code, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        return response
    }
}

/// HTTP requests per route and status, with latency.
final class RequestMetrics: Sendable {
    struct Snapshot: Sendable {
        var counts: [String: [Int: UInt64]] = [:]
        var latency: [String: Histogram] = [:]
    }

    private let data = Mutex(Snapshot())

    func record(route: String, status: Int, seconds: Double) {
        data.withLock { d in
            d.counts[route, default: [:]][status, default: 0] += 1
            d.latency[route, default: Histogram(bounds: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1])].observe(seconds)
        }
    }

    func snapshot() -> Snapshot { data.withLock { $0 } }
}

extension JSONText {
    /// JSON text for a parsed value (numbers in their shortest exact form).
    static func encode(_ value: JSONValue) -> [UInt8] {
        var text = JSONText()
        text.write(value)
        return text.bytes
    }

    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let b): bool(b)
        case .number(let d): number(d)
        case .string(let s): string(s)
        case .array(let items):
            raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { raw(",") }
                write(item)
            }
            raw("]")
        case .object(let members):
            raw("{")
            for (i, (key, item)) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { raw(",") }
                string(key)
                raw(":")
                write(item)
            }
            raw("}")
        }
    }
}

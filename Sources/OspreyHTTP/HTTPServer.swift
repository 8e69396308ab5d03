import Foundation
import Hummingbird
import HummingbirdCore
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
    let models: ModelManager?
    let requests = RequestMetrics()

    /// A server for `settings`, talking to the stream through `mailbox` and
    /// `board`; `models` serves the model admin routes.
    public init(settings: HTTPSettings, mailbox: StreamMailbox, board: StatusBoard, models: ModelManager? = nil) {
        self.settings = settings
        self.mailbox = mailbox
        self.board = board
        self.models = models
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
            body.raw(#"{"models":["#)
            for (i, model) in status.models.enumerated() {
                if i > 0 { body.raw(",") }
                body.raw(#"{"version":"#)
                body.string(model.version)
                body.raw(#","role":"#)
                body.string(model.role)
                body.raw(#","path":"#)
                body.string(model.path)
                body.rawText(#","trees":\#(model.trees),"loaded_at":\#(model.loadedAt),"features":["#)
                for (j, name) in model.features.enumerated() {
                    if j > 0 { body.raw(",") }
                    body.string(name)
                }
                body.raw(#"],"metrics":{"#)
                for (j, (name, value)) in model.metrics.sorted(by: { $0.key < $1.key }).enumerated() {
                    if j > 0 { body.raw(",") }
                    body.string(name)
                    body.raw(":")
                    body.number(value)
                }
                body.raw("}}")
            }
            body.raw(#"],"canary_fraction":"#)
            body.number(status.canaryFraction)
            if let deployment = await models?.deployment {
                body.raw(#","deployment":"#)
                write(deployment, into: &body)
            }
            body.raw("}")
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
        // Model administration: each route is one call, needs the admin
        // token, and answers with what serves afterwards (or why nothing changed).
        let admin: @Sendable (Request, @Sendable (ModelManager, JSONValue) async throws(RegistryError) -> ModelChange) async throws -> Response = { request, action in
            guard let token = settings.adminToken, !token.isEmpty, let given = request.headers[.authorization],
                  constantTimeEqual(given, "Bearer \(token)") else {
                return errorResponse(401, "unauthorized", "admin routes need 'Authorization: Bearer <http.admin_token>'")
            }
            guard let models else { return errorResponse(503, "no_model_manager", "this server has no model manager") }
            var request = request
            let bytes = Array(try await request.collectBody(upTo: 65_536).readableBytesView)
            var body = JSONValue.object([:])
            if !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
                do {
                    body = try JSONReader.parse(bytes)
                } catch {
                    return errorResponse(400, "invalid_json", "the body is not JSON: \(error)")
                }
                guard case .object = body else { return errorResponse(400, "invalid_body", "the body must be a JSON object") }
            }
            do throws(RegistryError) {
                let change = try await action(models, body)
                var out = JSONText()
                out.raw(#"{"live":"#)
                if let live = change.lineup.live { out.string(live.version) } else { out.raw("null") }
                out.raw(#","challenger":"#)
                if let challenger = change.lineup.challenger { out.string(challenger.version) } else { out.raw("null") }
                out.raw(#","mode":"#)
                out.string(change.lineup.mode.rawValue)
                out.raw(#","canary_fraction":"#)
                out.number(change.lineup.canaryFraction)
                out.raw(#","switched_at":{"#)
                for (i, (partition, offset)) in change.switchedAt.sorted(by: { $0.key < $1.key }).enumerated() {
                    if i > 0 { out.raw(",") }
                    out.string(partition)
                    out.raw(":")
                    out.integer(offset)
                }
                out.raw("}")
                if let deployment = change.deployment {
                    out.raw(#","deployment":"#)
                    write(deployment, into: &out)
                }
                out.raw("}")
                return json(200, out.bytes)
            } catch {
                return errorResponse(409, "model_not_changed", "\(error); the previous models keep serving")
            }
        }
        router.post("/v1/models/reload") { request, _ in
            try await admin(request) { (models, _) throws(RegistryError) in try await models.reload() }
        }
        router.post("/v1/models/promote") { request, _ in
            try await admin(request) { (models, _) throws(RegistryError) in try await models.promote() }
        }
        router.post("/v1/models/rollback") { request, _ in
            try await admin(request) { (models, _) throws(RegistryError) in try await models.rollback() }
        }
        router.post("/v1/models/deploy") { request, _ in
            try await admin(request) { (models, body) throws(RegistryError) in
                guard case .object(let fields) = body else { throw RegistryError("the body must be a JSON object") }
                for key in fields.keys where !["live", "challenger", "mode", "canary_fraction"].contains(key) {
                    throw RegistryError("unknown field '\(key)'; give live, challenger (a version or null), mode (shadow or canary), canary_fraction")
                }
                var live: String?
                if let value = fields["live"] {
                    guard let v = value.stringValue else { throw RegistryError("'live' must be a version name") }
                    live = v
                }
                var challenger: String??
                if let value = fields["challenger"] {
                    if value == .null { challenger = .some(nil) } else if let v = value.stringValue { challenger = .some(v) } else {
                        throw RegistryError("'challenger' must be a version name or null")
                    }
                }
                var mode: ChallengerMode?
                if let value = fields["mode"] {
                    guard let v = value.stringValue, let m = ChallengerMode(rawValue: v) else { throw RegistryError("'mode' must be shadow or canary") }
                    mode = m
                }
                var fraction: Double?
                if let value = fields["canary_fraction"] {
                    guard let f = value.numberValue else { throw RegistryError("'canary_fraction' must be a number from 0 to 1") }
                    fraction = f
                }
                return try await models.deploy(live: live, challenger: challenger, mode: mode, canaryFraction: fraction)
            }
        }
        // POST /v1/score never reaches the router: ScoreChannelHandler serves
        // it on the event loop.
        let route = ScoreRoute(settings: settings, mailbox: mailbox, metrics: requests)
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in ScoringHTTP1Channel(responder: responder, route: route) },
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "osprey"),
            logger: logger)
    }
}

/// Compares a secret without an early exit, so timing tells nothing about it.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
    for i in 0..<max(x.count, y.count) {
        difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
    }
    return difference == 0 && x.count == y.count
}

func write(_ deployment: ModelDeployment, into out: inout JSONText) {
    out.raw(#"{"live":"#)
    if let live = deployment.live { out.string(live) } else { out.raw("null") }
    out.raw(#","challenger":"#)
    if let challenger = deployment.challenger { out.string(challenger) } else { out.raw("null") }
    out.raw(#","mode":"#)
    out.string(deployment.mode.rawValue)
    out.raw(#","canary_fraction":"#)
    out.number(deployment.canaryFraction)
    out.raw(#","previous_live":"#)
    if let previous = deployment.previousLive { out.string(previous) } else { out.raw("null") }
    out.raw("}")
}

func json(_ status: Int, _ text: String) -> Response { json(status, Array(text.utf8)) }

func json(_ status: Int, _ bytes: [UInt8]) -> Response {
    Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
}

func errorResponse(_ status: Int, _ code: String, _ message: String, field: String? = nil, index: Int? = nil) -> Response {
    json(status, errorBody(code, message, field: field, index: index))
}

/// The JSON body of an error answer: `{"error": code, "message": ..., "field": ..., "index": ...}`.
func errorBody(_ code: String, _ message: String, field: String? = nil, index: Int? = nil) -> [UInt8] {
    var body = JSONText()
    body.raw(#"{"error":"#)
    body.string(code)
    body.raw(#","message":"#)
    body.string(message)
    if let field {
        body.raw(#","field":"#)
        body.string(field)
    }
    if let index { body.rawText(#","index":\#(index)"#) }
    body.raw("}")
    return body.bytes
}

/// The port's routes and their methods, for answering a known path asked
/// with another method: 405 and an `Allow` header, not 404. Keep in step
/// with the routes ``HTTPServer/makeApplication(logger:)`` registers (and
/// `POST /v1/score`, which ``ScoreChannelHandler`` serves).
enum RouteMethods {
    static let routes: [(path: [Substring], method: String)] = [
        ("/healthz", "GET"), ("/readyz", "GET"), ("/metrics", "GET"), ("/v1/models", "GET"),
        ("/v1/entities/:type/:id/features", "GET"), ("/v1/score", "POST"),
        ("/v1/models/reload", "POST"), ("/v1/models/promote", "POST"),
        ("/v1/models/rollback", "POST"), ("/v1/models/deploy", "POST"),
    ].map { (segments($0.0), $0.1) }

    /// The methods `path` is served with; empty when no route has the path.
    static func allowed(for path: String) -> [String] {
        let asked = segments(path)
        return routes.filter { route in
            route.path.count == asked.count
                && zip(route.path, asked).allSatisfy { pattern, segment in pattern.hasPrefix(":") || pattern == segment }
        }.map(\.method)
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }
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
            let allowed = code == 404 ? RouteMethods.allowed(for: request.uri.path) : []
            if !allowed.isEmpty {
                var answer = errorResponse(405, "method_not_allowed", "\(request.uri.path) takes \(allowed.joined(separator: ", ")), not \(request.method)")
                answer.headers[.allow] = allowed.joined(separator: ", ")
                response = answer
            } else {
                response = errorResponse(code, code == 404 ? "not_found" : code == 405 ? "method_not_allowed" : "http_\(code)",
                                         code == 404 ? "no route \(request.method) \(request.uri.path)" : (error.body ?? "\(error.status)"))
            }
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

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OspreyJSON
import Testing

/// The side HTTP port of a running daemon.
@Suite("HTTP port", .enabled(if: TestBroker.enabled, "no broker: run Deploy/scripts/test.sh"), .serialized)
struct HTTPTests {
    typealias Reply = HTTPClient.Reply
    func call(_ method: String, _ url: String, body: [UInt8]? = nil, headers: [String: String] = [:]) throws -> Reply {
        try HTTPClient.call(method, url, body: body, headers: headers)
    }
    func freePort() -> Int { HTTPClient.freePort() }

    @Test("score, entities, health, readiness, metrics and errors; the HTTP score equals the stream's decision for the same event and state")
    func endToEnd() throws {
        let input = try TestBroker.createTopic("http-payments")
        let decisions = try TestBroker.createTopic("http-decisions")
        let dlq = try TestBroker.createTopic("http-dlq")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = freePort()
        let base = "http://127.0.0.1:\(port)"
        let (lines, bad) = PaymentStream.lines(count: 1000, seed: 3)
        try Daemon.produce(lines, topic: input)
        let log = directory.appendingPathComponent("osprey.log")
        let process = try Daemon.start(["run", "--config", Daemon.paymentsConfig], environment: [
            "OSPREY_KAFKA_BOOTSTRAP": try TestBroker.address(), "OSPREY_GROUP_ID": "osprey-http-\(UUID().uuidString.prefix(6))",
            "OSPREY_INPUT_TOPICS": input, "OSPREY_OUTPUT_TOPIC": decisions, "OSPREY_DLQ_TOPIC": dlq,
            "OSPREY_CHECKPOINT_DIR": directory.appendingPathComponent("checkpoints").path, "OSPREY_CHECKPOINT_INTERVAL": "1s",
            "OSPREY_HTTP_PORT": "\(port)", "OSPREY_ADMIN_TOKEN": "s3cret", "OSPREY_HTTP_MAX_BODY_BYTES": "65536",
            "OSPREY_HTTP_IDLE_TIMEOUT": "3s",
        ], log: log)
        defer { kill(process.processIdentifier, SIGKILL) }

        // Alive at once; ready once partitions are assigned and caught up.
        var health = try? call("GET", "\(base)/healthz")
        for _ in 0..<100 where health?.status != 200 {
            usleep(100_000)
            health = try? call("GET", "\(base)/healthz")
        }
        #expect(health?.status == 200)
        var ready = try call("GET", "\(base)/readyz")
        let deadline = Date().addingTimeInterval(60)
        while ready.status != 200 && Date() < deadline {
            #expect(ready.status == 503 && ready.json?["reasons"] != nil)
            usleep(200_000)
            ready = try call("GET", "\(base)/readyz")
        }
        #expect(ready.status == 200)
        _ = try Daemon.read(decisions, count: 1000 - bad, timeout: 60)

        // The same event through HTTP, then through the stream: same state, same answer.
        let event = #"{"event_id":"probe-1","event_time":1795382000000,"card_id":"c-7","merchant_id":"m-3","amount":812.5,"currency":"USD","country":"FR","mcc":5411,"channel":"web"}"#
        let scored = try call("POST", "\(base)/v1/score?explain=true", body: Array(event.utf8))
        #expect(scored.status == 200, "\(scored.text)")
        let answer = try #require(scored.json)
        try Daemon.produce([event], topic: input)
        let streamed = try Daemon.read(decisions, count: 1000 - bad + 1, timeout: 60)
        let decision = try #require(streamed.compactMap { try? JSONReader.parse($0.value) }.first { $0["event_id"]?.stringValue == "probe-1" })
        #expect(answer["score"] == decision["score"])
        #expect(answer["decision"] == decision["decision"])
        #expect(answer["features"] == decision["features"])
        #expect(answer["reasons"] == decision["reasons"])
        #expect(answer["explanation"]?["contributions"]?["amount"]?.numberValue != nil)

        // Batches, entities, models.
        let batch = try call("POST", "\(base)/v1/score", body: Array(#"{"events":[\#(event),\#(event)]}"#.utf8))
        #expect(batch.status == 200 && batch.json?["results"]?.arrayValue?.count == 2)
        let spaced = try call("POST", "\(base)/v1/score", body: Array(" \n{ \"events\" : [\(event)]}".utf8))
        #expect(spaced.status == 200 && spaced.json?["results"]?.arrayValue?.count == 1, "whitespace around the batch key")
        let emptyBatch = try call("POST", "\(base)/v1/score", body: Array(#"  {"events": []}"#.utf8))
        #expect(emptyBatch.status == 400 && emptyBatch.json?["error"]?.stringValue == "empty")
        let badFlag = try call("POST", "\(base)/v1/score?explain=maybe", body: Array(event.utf8))
        #expect(badFlag.status == 400 && badFlag.json?["error"]?.stringValue == "invalid_parameter" && badFlag.json?["field"]?.stringValue == "explain", "\(badFlag.text)")
        let entity = try call("GET", "\(base)/v1/entities/card_id/c-7/features")
        #expect(entity.status == 200, "\(entity.text)")
        #expect(entity.json?["event_types"]?.arrayValue?.first?["features"]?["card_txn_count_1h"]?.numberValue != nil)
        #expect(try call("GET", "\(base)/v1/entities/card_id/nobody/features").status == 404)
        #expect(try call("GET", "\(base)/v1/entities/planet/earth/features").status == 404)
        #expect(try call("GET", "\(base)/v1/models").json?["models"]?.arrayValue?.first?["version"]?.stringValue == "v1")

        // Errors: each a JSON body with the right status, and the process stays up.
        let wrongType = try call("POST", "\(base)/v1/score", body: Array(event.replacingOccurrences(of: "812.5", with: "\"812\"").utf8))
        #expect(wrongType.status == 400 && wrongType.json?["error"]?.stringValue == "wrong_type" && wrongType.json?["field"]?.stringValue == "amount")
        let missing = try call("POST", "\(base)/v1/score", body: Array(#"{"event_id":"x","event_time":1}"#.utf8))
        #expect(missing.status == 400 && missing.json?["error"]?.stringValue == "missing_field")
        for body in ["{\"event_id\":", "", "[]", "nul", "{\"events\":7}", "\u{00e9}\u{00e9}", "{\"amount\":1e999}"] {
            let reply = try call("POST", "\(base)/v1/score", body: Array(body.utf8))
            #expect(reply.status == 400 && reply.json?["error"] != nil, "\(body): \(reply.status) \(reply.text)")
        }
        #expect(try call("POST", "\(base)/v1/score", body: Array(repeating: 0x20, count: 70_000)).status == 413)
        #expect(try call("POST", "\(base)/v1/models/reload").status == 401)
        #expect(try call("POST", "\(base)/v1/models/reload", headers: ["Authorization": "Bearer wrong"]).status == 401)
        let reload = try call("POST", "\(base)/v1/models/reload", headers: ["Authorization": "Bearer s3cret"])
        #expect(reload.status == 200 && reload.json?["live"]?.stringValue == "v1", "\(reload.text)")
        let unknown = try call("GET", "\(base)/no/such/route")
        #expect(unknown.status == 404 && unknown.json?["error"]?.stringValue == "not_found")
        // A known path asked with another method: 405, and what it takes.
        let wrongMethods = try HTTPClient.pipelined([
            "GET /v1/score HTTP/1.1\r\nHost: osprey\r\n\r\n",
            "POST /metrics HTTP/1.1\r\nHost: osprey\r\nContent-Length: 0\r\n\r\n",
            "DELETE /v1/entities/card_id/c1/features HTTP/1.1\r\nHost: osprey\r\n\r\n",
            "GET /v1/models/reload HTTP/1.1\r\nHost: osprey\r\n\r\n",
        ], port: port, count: 4)
        #expect(wrongMethods.map(\.status) == [405, 405, 405, 405])
        #expect(wrongMethods.map { $0.headerLines.first { $0.hasPrefix("allow: ") } } == ["allow: POST", "allow: GET", "allow: GET", "allow: POST"])
        #expect(wrongMethods.allSatisfy { $0.json?["error"]?.stringValue == "method_not_allowed" })

        // One connection, requests pipelined in a single write: the answers come
        // back in order, score requests (served on the event loop) interleaved
        // with routed ones, and a body over the limit does not derail the next.
        let post = { (body: String, headers: String) in
            "POST /v1/score HTTP/1.1\r\nHost: osprey\r\n\(headers)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        let healthz = "GET /healthz HTTP/1.1\r\nHost: osprey\r\n\r\n"
        let nowhere = "GET /nowhere HTTP/1.1\r\nHost: osprey\r\n\r\n"
        let second = event.replacingOccurrences(of: "probe-1", with: "probe-2")
        let replies = try HTTPClient.pipelined([
            healthz, post(event, ""), post(second, ""), nowhere, post(String(repeating: " ", count: 70_000), ""),
            post(#"{"events":[\#(second)]}"#, ""), post("{", ""), healthz,
        ], port: port, count: 8)
        #expect(replies.map(\.status) == [200, 200, 200, 404, 413, 200, 400, 200])
        #expect(replies.count == 8 && replies[1].json?["event_id"]?.stringValue == "probe-1" && replies[2].json?["event_id"]?.stringValue == "probe-2")
        #expect(replies.count == 8 && replies[5].json?["results"]?.arrayValue?.first?["score"] == replies[2].json?["score"])
        // A score answer's framing: status line, JSON type, exact length, server, date; keep-alive implied in HTTP/1.1.
        if replies.count == 8 {
            #expect(replies[1].head.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(replies[1].head)")
            #expect(replies[1].headerLines.filter { !$0.hasPrefix("date: ") } == [
                "content-type: application/json", "content-length: \(replies[1].body.count)", "server: osprey",
            ], "\(replies[1].head)")
            let date = try #require(replies[1].headerLines.first { $0.hasPrefix("date: ") }, "no date header")
            #expect(date.wholeMatch(of: /date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT/) != nil, "\(date)")
            #expect(replies[4].head.hasPrefix("HTTP/1.1 413 Payload Too Large\r\n") && replies[6].head.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        }
        // Score requests of the plain shape are read ahead of NIO's decoder
        // (DirectScoreHandler); the first other request moves the connection
        // to the decoder for good. Either way the answers keep their order,
        // also when the requests arrive a few bytes at a time.
        let third = event.replacingOccurrences(of: "probe-1", with: "probe-4")
        for split in [nil, 29] as [Int?] {
            let mixed = try HTTPClient.pipelined([
                post(event, ""), post(second, "x-trace: a\r\n"),
                "POST /v1/score?explain=true HTTP/1.1\r\ncontent-length: \(third.utf8.count)\r\n\r\n\(third)",
                healthz, post(third, ""),
            ], port: port, count: 5, splitEvery: split)
            #expect(mixed.map(\.status) == [200, 200, 200, 200, 200], "\(mixed.map(\.text))")
            #expect(mixed.map { $0.json?["event_id"]?.stringValue } == ["probe-1", "probe-2", "probe-4", nil, "probe-4"])
            #expect(mixed.count == 5 && mixed[2].json?["explanation"] != nil && mixed[4].json?["explanation"] == nil)
            #expect(mixed.count == 5 && mixed[4].headerLines.filter { !$0.hasPrefix("date: ") } == mixed[0].headerLines.filter { !$0.hasPrefix("date: ") }.map {
                $0.hasPrefix("content-length: ") ? "content-length: \(mixed[4].body.count)" : $0
            }, "both paths frame answers alike")
        }

        // `Connection: close`: the answer, then the server closes (well before the client's 30 s read timeout).
        let closeStarted = Date()
        let closing = try HTTPClient.pipelined([post(event, "Connection: close\r\n")], port: port)
        #expect(closing.map(\.status) == [200] && Date().timeIntervalSince(closeStarted) < 10)
        #expect(closing.first?.headerLines.contains("connection: close") == true, "\(closing.first?.head ?? "")")
        // HTTP/1.0 closes unless the client asks to keep the connection.
        let body10 = event.replacingOccurrences(of: "probe-1", with: "probe-3")
        let http10 = try HTTPClient.pipelined(["POST /v1/score HTTP/1.0\r\nContent-Length: \(body10.utf8.count)\r\n\r\n\(body10)"], port: port)
        #expect(http10.map(\.status) == [200] && http10.first?.json?["event_id"]?.stringValue == "probe-3")
        #expect(http10.first?.head.hasPrefix("HTTP/1.0 200 OK\r\n") == true && http10.first?.headerLines.contains("connection: close") == true)
        let kept10 = try HTTPClient.pipelined(["POST /v1/score HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: \(body10.utf8.count)\r\n\r\n\(body10)"],
                                              port: port, count: 1)
        #expect(kept10.first?.headerLines.contains("connection: keep-alive") == true, "\(kept10.first?.head ?? "")")
        // Bytes after it are a client error, answered after the score, not before it.
        let afterClose = try HTTPClient.pipelined([post(event, "Connection: close\r\n"), healthz], port: port)
        #expect(afterClose.first?.status == 200)

        // `Expect: 100-continue`: go on, or a 413 at once (before any body) and the connection closes.
        let expecting = try HTTPClient.pipelined([post(event, "Expect: 100-continue\r\n")], port: port, count: 2)
        #expect(expecting.map(\.status) == [100, 200])
        let refused = try HTTPClient.pipelined(["POST /v1/score HTTP/1.1\r\nHost: osprey\r\nExpect: 100-continue\r\nContent-Length: 70000\r\n\r\n"], port: port)
        #expect(refused.map(\.status) == [413] && refused.first?.json?["error"]?.stringValue == "too_large")

        // Malformed HTTP gets a JSON error too, and the connection closes;
        // behind a request the router is answering, it waits its turn.
        let garbage = try HTTPClient.pipelined(["NOT HTTP AT ALL\r\n\r\n"], port: port)
        #expect(garbage.map(\.status) == [400] && garbage.first?.json?["error"]?.stringValue == "malformed_http", "\(garbage.map(\.text))")
        let behind = try HTTPClient.pipelined([healthz, "NOT HTTP AT ALL\r\n\r\n"], port: port)
        #expect(behind.map(\.status) == [200, 400] && behind.last?.json?["error"]?.stringValue == "malformed_http", "\(behind.map(\.text))")

        // A connection that sends nothing, or stalls in a score request's
        // body, closes after http.idle_timeout (3 s here), without an answer.
        for opening in ["", "POST /v1/score HTTP/1.1\r\nHost: osprey\r\nContent-Length: 500\r\n\r\n{\"event_id\":"] {
            let started = Date()
            let replies = try HTTPClient.pipelined(opening.isEmpty ? [] : [opening], port: port)
            let waited = Date().timeIntervalSince(started)
            #expect(replies.isEmpty && waited > 2.5 && waited < 15, "'\(opening.prefix(20))': \(replies.count) answers, closed after \(waited) s")
        }

        // Metrics: Prometheus text whose counters match what happened.
        usleep(400_000)
        let metrics = try call("GET", "\(base)/metrics")
        #expect(metrics.status == 200)
        let samples = metrics.text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(samples.allSatisfy { $0.split(separator: " ").count == 2 && Double($0.split(separator: " ")[1]) != nil }, "every sample is 'name{labels} value'")
        func value(_ prefix: String) -> Double {
            samples.filter { $0.hasPrefix(prefix) }.compactMap { Double($0.split(separator: " ").last!) }.reduce(0, +)
        }
        #expect(value("osprey_decisions_total{") == Double(1000 - bad + 1))
        #expect(value("osprey_invalid_events_total{") == Double(bad))
        #expect(value("osprey_events_consumed_total{") == 1001)
        #expect(value("osprey_http_requests_total{route=\"/v1/models/reload\",status=\"401\"}") == 2)
        #expect(value("osprey_http_requests_total{route=\"/v1/score\",status=\"413\"}") == 3)
        #expect(value("osprey_http_requests_total{route=\"/v1/score\",status=\"200\"}") == 19)
        #expect(value("osprey_ready ") == 1)
        #expect(value("osprey_checkpoint_duration_seconds_count") >= 1, "a checkpoint interval has passed")
        #expect(value("osprey_checkpoint_size_bytes") > 0)

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}

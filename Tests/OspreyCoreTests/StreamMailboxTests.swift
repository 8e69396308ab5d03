import Synchronization
import Testing
@testable import OspreyCore

/// The mailbox between the HTTP port and the stream thread.
@Suite("Stream mailbox")
struct StreamMailboxTests {
    /// Collects the answers a score request's callback receives.
    final class Answers: Sendable {
        let received = Mutex<[ScoreAnswer]>([])
        var statuses: [Int] {
            received.withLock { $0.map { if case .failure(let status, _, _, _, _) = $0 { status } else { 200 } } }
        }
        func request() -> StreamMailbox.Request {
            .score(eventType: nil, events: [[0x7B, 0x7D]], explain: false) { answer in self.received.withLock { $0.append(answer) } }
        }
    }

    @Test("requests wait for the stream until it takes them")
    func waiting() {
        let mailbox = StreamMailbox()
        let answers = Answers()
        mailbox.post(answers.request())
        #expect(mailbox.hasRequests)
        #expect(answers.statuses.isEmpty)
        #expect(mailbox.take().count == 1)
        #expect(!mailbox.hasRequests)
    }

    @Test("once the stream has stopped, waiting and later requests are refused at once with 503")
    func closed() async {
        let mailbox = StreamMailbox()
        let answers = Answers()
        mailbox.post(answers.request())
        mailbox.close()
        #expect(answers.statuses == [503])
        mailbox.post(answers.request())
        #expect(answers.statuses == [503, 503])
        #expect(!mailbox.hasRequests)
        if case .failure(let status, let code, _) = await mailbox.entity(field: "card_id", id: "c-1") {
            #expect(status == 503 && code == "stopping")
        } else {
            Issue.record("an entity lookup after the stream stopped was answered")
        }
    }
}

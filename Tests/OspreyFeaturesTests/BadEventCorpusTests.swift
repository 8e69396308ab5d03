import Foundation
import Testing
@testable import OspreyFeatures

/// The reliability suite's corpus of broken payments events
/// (Deploy/reliability/bad_corpus.py writes it; entries over 64 KiB are left
/// to the stream and HTTP runs): each one is refused with its documented reason.
@Suite("Bad-event corpus")
struct BadEventCorpusTests {
    struct Entry: Decodable {
        var category: String
        var reason: String
        var base64: String
    }

    @Test("every broken event of the corpus is refused with the reason the corpus names")
    func reasons() throws {
        let corpus = FeatureFixtures.repository.appendingPathComponent("Tests/Fixtures/bad-events/corpus.jsonl")
        let entries = try String(contentsOf: corpus, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(Entry.self, from: Data($0.utf8))
        }
        #expect(entries.count > 80)
        let plan = try FeatureFixtures.plan(FeatureFixtures.repository.appendingPathComponent("Deploy/examples/payments/osprey.yaml").path)
        let decoder = plan.decoder(forEventType: 0)
        var event = decoder.makeEvent()
        var wrong: [String] = []
        for (line, entry) in entries.enumerated() {
            let bytes = [UInt8](Data(base64Encoded: entry.base64)!)
            do throws(EventError) {
                try decoder.decode(bytes, into: &event)
                wrong.append("line \(line + 1) (\(entry.category)): accepted, expected \(entry.reason)")
            } catch {
                if error.reason.code != entry.reason { wrong.append("line \(line + 1) (\(entry.category)): \(error), expected \(entry.reason)") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.joined(separator: "\n"))")
    }
}

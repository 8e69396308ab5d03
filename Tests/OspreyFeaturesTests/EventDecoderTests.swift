import OspreyRandom
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import OspreyFeatures

/// Bad events are refused with a reason code and the field, never half-read.
@Suite("Event decoder")
struct EventDecoderTests {
    let decoder: EventDecoder = {
        let fields = [
            FieldSpec(name: "event_id", type: .string, required: true),
            FieldSpec(name: "event_time", type: .timestamp, required: true),
            FieldSpec(name: "card_id", type: .string, required: true),
            FieldSpec(name: "amount", type: .number, required: true),
            FieldSpec(name: "mcc", type: .integer, required: false),
            FieldSpec(name: "flag", type: .boolean, required: false),
        ]
        return EventDecoder(type: EventTypeSpec(name: "p", topic: "p", idField: "event_id", timeField: "event_time", allowedLateness: 0, maxEventBytes: 4096, fields: fields, features: []))
    }()

    func decode(_ text: String) throws(EventError) -> DecodedEvent {
        var event = decoder.makeEvent()
        try decoder.decode(Array(text.utf8), into: &event)
        return event
    }

    func reason(_ bytes: [UInt8]) -> EventError.Reason? {
        var event = decoder.makeEvent()
        do throws(EventError) {
            try decoder.decode(bytes, into: &event)
            return nil
        } catch {
            return error.reason
        }
    }

    func reason(_ text: String) -> EventError.Reason? { reason(Array(text.utf8)) }

    @Test("reads typed fields, ignores the rest, accepts RFC 3339 times")
    func readsFields() throws {
        let e = try decode(#" {"x":{"nested":[1,2,{"a":null}]},"event_id":"e\u00e9-1","event_time":"2026-11-23T01:32:22.123+01:00","card_id":"c-1","amount":-0.0,"mcc":5411,"flag":true,"currency":"USD"} "#)
        #expect(e.id == "eé-1")
        #expect(e.time == 1_795_393_942_123)
        #expect(e.strings[2] == "c-1")
        #expect(e.numbers[3] == 0 && e.numbers[3].sign == .minus)
        #expect(e.numbers[4] == 5411 && e.strings[4] == "5411")
        #expect(e.numbers[5] == 1)
        let optional = try decode(#"{"event_id":"e","event_time":1795380000123,"card_id":"c","amount":1e2,"mcc":null}"#)
        #expect(optional.present[4] == false && optional.numbers[4].isNaN)
        #expect(optional.time == 1_795_380_000_123)
    }

    @Test("every number decodes to the double strtod reads, on the exact shortcut and off it")
    func numbersMatchStrtod() throws {
        var generator = SplitMix64(seed: 7)
        var texts = ["0", "-0.0", "0.1", "0.3", "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308",
                     "9007199254740993", "9007199254740992.0", "900719925474099.3", "1e22", "1e23", "1e-22", "1e-23",
                     "123456789012345.6", "1234567890123456.7", "0.000000000000000000001", "4.35", "51.92", "1E+2", "1e-0005"]
        for _ in 0..<20_000 {
            let digits = Int(generator.next() % 19) + 1
            var text = generator.next() % 2 == 0 ? "-" : ""
            var mantissa = String(generator.next() % 9 + 1)
            for _ in 1..<digits { mantissa += String(generator.next() % 10) }
            let point = Int(generator.next() % UInt64(digits + 1))
            if point >= 1 && point < digits { mantissa.insert(".", at: mantissa.index(mantissa.startIndex, offsetBy: point)) }
            text += mantissa
            if generator.next() % 3 == 0 { text += "e\(Int(generator.next() % 61) - 30)" }
            texts.append(text)
        }
        for text in texts {
            let expected = strtod(text, nil)
            let e = try decode(#"{"event_id":"e","event_time":1795380000123,"card_id":"c","amount":\#(text)}"#)
            #expect(e.numbers[3].bitPattern == expected.bitPattern, "\(text): \(e.numbers[3]) against strtod's \(expected)")
        }
        // A whole number is read as an integer, as Python's json reads it: "-0" is 0.
        #expect(try decode(#"{"event_id":"e","event_time":1795380000123,"card_id":"c","amount":-0}"#).numbers[3].bitPattern == 0)
    }

    @Test("member names are found at any length, in any order, escaped or not, however near the end of the message")
    func memberNames() throws {
        // Names of 1 to 20 bytes, each sharing its first bytes with the others,
        // so that a compare of too few bytes would take one for another.
        let names = (1...20).map { String(repeating: "k", count: $0 - 1) + "\(UnicodeScalar(UInt8(ascii: "a") + UInt8($0)))" }
        var fields = [FieldSpec(name: "event_id", type: .string, required: true), FieldSpec(name: "event_time", type: .timestamp, required: true)]
        fields += names.map { FieldSpec(name: $0, type: .number, required: false) }
        let decoder = EventDecoder(type: EventTypeSpec(name: "n", topic: "n", idField: "event_id", timeField: "event_time", allowedLateness: 0, maxEventBytes: 4096, fields: fields, features: []))
        var rng = SplitMix64(seed: 7)
        for round in 0..<200 {
            var order = Array(names.indices)
            for i in order.indices.reversed() { order.swapAt(i, rng.below(i + 1)) }
            let chosen = order.prefix(1 + rng.below(names.count))
            var members = [#""event_id":"e""#, #""event_time":1795380000123"#]
            for i in chosen {
                // Every third name spelled with an escape (\u0061 is "a").
                let name = round % 3 == 0 ? names[i].replacingOccurrences(of: "k", with: #"\u006b"#) : names[i]
                members.append("\"\(name)\":\(i)")
            }
            members.append(#""unknown_member_of_a_length_no_name_has":0"#)
            for i in members.indices.reversed() { members.swapAt(i, rng.below(i + 1)) }
            var event = decoder.makeEvent()
            try decoder.decode(Array("{\(members.joined(separator: ","))}".utf8), into: &event)
            for (i, _) in names.enumerated() {
                #expect(event.present[2 + i] == chosen.contains(i), "round \(round): \(names[i])")
                if chosen.contains(i) { #expect(event.numbers[2 + i] == Double(i)) }
            }
        }
        // Names that end a few bytes before the message does, where the
        // compare cannot load whole words.
        for (i, name) in names.enumerated() {
            var event = decoder.makeEvent()
            try decoder.decode(Array(#"{"event_id":"e","event_time":1,"\#(name)":5}"#.utf8), into: &event)
            #expect(event.numbers[2 + i] == 5, "\(name)")
            // Another name of the next length, and one of the same length that
            // differs only in its last byte: neither is declared.
            for other in ["x" + name, name.dropLast() + "z"] {
                try decoder.decode(Array(#"{"event_id":"e","event_time":1,"\#(other)":5}"#.utf8), into: &event)
                #expect(!event.present.dropFirst(2).contains(true), "\(other)")
            }
        }
    }

    @Test("the eight-byte string scan stops at the first byte that needs a look, wherever it sits")
    func stringScanWords() {
        func word(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        for byte in UInt8.min...UInt8.max {
            let special = byte == 0x22 || byte == 0x5C || byte < 0x20 || byte >= 0x80
            for position in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[position] = byte
                let flags = JSONScanner.lookFlags(word(bytes))
                #expect((flags != 0) == special, "byte 0x\(String(byte, radix: 16)) at \(position)")
                if special { #expect(flags.trailingZeroBitCount >> 3 == position, "byte 0x\(String(byte, radix: 16)) at \(position)") }
            }
        }
        // A second special byte after the first (a borrow out of a zero byte
        // can flag the byte after it) never moves the stop.
        let specials: [UInt8] = [0x00, 0x01, 0x1F, 0x22, 0x5C, 0x80, 0xC3, 0xFF]
        for first in specials {
            for second in specials {
                for p in 0..<8 {
                    for q in p..<8 where q > p {
                        var bytes = [UInt8](repeating: UInt8(ascii: " "), count: 8)
                        bytes[p] = first
                        bytes[q] = second
                        #expect(JSONScanner.lookFlags(word(bytes)).trailingZeroBitCount >> 3 == p, "0x\(String(first, radix: 16)) at \(p), 0x\(String(second, radix: 16)) at \(q)")
                    }
                }
            }
        }
        let e = try? decode(#"{"event_id":"a-very-long-event-id-\u00e9-with-escapes-\"q\"-and-é-past-eight-bytes","event_time":1795380000123,"card_id":"c","amount":1}"#)
        #expect(e?.id == "a-very-long-event-id-é-with-escapes-\"q\"-and-é-past-eight-bytes")
    }

    @Test("every kind of broken event has its reason")
    func reasons() {
        let good = #""event_id":"e","event_time":1795380000123,"card_id":"c","amount":1"#
        #expect(reason("") == .empty)
        #expect(reason("   ") == .empty)
        #expect(reason("[1]") == .notAnObject)
        #expect(reason("{\(good)") == .invalidJSON)
        #expect(reason("{\(good)}}") == .invalidJSON)
        #expect(reason("{\(good),\"x\":NaN}") == .invalidJSON)
        #expect(reason("{\(good),\"x\":Infinity}") == .invalidJSON)
        #expect(reason("{\(good),\"x\":01}") == .invalidJSON)
        #expect(reason("{\(good),\"amount\":2}") == .duplicateField)
        #expect(reason(#"{"event_id":"e","event_time":1795380000123,"card_id":"c"}"#) == .missingField)
        #expect(reason(#"{"event_id":"e","event_time":1795380000123,"card_id":"c","amount":null}"#) == .missingField)
        #expect(reason(#"{"event_id":"e","event_time":1795380000123,"card_id":7,"amount":1}"#) == .wrongType)
        #expect(reason(#"{"event_id":"e","event_time":1795380000123,"card_id":"c","amount":"1"}"#) == .wrongType)
        #expect(reason(#"{"event_id":"e","event_time":1795380000123,"card_id":"c","amount":1,"mcc":1.5}"#) == .wrongType)
        #expect(reason(#"{"event_id":"e","event_time":1795380000123,"card_id":"c","amount":1e999}"#) == .nonFiniteNumber)
        #expect(reason(#"{"event_id":"e","event_time":"yesterday","card_id":"c","amount":1}"#) == .invalidTimestamp)
        #expect(reason(#"{"event_id":"e","event_time":"2026-02-30T00:00:00Z","card_id":"c","amount":1}"#) == .invalidTimestamp)
        #expect(reason(#"{"event_id":"e","event_time":1.5,"card_id":"c","amount":1}"#) == .invalidTimestamp)
        #expect(reason(#"{"event_id":"","event_time":1,"card_id":"c","amount":1}"#) == .missingField)
        #expect(reason("{\(good),\"x\":\(String(repeating: "[", count: 100))\(String(repeating: "]", count: 100))}") == .tooDeep)
        #expect(reason("{\(good),\"x\":\"\(String(repeating: "a", count: 5000))\"}") == .tooLarge)
        var invalidUTF8 = Array("{\(good),\"x\":\"".utf8)
        invalidUTF8 += [0xC3, 0x28, 0x22, 0x7D]
        #expect(reason(invalidUTF8) == .invalidUTF8)
        #expect(reason(Array("{\(good),\"x\":\"".utf8) + [0xED, 0xA0, 0x80, 0x22, 0x7D]) == .invalidUTF8)
        #expect(reason("{\(good),\"x\":\"\\ud800\"}") == .invalidUTF8)
    }

    @Test("ids and entity keys longer than max_key_bytes are refused as too_long; other strings only count toward the event's size")
    func keyLength() throws {
        func event(id: String, card: String) -> String {
            #"{"event_id":"\#(id)","event_time":1,"card_id":"\#(card)","amount":1}"#
        }
        #expect(try decode(event(id: String(repeating: "i", count: 256), card: "c")).id.utf8.count == 256)
        #expect(reason(event(id: String(repeating: "i", count: 257), card: "c")) == .tooLong)
        // Escapes count as the bytes they decode to.
        #expect(try decode(event(id: String(repeating: "\\u00e9", count: 128), card: "c")).id.utf8.count == 256)
        #expect(reason(event(id: "e-1", card: String(repeating: "c", count: 2000))) == nil, "card_id is no key of this type")

        let keyed = EventDecoder(type: {
            var type = decoder.type
            type.features = [FeatureDefinition(name: "n", kind: .aggregate(AggregateFeature(entity: "card_id", function: .count, field: nil, window: nil)))]
            type.maxKeyBytes = 8
            return type
        }())
        var decoded = keyed.makeEvent()
        #expect(throws: EventError.self) { try keyed.decode(Array(event(id: "e-1", card: "card-12345").utf8), into: &decoded) }
        do throws(EventError) {
            try keyed.decode(Array(event(id: "e-1", card: "card-12345").utf8), into: &decoded)
        } catch {
            #expect(error.reason == .tooLong && error.field == "card_id", "\(error)")
        }
    }

    @Test("RFC 3339 parsing")
    func rfc3339() {
        func parse(_ s: String) -> Int64? { Timestamp.parseRFC3339(Array(s.utf8)) }
        #expect(parse("1970-01-01T00:00:00Z") == 0)
        #expect(parse("1969-12-31T23:59:59.999Z") == -1)
        #expect(parse("2024-02-29T12:00:00.5-02:30") == 1_709_217_000_500)
        #expect(parse("2023-02-29T12:00:00Z") == nil)
        #expect(parse("2026-11-23T01:32:22") == nil)
        #expect(parse("2026-11-23t01:32:22.123456z") == 1_795_397_542_123)
    }
}

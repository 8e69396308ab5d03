#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decodes one JSON event into a ``DecodedEvent`` for its event type, in place,
/// straight from the message bytes.
///
/// The decoder validates the whole document (an event that is not strict JSON,
/// not UTF-8, or nested deeper than ``maximumDepth`` is refused, even where the
/// problem is in a field Osprey ignores), extracts the declared fields, and
/// checks their types. It never builds a tree and allocates only for strings
/// longer than 15 bytes in declared fields.
///
/// A class of constants: the stream keeps it in a runtime object next to the
/// event it decodes into, and handing over a struct of a dozen arrays from
/// there cost a retain and a release of each, per message.
public final class EventDecoder: Sendable {
    /// How deeply undeclared values may nest.
    public static let maximumDepth = 64

    /// The event type decoded.
    public let type: EventTypeSpec
    /// Declared field names, back to back, with each one's start and length:
    /// one flat buffer, so looking a key up touches no per-name array.
    let nameBytes: [UInt8]
    let nameStarts: [Int]
    let nameLengths: [Int]
    /// Per declared name, its first 16 bytes as two little-endian words,
    /// zero-padded: a name that short is compared in two word compares.
    let namePrefixes: [UInt64]
    let types: [FieldType]
    let required: [Bool]
    /// Per field, its longest accepted value in bytes (the id and entity keys
    /// have ``EventTypeSpec/maxKeyBytes``; other strings, only the event's size).
    let lengthLimits: [Int]
    let idIndex: Int
    let timeIndex: Int

    /// Creates a decoder for `type`. The type must declare its id and time fields
    /// (``FeatureSpecLoader`` guarantees it).
    public init(type: EventTypeSpec) {
        self.type = type
        var bytes: [UInt8] = []
        var starts: [Int] = []
        var lengths: [Int] = []
        for field in type.fields {
            starts.append(bytes.count)
            lengths.append(field.name.utf8.count)
            bytes += field.name.utf8
        }
        nameBytes = bytes
        nameStarts = starts
        nameLengths = lengths
        namePrefixes = type.fields.flatMap { field -> [UInt64] in
            var words: [UInt64] = [0, 0]
            for (k, byte) in field.name.utf8.prefix(16).enumerated() { words[k >> 3] |= UInt64(byte) << (UInt64(k & 7) * 8) }
            return words
        }
        types = type.fields.map(\.type)
        required = type.fields.map(\.required)
        idIndex = type.fields.firstIndex { $0.name == type.idField } ?? -1
        let keys = Set(type.entityFields + [type.idField] + (type.keyField.map { [$0] } ?? []))
        lengthLimits = type.fields.map { keys.contains($0.name) ? type.maxKeyBytes : Int.max }
        timeIndex = type.fields.firstIndex { $0.name == type.timeField } ?? -1
    }

    /// The index of a declared field in ``DecodedEvent``'s arrays.
    public func index(ofField name: String) -> Int? { type.fields.firstIndex { $0.name == name } }

    /// A reusable value to decode into.
    public func makeEvent() -> DecodedEvent { DecodedEvent(fieldCount: nameLengths.count) }

    /// Decodes `bytes` into `event`. On error `event` holds partial data.
    public func decode(_ bytes: UnsafeRawBufferPointer, into event: inout DecodedEvent) throws(EventError) {
        guard bytes.count > 0 else { throw EventError(.empty, message: "the message is empty") }
        guard bytes.count <= type.maxEventBytes else {
            throw EventError(.tooLarge, message: "\(bytes.count) bytes is over the limit of \(type.maxEventBytes) (max_event_bytes)")
        }
        event.reset()
        try nameBytes.withUnsafeBufferPointer { (names) throws(EventError) in
            try decodeObject(bytes, names: names, into: &event)
        }
        for i in 0..<nameLengths.count where required[i] && !event.present[i] {
            throw EventError(.missingField, field: type.fields[i].name, message: "required field '\(type.fields[i].name)' is missing or null")
        }
        event.time = Int64(event.numbers[timeIndex])
        event.id = event.strings[idIndex]!
    }

    func decodeObject(_ bytes: UnsafeRawBufferPointer, names: UnsafeBufferPointer<UInt8>, into event: inout DecodedEvent) throws(EventError) {
        var scanner = JSONScanner(bytes.bindMemory(to: UInt8.self))
        try scanner.skipSpace()
        guard scanner.peek == UInt8(ascii: "{") else {
            if scanner.atEnd { throw EventError(.empty, message: "the message holds only white space") }
            // Only a well-formed JSON document that is not an object is "not an object".
            let start = scanner.index
            try scanner.skipValue(depth: 1)
            try scanner.skipSpace()
            guard scanner.atEnd else { throw scanner.syntax("unexpected data after the JSON value") }
            throw EventError(.notAnObject, message: "an event must be a JSON object", offset: start)
        }
        scanner.index += 1
        try scanner.skipSpace()
        if scanner.peek == UInt8(ascii: "}") {
            scanner.index += 1
        } else {
            // Producers write their fields in one order, usually the declared
            // one: the field after the last one found is tried first.
            var expected = 0
            while true {
                guard scanner.peek == UInt8(ascii: "\"") else { throw scanner.syntax("expected a member name") }
                let key = try scanner.string()
                try scanner.skipSpace()
                guard scanner.peek == UInt8(ascii: ":") else { throw scanner.syntax("expected ':'") }
                scanner.index += 1
                try scanner.skipSpace()
                if let field = lookup(key, scanner: scanner, names: names, expected: expected) {
                    expected = field + 1
                    try read(field: field, scanner: &scanner, into: &event)
                } else {
                    try scanner.skipValue(depth: 1)
                }
                try scanner.skipSpace()
                if scanner.peek == UInt8(ascii: ",") {
                    scanner.index += 1
                    try scanner.skipSpace()
                    continue
                }
                guard scanner.peek == UInt8(ascii: "}") else { throw scanner.syntax("expected ',' or '}'") }
                scanner.index += 1
                break
            }
        }
        try scanner.skipSpace()
        guard scanner.atEnd else { throw scanner.syntax("unexpected data after the event object") }
    }

    /// Decodes an event held in a byte array.
    public func decode(_ bytes: [UInt8], into event: inout DecodedEvent) throws(EventError) {
        var failure: EventError?
        bytes.withUnsafeBytes { raw in
            do throws(EventError) { try decode(raw, into: &event) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// The declared field named `key`, trying field `expected` first.
    @inline(__always)
    func lookup(_ key: JSONScanner.StringSpan, scanner: JSONScanner, names: UnsafeBufferPointer<UInt8>, expected: Int) -> Int? {
        let n = nameLengths.count
        if key.escaped {
            for i in 0..<n where nameLengths[i] == key.length {
                if key.decoded!.elementsEqual(UnsafeBufferPointer(start: names.baseAddress! + nameStarts[i], count: key.length)) { return i }
            }
            return nil
        }
        // A key of up to 16 bytes as two words, masked to its length, when 16
        // bytes of the message remain from its start (so the loads stay
        // inside it); otherwise memcmp.
        let length = key.length
        let bytes = UnsafeRawPointer(scanner.base + key.start)
        let words = length <= 16 && scanner.count - key.start >= 16
        var first: UInt64 = 0
        var second: UInt64 = 0
        if words {
            let masks = Self.prefixMasks(length)
            first = bytes.loadUnaligned(as: UInt64.self) & masks.0
            second = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self) & masks.1
        }
        @inline(__always) func matches(_ i: Int) -> Bool {
            guard nameLengths[i] == length else { return false }
            if words { return namePrefixes[2 * i] == first && namePrefixes[2 * i + 1] == second }
            return memcmp(names.baseAddress! + nameStarts[i], bytes, length) == 0
        }
        if expected < n && matches(expected) { return expected }
        for i in 0..<n where i != expected && matches(i) { return i }
        return nil
    }

    /// Masks keeping the first `length` (≤ 16) bytes of two little-endian words.
    @inline(__always)
    static func prefixMasks(_ length: Int) -> (UInt64, UInt64) {
        @inline(__always) func mask(_ bytes: Int) -> UInt64 {
            bytes >= 8 ? ~0 : bytes <= 0 ? 0 : (UInt64(1) << UInt64(bytes * 8)) &- 1
        }
        return (mask(length), mask(length - 8))
    }

    func read(field i: Int, scanner: inout JSONScanner, into event: inout DecodedEvent) throws(EventError) {
        // Only error messages need it: reading it per field copied the spec's field list.
        var name: String { type.fields[i].name }
        if event.present[i] {
            throw EventError(.duplicateField, field: name, message: "field '\(name)' appears twice", offset: scanner.index)
        }
        let c = scanner.peek
        if c == UInt8(ascii: "n") {
            try scanner.literal("null")
            return
        }
        // What the value is, for error messages only: named from its first byte.
        var found: String { JSONScanner.kind(startingWith: c) }
        let start = scanner.index
        func wrongType(_ expected: String) -> EventError {
            if found == "invalid JSON" { return scanner.syntax("expected a value for '\(name)'") }
            return EventError(.wrongType, field: name, message: "field '\(name)' must be \(expected), found \(found)", offset: start)
        }
        switch types[i] {
        case .string:
            guard c == UInt8(ascii: "\"") else { throw wrongType("a string") }
            let span = try scanner.string()
            guard (span.decoded?.count ?? span.length) <= lengthLimits[i] else {
                throw EventError(.tooLong, field: name, message: "field '\(name)' is \(span.decoded?.count ?? span.length) bytes long; keys and ids may be at most \(lengthLimits[i]) (max_key_bytes)", offset: start)
            }
            event.strings[i] = span.text(scanner)
        case .number:
            guard c == UInt8(ascii: "-") || (c &- 0x30) < 10 else { throw wrongType("a number") }
            let value = try scanner.number()
            guard value.isFinite else { throw EventError(.nonFiniteNumber, field: name, message: "field '\(name)' is out of the range of a double", offset: scanner.index) }
            event.numbers[i] = value
        case .integer:
            guard c == UInt8(ascii: "-") || (c &- 0x30) < 10 else { throw wrongType("an integer") }
            let value = try scanner.number()
            guard value.isFinite else { throw EventError(.nonFiniteNumber, field: name, message: "field '\(name)' is out of range", offset: scanner.index) }
            guard value == value.rounded(.towardZero), abs(value) <= Double(Timestamp.integerLimit) else { throw wrongType("a whole number within ±2^53") }
            event.numbers[i] = value
            event.strings[i] = String(Int64(value))
        case .boolean:
            if c == UInt8(ascii: "t") { try scanner.literal("true"); event.numbers[i] = 1 }
            else if c == UInt8(ascii: "f") { try scanner.literal("false"); event.numbers[i] = 0 }
            else { throw wrongType("true or false") }
        case .timestamp:
            if c == UInt8(ascii: "\"") {
                let span = try scanner.string()
                let parsed: Int64? = span.escaped
                    ? Timestamp.parseRFC3339(span.decoded!)
                    : Timestamp.parseRFC3339(UnsafeBufferPointer(start: scanner.base + span.start, count: span.length))
                guard let ms = parsed, abs(ms) < Timestamp.limit else {
                    throw EventError(.invalidTimestamp, field: name, message: "field '\(name)' is not an RFC 3339 time such as 2026-11-23T01:32:22.123Z", offset: span.start)
                }
                event.numbers[i] = Double(ms)
            } else if c == UInt8(ascii: "-") || (c &- 0x30) < 10 {
                let value = try scanner.number()
                guard value.isFinite, value == value.rounded(.towardZero), abs(value) < Double(Timestamp.limit) else {
                    throw EventError(.invalidTimestamp, field: name, message: "field '\(name)' must be whole epoch milliseconds between the years 1691 and 2248", offset: scanner.index)
                }
                event.numbers[i] = value
            } else {
                throw wrongType("epoch milliseconds or an RFC 3339 string")
            }
        }
        event.present[i] = true
        if i == idIndex, types[i] == .string, event.strings[i]!.isEmpty {
            throw EventError(.missingField, field: name, message: "the event id '\(name)' is empty")
        }
    }
}

/// A strict JSON scanner over a byte buffer (RFC 8259), used by ``EventDecoder``.
struct JSONScanner {
    let base: UnsafePointer<UInt8>
    let count: Int
    var index = 0

    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        count = buffer.count
    }

    var atEnd: Bool { index >= count }
    var peek: UInt8 { index < count ? base[index] : 0 }

    func syntax(_ reason: String) -> EventError {
        EventError(.invalidJSON, message: atEnd ? "\(reason), but the message ends (truncated?)" : reason, offset: index)
    }

    /// What a JSON value starting with `byte` is, in words.
    static func kind(startingWith byte: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "a number"
        default: return "invalid JSON"
        }
    }

    mutating func skipSpace() throws(EventError) {
        while index < count {
            let c = base[index]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { index += 1 } else { return }
        }
    }

    mutating func literal(_ word: StaticString) throws(EventError) {
        let n = word.utf8CodeUnitCount
        guard count - index >= n, memcmp(base + index, word.utf8Start, n) == 0 else {
            throw syntax("invalid literal (NaN, Infinity and bare words are not JSON)")
        }
        index += n
    }

    /// A string's location; `decoded` holds its bytes when it had escapes.
    struct StringSpan {
        var start: Int
        var length: Int
        var escaped: Bool
        var decoded: [UInt8]?

        func text(_ scanner: JSONScanner) -> String {
            if let decoded { return String(decoding: decoded, as: UTF8.self) }
            return String(decoding: UnsafeBufferPointer(start: scanner.base + start, count: length), as: UTF8.self)
        }
    }

    mutating func string() throws(EventError) -> StringSpan {
        index += 1
        let start = index
        var ascii = true
        // Eight bytes at a time while none of them needs a look: no quote, no
        // backslash, no control character, no byte of a multi-byte sequence.
        // The first flagged byte then is the first one that does: jump to it.
        while count - index >= 8 {
            let flags = Self.lookFlags(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
            if flags == 0 { index += 8; continue }
            index += flags.trailingZeroBitCount >> 3
            break
        }
        while index < count {
            let c = base[index]
            if c == UInt8(ascii: "\"") {
                let span = StringSpan(start: start, length: index - start, escaped: false, decoded: nil)
                if !ascii { try validateUTF8(start, index) }
                index += 1
                return span
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw syntax("control character in a string") }
            if c >= 0x80 { ascii = false }
            index += 1
        }
        guard index < count else { throw syntax("unterminated string") }
        if !ascii { try validateUTF8(start, index) }
        var bytes = Array(UnsafeBufferPointer(start: base + start, count: index - start))
        var runStart = -1
        while index < count {
            let c = base[index]
            if c == UInt8(ascii: "\"") {
                if runStart >= 0 { try validateUTF8(runStart, index) }
                index += 1
                return StringSpan(start: start, length: bytes.count, escaped: true, decoded: bytes)
            }
            if c < 0x20 { throw syntax("control character in a string") }
            if c != UInt8(ascii: "\\") {
                if c >= 0x80, runStart < 0 { runStart = index }
                bytes.append(c)
                index += 1
                continue
            }
            if runStart >= 0 { try validateUTF8(runStart, index); runStart = -1 }
            index += 1
            guard index < count else { break }
            let e = base[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): bytes.append(0x22)
            case UInt8(ascii: "\\"): bytes.append(0x5C)
            case UInt8(ascii: "/"): bytes.append(0x2F)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code) {
                    guard count - index >= 6, base[index] == UInt8(ascii: "\\"), base[index + 1] == UInt8(ascii: "u") else {
                        throw EventError(.invalidUTF8, message: "unpaired UTF-16 surrogate escape", offset: index)
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw EventError(.invalidUTF8, message: "unpaired UTF-16 surrogate escape", offset: index) }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(code) {
                    throw EventError(.invalidUTF8, message: "unpaired UTF-16 surrogate escape", offset: index)
                }
                guard let scalar = Unicode.Scalar(code) else { throw syntax("invalid \\u escape") }
                bytes.append(contentsOf: UTF8.encode(scalar)!)
            default:
                throw syntax("invalid escape in a string")
            }
        }
        throw syntax("unterminated string")
    }

    /// The high bit of each byte of `word` (little-endian) that is a quote, a
    /// backslash, below 0x20 or 0x80 and above. Zero exactly when no byte is;
    /// otherwise the lowest flagged byte is the first such byte (a borrow can
    /// flag a byte after it, never one before).
    @inline(__always)
    static func lookFlags(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZeroByte(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let quote = hasZeroByte(word ^ (ones &* 0x22))
        let backslash = hasZeroByte(word ^ (ones &* 0x5C))
        let control = (word &- ones &* 0x20) & ~word & highs
        return quote | backslash | control | (word & highs)
    }

    mutating func hex4() throws(EventError) -> UInt32 {
        guard count - index >= 4 else { throw syntax("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = base[index]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - 0x30
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - 0x61 + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - 0x41 + 10
            default: throw syntax("invalid \\u escape")
            }
            v = v << 4 | UInt32(d)
            index += 1
        }
        return v
    }

    func validateUTF8(_ from: Int, _ to: Int) throws(EventError) {
        var i = from
        while i < to {
            let b0 = base[i]
            if b0 < 0x80 { i += 1; continue }
            let need: Int
            var scalar: UInt32
            switch b0 {
            case 0xC2...0xDF: need = 1; scalar = UInt32(b0 & 0x1F)
            case 0xE0...0xEF: need = 2; scalar = UInt32(b0 & 0x0F)
            case 0xF0...0xF4: need = 3; scalar = UInt32(b0 & 0x07)
            default: throw EventError(.invalidUTF8, message: "invalid UTF-8 byte 0x\(String(b0, radix: 16))", offset: i)
            }
            guard to - i > need else { throw EventError(.invalidUTF8, message: "truncated UTF-8 sequence", offset: i) }
            for k in 1...need {
                let b = base[i + k]
                guard b & 0xC0 == 0x80 else { throw EventError(.invalidUTF8, message: "invalid UTF-8 continuation byte", offset: i + k) }
                scalar = scalar << 6 | UInt32(b & 0x3F)
            }
            let minimum: UInt32 = need == 1 ? 0x80 : need == 2 ? 0x800 : 0x10000
            guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else {
                throw EventError(.invalidUTF8, message: "overlong, surrogate or out-of-range UTF-8 sequence", offset: i)
            }
            i += need + 1
        }
    }

    /// Powers of ten that doubles hold exactly.
    static let exactPowersOfTen: [Double] = (0...22).map { (0..<$0).reduce(1.0) { acc, _ in acc * 10 } }

    /// Validates a JSON number and reads it in the same pass. Most numbers
    /// need no `strtod`: an integer of up to 18 digits converts exactly
    /// rounded, and a decimal whose significand is at most 2^53 and whose
    /// power of ten is at most 10^22 takes one multiplication or division of
    /// two exact doubles, whose one rounding is strtod's (Clinger's fast path).
    mutating func number() throws(EventError) -> Double {
        let start = index
        let negative = peek == UInt8(ascii: "-")
        if negative { index += 1 }
        guard (peek &- 0x30) < 10 else { throw syntax("invalid number") }
        var significand: UInt64 = 0
        var digits = 0  // significant digits, leading zeros not counted
        var scale = 0
        @inline(__always) func accumulate(_ d: UInt8) {
            if significand != 0 || d != 0 { digits += 1 }
            if digits <= 19 { significand = significand &* 10 &+ UInt64(d) }
        }
        if peek == UInt8(ascii: "0") {
            index += 1
        } else {
            while case let d = peek &- 0x30, d < 10 { accumulate(d); index += 1 }
        }
        var integral = true
        if peek == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard (peek &- 0x30) < 10 else { throw syntax("invalid number: digits must follow '.'") }
            while case let d = peek &- 0x30, d < 10 { accumulate(d); scale -= 1; index += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integral = false
            index += 1
            let negativeExponent = peek == UInt8(ascii: "-")
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard (peek &- 0x30) < 10 else { throw syntax("invalid number: exponent has no digits") }
            var exponent = 0
            while case let d = peek &- 0x30, d < 10 { exponent = Swift.min(exponent * 10 + Int(d), 1_000_000); index += 1 }
            scale += negativeExponent ? -exponent : exponent
        }
        if integral && digits <= 18 {
            // As an integer, "-0" is 0, as Python's json reads it.
            let v = Int64(significand)
            return Double(negative ? -v : v)
        }
        if digits <= 16 && significand <= 1 << 53 && scale >= -22 && scale <= 22 {
            let m = Double(significand)
            let value = scale < 0 ? m / Self.exactPowersOfTen[-scale] : m * Self.exactPowersOfTen[scale]
            return negative ? -value : value
        }
        // strtod needs a terminated string; the message buffer is not one.
        let length = index - start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { buffer in
            let chars = buffer.baseAddress!
            UnsafeMutableRawPointer(chars).copyMemory(from: base + start, byteCount: length)
            chars[length] = 0
            return strtod(chars, nil)
        }
    }

    mutating func skipValue(depth: Int) throws(EventError) {
        guard depth <= EventDecoder.maximumDepth else {
            throw EventError(.tooDeep, message: "values nest deeper than \(EventDecoder.maximumDepth) levels", offset: index)
        }
        switch peek {
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "{"):
            index += 1
            try skipSpace()
            if peek == UInt8(ascii: "}") { index += 1; return }
            while true {
                guard peek == UInt8(ascii: "\"") else { throw syntax("expected a member name") }
                _ = try string()
                try skipSpace()
                guard peek == UInt8(ascii: ":") else { throw syntax("expected ':'") }
                index += 1
                try skipSpace()
                try skipValue(depth: depth + 1)
                try skipSpace()
                if peek == UInt8(ascii: ",") { index += 1; try skipSpace(); continue }
                guard peek == UInt8(ascii: "}") else { throw syntax("expected ',' or '}'") }
                index += 1
                return
            }
        case UInt8(ascii: "["):
            index += 1
            try skipSpace()
            if peek == UInt8(ascii: "]") { index += 1; return }
            while true {
                try skipValue(depth: depth + 1)
                try skipSpace()
                if peek == UInt8(ascii: ",") { index += 1; try skipSpace(); continue }
                guard peek == UInt8(ascii: "]") else { throw syntax("expected ',' or ']'") }
                index += 1
                return
            }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            let value = try number()
            if !value.isFinite { throw EventError(.nonFiniteNumber, message: "a number is out of the range of a double", offset: index) }
        }
    }
}

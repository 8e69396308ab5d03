#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error found while parsing JSON text, with the byte offset where it was found.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    /// Byte offset into the input.
    public let offset: Int
    /// What was wrong.
    public let reason: String

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// A small, strict JSON parser over UTF-8 bytes.
///
/// Used for model files, which can hold hundreds of thousands of numbers; it
/// parses numbers with `strtod` (correctly rounded) and never goes through
/// `String` for them. Nesting is limited so hostile input cannot exhaust the stack.
public struct JSONReader {
    /// Deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 256

    /// Parses one JSON document; trailing non-space bytes are an error.
    ///
    /// - Parameter allowNonFiniteNumbers: accept the bare tokens `NaN`, `Infinity` and
    ///   `-Infinity`, which some writers (XGBoost 2.x, Python's json) emit although JSON has no such numbers.
    public static func parse(_ bytes: [UInt8], allowNonFiniteNumbers: Bool = false) throws(JSONSyntaxError) -> JSONValue {
        var terminated = bytes
        terminated.append(0)  // strtod needs a terminator it cannot read past
        let count = bytes.count
        return try terminated.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) -> JSONValue in
            var parser = Parser(base: buffer.baseAddress!, count: count, allowNonFinite: allowNonFiniteNumbers)
            parser.skipSpace()
            let value = try parser.parseValue(depth: 0)
            parser.skipSpace()
            guard parser.index == count else {
                throw JSONSyntaxError(offset: parser.index, reason: "unexpected data after the document")
            }
            return value
        }
    }

    private struct Parser {
        let base: UnsafePointer<UInt8>
        let count: Int
        let allowNonFinite: Bool
        var index = 0

        init(base: UnsafePointer<UInt8>, count: Int, allowNonFinite: Bool) {
            self.base = base
            self.count = count
            self.allowNonFinite = allowNonFinite
        }

        @inline(__always) var current: UInt8 { index < count ? base[index] : 0 }

        mutating func skipSpace() {
            while index < count {
                let c = base[index]
                guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
                index += 1
            }
        }

        func error(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: index, reason: reason) }

        mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard index < count else { throw error("unexpected end of input") }
            switch base[index] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "N") where allowNonFinite: try expectLiteral("NaN"); return .number(.nan)
            case UInt8(ascii: "I") where allowNonFinite: try expectLiteral("Infinity"); return .number(.infinity)
            case UInt8(ascii: "-") where allowNonFinite && index + 1 < count && base[index + 1] == UInt8(ascii: "I"):
                index += 1
                try expectLiteral("Infinity")
                return .number(-.infinity)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw error("unexpected character '\(Unicode.Scalar(base[index]))'")
            }
        }

        mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
            let n = literal.utf8CodeUnitCount
            guard index + n <= count, memcmp(base + index, literal.utf8Start, n) == 0 else {
                throw error("expected \(literal)")
            }
            index += n
        }

        mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard depth <= JSONReader.maximumDepth else { throw error("nesting deeper than \(JSONReader.maximumDepth)") }
            index += 1
            var members: [String: JSONValue] = [:]
            skipSpace()
            if current == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try parseString()
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':' after member name") }
                index += 1
                skipSpace()
                members[key] = try parseValue(depth: depth)
                skipSpace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return .object(members)
                default: throw error("expected ',' or '}' in object")
                }
            }
        }

        mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard depth <= JSONReader.maximumDepth else { throw error("nesting deeper than \(JSONReader.maximumDepth)") }
            index += 1
            var elements: [JSONValue] = []
            skipSpace()
            if current == UInt8(ascii: "]") { index += 1; return .array(elements) }
            while true {
                skipSpace()
                elements.append(try parseValue(depth: depth))
                skipSpace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return .array(elements)
                default: throw error("expected ',' or ']' in array")
                }
            }
        }

        mutating func parseNumber() throws(JSONSyntaxError) -> Double {
            // Validate the JSON number grammar first: strtod alone would accept
            // hex, "inf", leading '+' and other forms JSON does not allow.
            let start = index
            if current == UInt8(ascii: "-") { index += 1 }
            guard isDigit(current) else { throw error("invalid number") }
            if current == UInt8(ascii: "0") { index += 1 } else { while isDigit(current) { index += 1 } }
            if current == UInt8(ascii: ".") {
                index += 1
                guard isDigit(current) else { throw error("invalid number: digits must follow '.'") }
                while isDigit(current) { index += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard isDigit(current) else { throw error("invalid number: exponent has no digits") }
                while isDigit(current) { index += 1 }
            }
            return base.withMemoryRebound(to: CChar.self, capacity: count + 1) { chars in
                strtod(chars + start, nil)
            }
        }

        @inline(__always) func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }

        mutating func parseString() throws(JSONSyntaxError) -> String {
            index += 1  // opening quote
            let start = index
            // Fast path: no escapes.
            while index < count {
                let c = base[index]
                if c == UInt8(ascii: "\"") {
                    let s = String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self)
                    index += 1
                    return s
                }
                if c == UInt8(ascii: "\\") || c < 0x20 { break }
                index += 1
            }
            var scalars: [UInt8] = Array(UnsafeBufferPointer(start: base + start, count: index - start))
            while index < count {
                let c = base[index]
                if c == UInt8(ascii: "\"") {
                    index += 1
                    return String(decoding: scalars, as: UTF8.self)
                }
                if c < 0x20 { throw error("control character in string") }
                if c != UInt8(ascii: "\\") {
                    scalars.append(c)
                    index += 1
                    continue
                }
                index += 1
                guard index < count else { break }
                let e = base[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): scalars.append(0x22)
                case UInt8(ascii: "\\"): scalars.append(0x5C)
                case UInt8(ascii: "/"): scalars.append(0x2F)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard current == UInt8(ascii: "\\"), index + 1 < count, base[index + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired UTF-16 surrogate")
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired UTF-16 surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw error("unpaired UTF-16 surrogate")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                    scalars.append(contentsOf: String(Character(scalar)).utf8)
                default:
                    throw error("invalid escape '\\\(Unicode.Scalar(e))'")
                }
            }
            throw error("unterminated string")
        }

        mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
            guard index + 4 <= count else { throw error("truncated \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let c = base[index]
                let digit: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw error("invalid hex digit in \\u escape")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }
    }
}

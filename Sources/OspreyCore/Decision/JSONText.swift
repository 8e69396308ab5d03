/// Appends JSON text to a byte buffer without building intermediate strings.
public struct JSONText {
    /// The text so far.
    public var bytes: [UInt8] = []

    /// An empty text with room for `capacity` bytes.
    public init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    /// Appends literal JSON.
    public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends JSON text built at run time. (Named apart from ``raw(_:)``: with
    /// one name, a literal argument would pick the `String` overload, whose
    /// generic append costs several times the copy of a static buffer.)
    public mutating func rawText(_ s: String) {
        var s = s
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends a JSON string literal.
    public mutating func string(_ s: String) {
        bytes.append(0x22)
        var copy = s
        let plain = copy.withUTF8 { utf8 -> Bool in
            // Most values (ids, names) need no escaping: copy them whole.
            guard !utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if plain {
            bytes.append(0x22)
            return
        }
        for b in s.utf8 {
            switch b {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
            case 0x0D: bytes.append(0x5C); bytes.append(0x72)
            case 0x09: bytes.append(0x5C); bytes.append(0x74)
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes += [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }

    /// A number in the shortest form that reads back to the same double; `null`
    /// for NaN and infinities, which JSON cannot express.
    public mutating func number(_ d: Double) {
        guard d.isFinite else { raw("null"); return }
        if d == 0 && d.sign == .minus { raw("-0.0"); return }
        if d == d.rounded(.towardZero) && abs(d) < 1e15 {
            integer(Int64(d))
        } else {
            // Prints straight into the bytes (see the TextOutputStream
            // conformance below); `description` would make a String first,
            // on the heap once it passes 15 bytes, as most scores do.
            d.write(to: &self)
        }
    }

    /// Appends an integer.
    public mutating func integer(_ v: Int64) {
        // Two digits per division, from a table of the hundred pairs: a
        // record holds half a dozen 13-digit times and offsets.
        var n = v.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            let pairs = Self.digitPairs.utf8Start
            var i = 20
            while n >= 100 {
                let pair = Int(n % 100) &* 2
                n /= 100
                i -= 2
                digits[i] = pairs[pair]
                digits[i + 1] = pairs[pair + 1]
            }
            if n >= 10 {
                i -= 2
                digits[i] = pairs[Int(n) &* 2]
                digits[i + 1] = pairs[Int(n) &* 2 + 1]
            } else {
                i -= 1
                digits[i] = UInt8(truncatingIfNeeded: n) &+ 0x30
            }
            if v < 0 { bytes.append(0x2D) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i...]))
        }
    }

    /// "00", "01", ... "99", back to back.
    static let digitPairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// Appends `true` or `false`.
    public mutating func bool(_ b: Bool) { if b { raw("true") } else { raw("false") } }
}

/// Lets `Double.write(to:)` print into the text: the standard library hands
/// a stream its digits as ASCII bytes (`_writeASCII`), with no String made.
extension JSONText: TextOutputStream {
    public mutating func write(_ string: String) { rawText(string) }
    public mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: buffer) }
}

/// Event-time parsing: epoch milliseconds or RFC 3339.
public enum Timestamp {
    /// Largest accepted magnitude of an event time in epoch milliseconds:
    /// ±2^43 ms (years 1691 to 2248), so every tile index fits the 44 bits
    /// entity state gives it.
    public static let limit: Int64 = 1 << 43

    /// Largest accepted magnitude of an integer field: ±2^53, exact in a `Double`.
    public static let integerLimit: Int64 = 1 << 53

    /// Parses an RFC 3339 date-time (`2026-11-23T01:32:22.123Z`,
    /// `2026-11-23 02:32:22+01:00`) into epoch milliseconds. Fractions beyond
    /// milliseconds are truncated toward the past.
    public static func parseRFC3339<Bytes: RandomAccessCollection>(_ s: Bytes) -> Int64? where Bytes.Element == UInt8, Bytes.Index == Int {
        var i = s.startIndex
        let end = s.endIndex
        func digits(_ n: Int) -> Int64? {
            guard end - i >= n else { return nil }
            var v: Int64 = 0
            for _ in 0..<n {
                let d = s[i] &- 0x30
                guard d < 10 else { return nil }
                v = v * 10 + Int64(d)
                i += 1
            }
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < end, s[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2) else { return nil }
        guard i < end, s[i] == 0x54 || s[i] == 0x74 || s[i] == 0x20 else { return nil }
        i += 1
        guard let hour = digits(2), expect(0x3A), let minute = digits(2), expect(0x3A), let second = digits(2) else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year, month), hour < 24, minute < 60, second < 61 else { return nil }
        var millis: Int64 = 0
        if i < end, s[i] == 0x2E {
            i += 1
            var scale: Int64 = 100
            var count = 0
            while i < end, s[i] &- 0x30 < 10 {
                millis += Int64(s[i] &- 0x30) * scale
                scale /= 10
                count += 1
                i += 1
            }
            guard count > 0 else { return nil }
        }
        var offsetMinutes: Int64 = 0
        guard i < end else { return nil }
        if s[i] == 0x5A || s[i] == 0x7A {
            i += 1
        } else if s[i] == 0x2B || s[i] == 0x2D {
            let sign: Int64 = s[i] == 0x2D ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(0x3A), let om = digits(2), oh < 24, om < 60 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
        } else {
            return nil
        }
        guard i == end else { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetMinutes * 60
        return seconds * 1_000 + millis
    }

    static func daysInMonth(_ y: Int64, _ m: Int64) -> Int64 {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

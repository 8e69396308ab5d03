/// Parses and prints the durations written in configuration files.
///
/// A duration is a whole number followed by a unit: `ms`, `s`, `m`, `h`, `d`
/// (`250ms`, `30s`, `5m`, `1h`, `7d`). Internally every duration is a whole
/// number of milliseconds, the unit of event time.
public enum Duration {
    /// The units accepted, longest suffix first so that `ms` wins over `m`/`s`.
    static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000),
    ]

    /// The number of milliseconds in `text`, or `nil` if it is not a duration.
    public static func milliseconds(_ text: String) -> Int64? {
        let trimmed = text.trimmingWhitespace
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let digits = trimmed.dropLast(suffix.count)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int64(digits) else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: scale)
            return overflow ? nil : product
        }
        return nil
    }

    /// The shortest exact spelling of `milliseconds` (`300000` prints `5m`).
    public static func text(_ milliseconds: Int64) -> String {
        for (suffix, scale) in units.reversed() where suffix != "w" {
            if milliseconds != 0, milliseconds % scale == 0 { return "\(milliseconds / scale)\(suffix)" }
        }
        return "\(milliseconds)ms"
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a feature table could not be read or matched to a model.
public struct FeatureTableError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and how to fix it.
    public let description: String
}

/// Rows of feature values read from CSV: a header of feature names, then one row
/// per line; an empty field (or `nan`) is a missing value.
public struct FeatureTable: Sendable {
    /// Column names from the header.
    public var columns: [String]
    /// Values, row-major, `columns.count` per row.
    public var values: [Double]

    /// Number of rows.
    public var rowCount: Int { columns.isEmpty ? 0 : values.count / columns.count }

    /// Parses CSV text. Numbers are read with `strtod` (correctly rounded); quotes are not
    /// expected in numeric tables, but a quoted header name is unquoted.
    public static func parse(_ bytes: [UInt8]) throws(FeatureTableError) -> FeatureTable {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0x0A {
            lines.append(bytes[start..<i])
            start = i + 1
        }
        if start < bytes.count { lines.append(bytes[start...]) }
        func trimmed(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            var s = s
            while let f = s.first, f == 0x20 || f == 0x09 || f == 0x0D { s = s.dropFirst() }
            while let l = s.last, l == 0x20 || l == 0x09 || l == 0x0D { s = s.dropLast() }
            return s
        }
        guard let headerIndex = lines.firstIndex(where: { !trimmed($0).isEmpty }) else {
            throw FeatureTableError(description: "the input has no header row")
        }
        let columns = lines[headerIndex].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { field -> String in
            var f = trimmed(field)
            if f.count >= 2, f.first == 0x22, f.last == 0x22 { f = f.dropFirst().dropLast() }
            return String(decoding: f, as: UTF8.self)
        }
        var values: [Double] = []
        var buffer = [CChar](repeating: 0, count: 64)
        // With one column an empty line is a row with a missing value; otherwise blank lines are skipped.
        var lastDataLine = lines.count - 1
        while lastDataLine > headerIndex, trimmed(lines[lastDataLine]).isEmpty { lastDataLine -= 1 }
        for (lineIndex, line) in lines.enumerated() where lineIndex > headerIndex && lineIndex <= lastDataLine {
            if trimmed(line).isEmpty && columns.count > 1 { continue }
            let fields = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
            guard fields.count == columns.count else {
                throw FeatureTableError(description: "line \(lineIndex + 1) has \(fields.count) fields, the header has \(columns.count)")
            }
            for (c, raw) in fields.enumerated() {
                let field = trimmed(raw)
                if field.isEmpty { values.append(.nan); continue }
                if buffer.count < field.count + 1 { buffer = [CChar](repeating: 0, count: field.count + 1) }
                let parsed: Double? = buffer.withUnsafeMutableBufferPointer { b in
                    var k = 0
                    for byte in field { b[k] = CChar(bitPattern: byte); k += 1 }
                    b[k] = 0
                    var end: UnsafeMutablePointer<CChar>? = nil
                    let d = strtod(b.baseAddress!, &end)
                    return end == b.baseAddress! + k ? d : nil
                }
                guard let parsed else {
                    throw FeatureTableError(
                        description: "line \(lineIndex + 1), column '\(columns[c])': '\(String(decoding: field, as: UTF8.self))' is not a number (leave the field empty for a missing value)")
                }
                values.append(parsed)
            }
        }
        return FeatureTable(columns: columns, values: values)
    }

    /// For each model feature, the table column holding it.
    ///
    /// - Columns are matched by name when they are the model's feature names, in any order.
    /// - `featureOrder` renames the model's features (one name per feature, in model order).
    /// - A model without stored names takes the columns by position when their count matches.
    /// Anything else is an error naming the first column or feature that does not match.
    public func columnIndices(for modelNames: [String], modelHasNames: Bool, featureOrder: [String]? = nil) throws(FeatureTableError) -> [Int] {
        let names: [String]
        if let featureOrder {
            guard featureOrder.count == modelNames.count else {
                throw FeatureTableError(description: "--feature-order names \(featureOrder.count) features, the model has \(modelNames.count)")
            }
            names = featureOrder
        } else {
            names = modelNames
        }
        var position: [String: Int] = [:]
        for (i, c) in columns.enumerated() {
            if position[c] != nil { throw FeatureTableError(description: "column '\(c)' appears twice in the header") }
            position[c] = i
        }
        let byName = names.compactMap { position[$0] }
        if byName.count == names.count && columns.count == names.count { return byName }
        if featureOrder == nil && !modelHasNames && columns.count == modelNames.count {
            return Array(0..<columns.count)  // the model has no names to check against
        }
        let known = Set(names)
        if let extra = columns.first(where: { !known.contains($0) }) {
            throw FeatureTableError(
                description: "column '\(extra)' is not a feature of the model (features: \(names.prefix(20).joined(separator: ", "))\(names.count > 20 ? ", ..." : "")); remove it or map columns with --feature-order")
        }
        let missing = names.first { position[$0] == nil }!
        throw FeatureTableError(description: "the model needs feature '\(missing)', which is not a column of the input")
    }
}

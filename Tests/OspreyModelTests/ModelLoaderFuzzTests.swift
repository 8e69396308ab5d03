import Foundation
import OspreyRandom
import Testing
@testable import OspreyModel

/// Seeded random edits of a model file's bytes.
struct ModelMutator {
    var rng: SplitMix64

    /// Values that sit on the edges of the types the loaders convert to.
    static let numberTokens = [
        "0", "-0", "1", "-1", "2", "3", "7", "8", "9", "10", "31", "-31", "-32", "0.5", "-0.5", "1e-320",
        "65535", "65536", "16777216", "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1e19", "1e308", "-1e308", "1e999", "-1e999",
        "NaN", "nan", "-nan", "inf", "-inf", "Infinity", "-Infinity", "1e", "--1", "0x10", "",
    ]
    /// Bytes that change the structure of JSON or LightGBM text.
    static let structuralBytes = Array("{}[],:\"-.0123456789 \n=eE~".utf8) + [0, 0xFF]

    /// The byte offset and length of the number token at or after `start`, if any.
    static func numberToken(in bytes: [UInt8], from start: Int) -> Range<Int>? {
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        func isNumberByte(_ b: UInt8) -> Bool {
            isDigit(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
        }
        guard let digit = bytes[start...].firstIndex(where: isDigit) else { return nil }
        var lower = digit, upper = digit
        while lower > 0, isNumberByte(bytes[lower - 1]) { lower -= 1 }
        while upper < bytes.count, isNumberByte(bytes[upper]) { upper += 1 }
        return lower..<upper
    }

    /// Applies one random edit to `bytes` and describes it.
    mutating func mutate(_ bytes: inout [UInt8]) -> String {
        guard !bytes.isEmpty else {
            bytes = Array(Self.numberTokens.randomElement(using: &rng)!.utf8)
            return "replace empty file"
        }
        let at = Int.random(in: 0..<bytes.count, using: &rng)
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<12:
            let bit = UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            bytes[at] ^= bit
            return "flip bit \(bit) at \(at)"
        case 12..<22:
            let b = Self.structuralBytes.randomElement(using: &rng)!
            bytes[at] = b
            return "set byte \(at) to \(b)"
        case 22..<30:
            let inserted = (0..<Int.random(in: 1...4, using: &rng)).map { _ in Self.structuralBytes.randomElement(using: &rng)! }
            bytes.insert(contentsOf: inserted, at: at)
            return "insert \(inserted) at \(at)"
        case 30..<38:
            let end = min(bytes.count, at + Int.random(in: 1...16, using: &rng))
            bytes.removeSubrange(at..<end)
            return "delete \(at)..<\(end)"
        case 38..<85:
            guard let token = Self.numberToken(in: bytes, from: at) else { return "no number after \(at)" }
            let replacement = Self.numberTokens.randomElement(using: &rng)!
            bytes.replaceSubrange(token, with: Array(replacement.utf8))
            return "number at \(token.lowerBound) -> '\(replacement)'"
        case 85..<92:
            // Copy a chunk elsewhere: duplicates keys, lines and array elements.
            let length = Int.random(in: 1...min(64, bytes.count), using: &rng)
            let from = Int.random(in: 0...(bytes.count - length), using: &rng)
            let chunk = Array(bytes[from..<from + length])
            bytes.insert(contentsOf: chunk, at: at)
            return "copy \(from)..<\(from + length) to \(at)"
        default:
            bytes.removeSubrange(at...)
            return "truncate at \(at)"
        }
    }
}

/// Loading a damaged model file either refuses it with a ``ModelLoadError`` or
/// gives a model that scores every row without trapping, reading out of bounds
/// or looping. NaN predictions are acceptable; a crash is not.
///
/// The seeds are real fixture models (cut to a few trees so that each mutation
/// hits structure more often and each load is quick); each case applies one to
/// three seeded random edits. Set `OSPREY_FUZZ_TRACE=1` to print every case
/// before it is loaded, to find the one that crashed; `OSPREY_FUZZ_SCALE=n` runs
/// n times as many cases and `OSPREY_FUZZ_SEED=k` other ones, for a longer hunt;
/// `OSPREY_FUZZ_SECONDS=s` gives the seed models s seconds in all instead.
@Suite("Model loader fuzzing")
struct ModelLoaderFuzzTests {
    struct Seed: CustomTestStringConvertible, Sendable {
        let fixture: String
        let trees: Int
        let cases: Int
        var testDescription: String { "\(fixture) (first \(trees) trees)" }
    }

    static let seeds: [Seed] = [
        Seed(fixture: "xgb3_binary_logistic", trees: 4, cases: 500),
        Seed(fixture: "xgb3_categorical", trees: 3, cases: 400),
        Seed(fixture: "xgb3_dart", trees: 3, cases: 300),
        Seed(fixture: "xgb3_multi_softprob", trees: 8, cases: 300),
        Seed(fixture: "lgb_binary", trees: 3, cases: 500),
        Seed(fixture: "lgb_categorical", trees: 3, cases: 400),
        Seed(fixture: "lgb_linear_tree", trees: 3, cases: 400),
        Seed(fixture: "lgb_multiclass", trees: 6, cases: 300),
    ]

    static let trace = ProcessInfo.processInfo.environment["OSPREY_FUZZ_TRACE"] == "1"
    static let scale = ProcessInfo.processInfo.environment["OSPREY_FUZZ_SCALE"].flatMap { Int($0) }.map { max($0, 1) } ?? 1
    static let extraSeed = ProcessInfo.processInfo.environment["OSPREY_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0
    static let seconds = ProcessInfo.processInfo.environment["OSPREY_FUZZ_SECONDS"].flatMap { Double($0) }

    /// Fixture rows (by position), plus rows of missing and extreme values.
    static func probeRows(_ fixture: ModelFixture) throws -> [[Double]] {
        let table = try FeatureTable.parse(Array(try Data(contentsOf: fixture.file("input.csv"))))
        let w = table.columns.count
        var rows = (0..<min(table.rowCount, 12)).map { r in Array(table.values[r * w..<(r + 1) * w]) }
        for special in [Double.nan, 0, -0.0, 1e-36, -1e308, .infinity, -.infinity, 3, 2_147_483_648, 16_777_217] {
            rows.append(Array(repeating: special, count: w))
        }
        return rows
    }

    /// Scores `rows` (padded or cut to the model's width) every way the CLI can, and
    /// checks that the compiled layout and the reference walker agree.
    static func exercise(_ ensemble: TreeEnsemble, rows: [[Double]], label: @autoclosure () -> String) {
        let model = GradientBoostedModel(ensemble: ensemble)
        #expect(model.predictionCount >= 1 && model.predictionCount <= model.outputCount)
        guard model.featureCount <= 100_000 else { return }  // a mutated feature count; rows would be all padding
        let explainer = ContributionExplainer(ensemble)
        for (r, base) in rows.enumerated() {
            var row = Array(base.prefix(model.featureCount))
            while row.count < model.featureCount { row.append(base[row.count % base.count]) }
            let prediction = model.predict(row)
            #expect(prediction.count == model.predictionCount)
            let compiled = model.margins(row)
            var reference = [Double](repeating: 0, count: model.outputCount)
            row.withUnsafeBufferPointer { x in reference.withUnsafeMutableBufferPointer { ensemble.referenceMargins(x, into: $0) } }
            let same = zip(compiled, reference).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
            if !same { Issue.record("\(label()): row \(r) compiled margins \(compiled) differ from the reference \(reference)") }
            if r < 2 && !ensemble.trees.contains(where: { !$0.linearLeaves.isEmpty }) {
                for method in ContributionMethod.allCases {
                    let values = try? explainer.contributions(row, method: method)
                    #expect(values?.count == explainer.valueCount)
                }
            }
        }
    }

    @Test("the cut-down seed models load and score like the fixtures they come from", arguments: seeds)
    func seedsLoad(_ seed: Seed) throws {
        let text = ModelText.keepingFirstTrees(seed.trees, of: try ModelText.fixture(seed.fixture))
        let ensemble = try ModelFile.load(bytes: Array(text.utf8))
        #expect(ensemble.trees.count == seed.trees)
        let full = try ModelFixture.named(seed.fixture).load()
        #expect(ensemble.featureNames == full.featureNames)
        #expect(ensemble.outputCount == full.outputCount)
    }

    @Test("mutated models are refused or score without crashing", arguments: seeds)
    func mutations(_ seed: Seed) throws {
        let fixture = ModelFixture.named(seed.fixture)
        let original = Array(ModelText.keepingFirstTrees(seed.trees, of: try ModelText.fixture(seed.fixture)).utf8)
        let rows = try Self.probeRows(fixture)
        // One generator per seed model, so each model's cases do not depend on the others.
        var mutator = ModelMutator(rng: SplitMix64(seed: 0x05B7_EE00 ^ seed.fixture.hashValueStable ^ Self.extraSeed))
        let cases = seed.cases * Self.scale
        var refused = 0, loaded = 0
        let budget = Self.seconds.map { $0 / Double(Self.seeds.count) }
        let started = Date()
        var index = 0
        while budget.map({ Date().timeIntervalSince(started) < $0 }) ?? (index < cases) {
            defer { index += 1 }
            var bytes = original
            let edits = Int.random(in: 0..<10, using: &mutator.rng) < 7 ? 1 : Int.random(in: 2...3, using: &mutator.rng)
            let steps = (0..<edits).map { _ in mutator.mutate(&bytes) }
            let label = "\(seed.fixture) case \(index): \(steps.joined(separator: "; "))"
            if Self.trace { FileHandle.standardError.write(Data((label + "\n").utf8)) }
            let ensemble: TreeEnsemble
            do {
                ensemble = try ModelFile.load(bytes: bytes)
            } catch {
                refused += 1
                #expect(!error.description.isEmpty)
                continue
            }
            loaded += 1
            Self.exercise(ensemble, rows: rows, label: label)
        }
        // Both outcomes must occur, or the mutations are not reaching the loader's checks.
        #expect(refused > index / 10, "only \(refused) of \(index) mutants were refused")
        #expect(loaded > index / 10, "only \(loaded) of \(index) mutants loaded")
        if budget != nil { print("model loader fuzzing, \(seed.fixture): \(index) mutants in \(Int(Date().timeIntervalSince(started))) s, \(refused) refused, \(loaded) loaded and scored") }
        if Self.trace { FileHandle.standardError.write(Data("\(seed.fixture): \(refused) refused, \(loaded) loaded\n".utf8)) }
    }
}

extension String {
    /// FNV-1a of the UTF-8 bytes: unlike `hashValue`, the same in every process.
    var hashValueStable: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}

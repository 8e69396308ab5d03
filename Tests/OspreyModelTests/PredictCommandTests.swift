import Foundation
import Testing
@testable import OspreyModel

/// Runs the `osprey` executable that SwiftPM built next to this test bundle.
enum OspreyCLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String

        /// Standard output split into lines, without the final empty one.
        var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast(stdout.hasSuffix("\n") ? 1 : 0).map(String.init) }
    }

    static let packageRoot = ModelFixture.root.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The build products directory holds the test bundle and the executables built with it;
    /// `<package root>/.build/debug/osprey` is the fallback.
    static let executable: URL? = {
        var directories: [URL] = []
        if let main = Bundle.main.executableURL { directories.append(main.deletingLastPathComponent()) }
        if let first = CommandLine.arguments.first, first.hasPrefix("/") {
            directories.append(URL(fileURLWithPath: first).deletingLastPathComponent())
        }
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        directories.append(packageRoot.appendingPathComponent(".build/debug"))
        return directories.map { $0.appendingPathComponent("osprey") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    /// Runs `osprey` with `arguments` and collects its exit status and output.
    static func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let executable = try #require(executable, "no osprey executable next to the test bundle or in .build/debug; build the package first", sourceLocation: sourceLocation)
        let scratch = try TemporaryDirectory()
        let outURL = scratch.url.appendingPathComponent("stdout"), errURL = scratch.url.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                Issue.record("osprey \(arguments.joined(separator: " ")) ran for more than 120 s", sourceLocation: sourceLocation)
                break
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        try out.close()
        try err.close()
        return Result(
            status: process.terminationStatus,
            stdout: try String(contentsOf: outURL, encoding: .utf8),
            stderr: try String(contentsOf: errURL, encoding: .utf8))
    }

    /// `osprey predict` with `arguments`.
    static func predict(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        try run(["predict"] + arguments, sourceLocation: sourceLocation)
    }
}

/// A directory removed when the value is released.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("osprey-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `text` to `name` in the directory and returns its path.
    func write(_ name: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// A CSV table as text fields, for rewriting fixture inputs.
struct CSVText {
    var header: [String]
    var rows: [[String]]

    init(header: [String], rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    init(contentsOf url: URL) throws {
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        header = lines[0]
        rows = Array(lines.dropFirst())
    }

    var text: String { ([header] + rows).map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n" }

    /// The same table with its columns in the order of `order` (indices of the current columns).
    func selecting(_ order: [Int]) -> CSVText {
        CSVText(header: order.map { header[$0] }, rows: rows.map { row in order.map { row[$0] } })
    }
}

/// `osprey predict` end to end: the built executable run on fixture models and
/// inputs, its output compared with the library's own predictions as printed
/// ("%.9g", one line per row), and each refusal checked for a non-zero exit
/// status and a message on standard error naming what is wrong.
@Suite("osprey predict (CLI)")
struct PredictCommandTests {
    // MARK: Helpers

    /// The library's predictions in `file` as `osprey predict` prints them.
    static func printed(_ fixture: ModelFixture, _ file: String = "expected.csv") throws -> [String] {
        try fixture.numbers(file).map { values in values.map { String(format: "%.9g", $0) }.joined(separator: ",") }
    }

    static func numbers(_ line: String) -> [Double] {
        line.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) ?? .nan }
    }

    /// Expects a clean run whose output lines are `expected`.
    static func expectOutput(_ result: OspreyCLI.Result, equals expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 0, "exit status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.isEmpty, sourceLocation: sourceLocation)
        let lines = result.lines
        #expect(lines.count == expected.count, sourceLocation: sourceLocation)
        if let row = zip(lines, expected).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
            Issue.record("row \(row.offset): printed \(row.element.0), expected \(row.element.1)", sourceLocation: sourceLocation)
        }
    }

    /// Expects a refusal: non-zero status, nothing on standard output, and a message naming `parts`.
    static func expectRefusal(_ result: OspreyCLI.Result, mentioning parts: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status != 0, "expected a failure, got exit status 0", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "printed '\(result.stdout.prefix(200))'", sourceLocation: sourceLocation)
        for part in parts {
            #expect(result.stderr.contains(part), "stderr '\(result.stderr)' does not mention '\(part)'", sourceLocation: sourceLocation)
        }
    }

    static func input(_ fixture: ModelFixture) -> String { fixture.file("input.csv").path }

    // MARK: Predictions

    @Test("prints the library's predictions, one line per row, at 9 significant digits",
          arguments: ["xgb3_binary_logistic", "xgb3_reg_squarederror", "lgb_binary", "lgb_regression"])
    func predictions(_ name: String) throws {
        let fixture = ModelFixture.named(name)
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", Self.input(fixture)])
        Self.expectOutput(result, equals: try Self.printed(fixture))
    }

    @Test("multiclass models print one probability per class, comma-separated", arguments: ["xgb3_multi_softprob", "lgb_multiclass"])
    func multiclass(_ name: String) throws {
        let fixture = ModelFixture.named(name)
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", Self.input(fixture)])
        Self.expectOutput(result, equals: try Self.printed(fixture))
        for line in result.lines {
            let probabilities = Self.numbers(line)
            #expect(probabilities.count == 4)
            #expect(abs(probabilities.reduce(0, +) - 1) < 1e-6, "\(line)")
        }
    }

    @Test("--output writes the predictions to the file instead of standard output")
    func outputFile() throws {
        let fixture = ModelFixture.named("lgb_binary")
        let scratch = try TemporaryDirectory()
        let path = scratch.path("predictions.csv")
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", Self.input(fixture), "--output", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        #expect(written.split(separator: "\n").map(String.init) == (try Self.printed(fixture)))
    }

    // MARK: Matching columns to features

    @Test("columns are matched to the model's features by name, in any order")
    func reorderedColumns() throws {
        let fixture = ModelFixture.named("xgb3_reg_squarederror")
        let table = try CSVText(contentsOf: fixture.file("input.csv"))
        let scratch = try TemporaryDirectory()
        let shuffled = table.selecting([4, 8, 0, 7, 2, 6, 1, 5, 3])
        #expect(shuffled.header != table.header)
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", try scratch.write("input.csv", shuffled.text)])
        Self.expectOutput(result, equals: try Self.printed(fixture))
    }

    @Test("a column that is not a feature of the model is an error naming the column")
    func extraColumn() throws {
        let fixture = ModelFixture.named("xgb3_reg_squarederror")
        var table = try CSVText(contentsOf: fixture.file("input.csv"))
        table.header.insert("customer_segment", at: 3)
        for r in table.rows.indices { table.rows[r].insert("1", at: 3) }
        let scratch = try TemporaryDirectory()
        let path = try scratch.write("input.csv", table.text)
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", path])
        Self.expectRefusal(result, mentioning: path, "'customer_segment'", "not a feature of the model", "--feature-order")
    }

    @Test("a model feature with no column is an error naming the feature")
    func missingFeature() throws {
        let fixture = ModelFixture.named("xgb3_reg_squarederror")
        let table = try CSVText(contentsOf: fixture.file("input.csv"))
        let amount = try #require(table.header.firstIndex(of: "amount"))
        let scratch = try TemporaryDirectory()
        let path = try scratch.write("input.csv", table.selecting(table.header.indices.filter { $0 != amount }).text)
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", path])
        Self.expectRefusal(result, mentioning: path, "needs feature 'amount'")
    }

    @Test("--feature-order names the model's features (in model order) as the input calls them")
    func featureOrder() throws {
        let fixture = ModelFixture.named("xgb3_reg_squarederror")
        var table = try CSVText(contentsOf: fixture.file("input.csv"))
        let renamed = table.header.map { "col_" + $0.uppercased() }
        table.header = renamed
        let scratch = try TemporaryDirectory()
        let path = try scratch.write("input.csv", table.selecting([8, 7, 6, 5, 4, 3, 2, 1, 0]).text)
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", path, "--feature-order", renamed.joined(separator: ", ")])
        Self.expectOutput(result, equals: try Self.printed(fixture))

        // Without the mapping the renamed columns match nothing.
        let unmapped = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", path])
        Self.expectRefusal(unmapped, mentioning: "'col_TINY'")
        // A mapping with the wrong number of names is refused.
        let short = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", path, "--feature-order", renamed.dropLast().joined(separator: ",")])
        Self.expectRefusal(short, mentioning: "--feature-order names 8 features, the model has 9")
    }

    @Test("a model without stored feature names takes the columns by position, whatever they are called")
    func positionalColumns() throws {
        let fixture = ModelFixture.named("xgb3_binary_logistic")
        #expect(try !fixture.load().ensemble.hasFeatureNames)
        var table = try CSVText(contentsOf: fixture.file("input.csv"))
        table.header = ["age", "income", "amount", "count", "ratio", "flag", "score", "share", "tiny"]
        let scratch = try TemporaryDirectory()
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", try scratch.write("input.csv", table.text)])
        Self.expectOutput(result, equals: try Self.printed(fixture))

        // A model that stores names does not fall back to position.
        let named = ModelFixture.named("xgb3_reg_squarederror")
        let refused = try OspreyCLI.predict(["--model", named.modelPath, "--input", try scratch.write("named.csv", table.text)])
        Self.expectRefusal(refused, mentioning: "'age'")
    }

    // MARK: Values

    @Test("an empty field is a missing value, scored as NaN")
    func emptyField() throws {
        let fixture = ModelFixture.named("xgb3_binary_logistic")
        let model = try fixture.load()
        let table = try CSVText(contentsOf: fixture.file("input.csv"))
        let row = table.rows[0]
        var withEmpty = row, withNaN = row
        withEmpty[2] = ""; withEmpty[6] = ""
        withNaN[2] = "nan"; withNaN[6] = "NaN"
        let allEmpty = [String](repeating: "", count: row.count)
        let scratch = try TemporaryDirectory()
        let path = try scratch.write("input.csv", CSVText(header: table.header, rows: [withEmpty, withNaN, allEmpty]).text)
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", path])

        let present = Self.numbers(row.joined(separator: ","))
        var missing = present
        missing[2] = .nan; missing[6] = .nan
        let expected = [missing, missing, [Double](repeating: .nan, count: row.count)].map { values in
            model.predict(values).map { String(format: "%.9g", $0) }.joined(separator: ",")
        }
        Self.expectOutput(result, equals: expected)
        #expect(model.predict(missing) != model.predict(present), "the emptied fields should matter for this row")
    }

    @Test("a field that is not a number is an error naming its line and column")
    func nonNumericField() throws {
        let fixture = ModelFixture.named("xgb3_binary_logistic")
        var table = try CSVText(contentsOf: fixture.file("input.csv"))
        table.rows[1][2] = "12.5kg"
        let scratch = try TemporaryDirectory()
        let path = try scratch.write("input.csv", table.text)
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", path])
        Self.expectRefusal(result, mentioning: path, "line 3", "column 'f2'", "'12.5kg'", "not a number")
    }

    // MARK: Margins and contributions

    @Test("--margin prints the raw scores the library reports", arguments: ["xgb3_binary_logistic", "lgb_multiclass"])
    func margins(_ name: String) throws {
        let fixture = ModelFixture.named(name)
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", Self.input(fixture), "--margin"])
        Self.expectOutput(result, equals: try Self.printed(fixture, "margin.csv"))
    }

    @Test("--contributions and --approx-contributions print features + 1 values per output, adding up to the margin",
          arguments: ["xgb3_binary_logistic", "xgb3_multi_softprob", "lgb_binary", "lgb_multiclass"],
          ["--contributions", "--approx-contributions"])
    func contributions(_ name: String, _ flag: String) throws {
        let fixture = ModelFixture.named(name)
        let model = try fixture.load()
        let width = model.featureCount + 1
        // A slice of the rows keeps the exact (TreeSHAP) case quick in debug builds.
        var table = try CSVText(contentsOf: fixture.file("input.csv"))
        table.rows = Array(table.rows.prefix(60))
        let scratch = try TemporaryDirectory()
        let path = try scratch.write("input.csv", table.text)
        let explained = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", path, flag])
        let margins = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", path, "--margin"])
        #expect(explained.status == 0, "\(explained.stderr)")
        #expect(margins.status == 0, "\(margins.stderr)")
        #expect(explained.lines.count == table.rows.count)
        for (r, (line, marginLine)) in zip(explained.lines, margins.lines).enumerated() {
            let values = Self.numbers(line), margin = Self.numbers(marginLine)
            #expect(values.count == model.outputCount * width, "row \(r)")
            #expect(margin.count == model.outputCount, "row \(r)")
            for g in 0..<min(margin.count, values.count / width) {
                let sum = values[g * width..<(g + 1) * width].reduce(0, +)
                // Printed at 9 digits, and XGBoost margins are summed in Float.
                #expect(abs(sum - margin[g]) <= 1e-5 + 1e-5 * abs(margin[g]), "row \(r) output \(g): contributions add up to \(sum), margin is \(margin[g])")
            }
        }
    }

    @Test("--contributions and --approx-contributions together are refused")
    func bothContributionFlags() throws {
        let fixture = ModelFixture.named("lgb_binary")
        let result = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", Self.input(fixture), "--contributions", "--approx-contributions"])
        Self.expectRefusal(result, mentioning: "choose one of --contributions and --approx-contributions")
    }

    // MARK: Model files and options

    @Test("--format accepts the format names and refuses anything else, listing the valid ones")
    func format() throws {
        let fixture = ModelFixture.named("lgb_binary")
        let explicit = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", Self.input(fixture), "--format", "lightgbm-text"])
        Self.expectOutput(explicit, equals: try Self.printed(fixture))

        let wrong = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", Self.input(fixture), "--format", "lightgbm"])
        Self.expectRefusal(wrong, mentioning: "--format 'lightgbm'", "xgboost-json", "lightgbm-text")

        let mismatched = try OspreyCLI.predict(["--model", fixture.modelPath, "--input", Self.input(fixture), "--format", "xgboost-json"])
        Self.expectRefusal(mismatched, mentioning: fixture.modelPath, "not valid JSON")
    }

    @Test("a model path that does not exist is an error naming the path and the reason")
    func missingModel() throws {
        let fixture = ModelFixture.named("lgb_binary")
        let path = "/nonexistent-osprey/model.json"
        let result = try OspreyCLI.predict(["--model", path, "--input", Self.input(fixture)])
        Self.expectRefusal(result, mentioning: path, "cannot read model file", "No such file")
    }

    @Test("a model the loader refuses is reported with the loader's message")
    func refusedModel() throws {
        let fixture = ModelFixture.named("xgb3_binary_logistic")
        let text = try ModelText.replacingFirst(#""name":"binary:logistic""#, with: #""name":"reg:madeup""#, in: try ModelText.fixture(fixture.name))
        let scratch = try TemporaryDirectory()
        let path = try scratch.write("model.json", text)
        let result = try OspreyCLI.predict(["--model", path, "--input", Self.input(fixture)])
        Self.expectRefusal(result, mentioning: path, "learner.objective.name", "reg:madeup")
    }

    // MARK: Benchmark

    @Test("--benchmark reports ns/row for the compiled layout and the baseline walker")
    func benchmark() throws {
        // One tree and a few rows: each pass scores ~200,000 rows, which must stay quick in a debug build.
        let fixture = ModelFixture.named("lgb_binary")
        let scratch = try TemporaryDirectory()
        let model = try scratch.write("model.txt", ModelText.keepingFirstTrees(1, of: try ModelText.fixture(fixture.name)))
        var table = try CSVText(contentsOf: fixture.file("input.csv"))
        table.rows = Array(table.rows.prefix(8))
        let input = try scratch.write("input.csv", table.text)
        let result = try OspreyCLI.predict(["--model", model, "--input", input, "--benchmark", "--passes", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.lines
        #expect(lines.contains { $0.contains("osprey") && $0.contains("ns/row") }, "\(result.stdout)")
        #expect(lines.contains { $0.contains("baseline") && $0.contains("ns/row") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("rows: 8") }, "\(result.stdout)")
    }
}

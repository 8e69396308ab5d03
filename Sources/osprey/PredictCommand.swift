import ArgumentParser
import Foundation
import OspreyModel

/// `osprey predict`: score a CSV of feature rows with a model file, as the
/// library's own `predict()` would.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Score a CSV of feature rows with an XGBoost JSON or LightGBM text model.",
        discussion: """
            The input's header names the features; an empty field is a missing value. \
            One output line per row with 9 significant digits: the probability for binary \
            models, comma-separated class probabilities for multiclass, the value for \
            regression (the class index for XGBoost multi:softmax).
            """
    )

    @Option(name: .long, help: "Model file (XGBoost JSON or LightGBM text).")
    var model: String

    @Option(name: .long, help: "CSV input with a header row of feature names.")
    var input: String

    @Option(name: .long, help: "Write predictions here instead of standard output.")
    var output: String?

    @Option(name: .long, help: "Model format: xgboost-json or lightgbm-text (detected from the file by default).")
    var format: String?

    @Option(name: .long, help: "Comma-separated names for the model's features, in model order, to match CSV columns against.")
    var featureOrder: String?

    @Flag(name: .long, help: "Print exact TreeSHAP contributions per row instead of predictions (per output: one per feature, then the bias).")
    var contributions = false

    @Flag(name: .long, help: "Print path (Saabas) contributions per row instead of predictions, as XGBoost's approx_contribs.")
    var approxContributions = false

    @Flag(name: .long, help: "Print the raw margin instead of the transformed prediction.")
    var margin = false

    @Flag(name: .long, help: "Measure single-row scoring speed on the input rows instead of printing predictions.")
    var benchmark = false

    @Option(name: .long, help: "Benchmark passes over the input (the median is reported).")
    var passes = 15

    func validate() throws {
        if contributions && approxContributions { throw ValidationError("choose one of --contributions and --approx-contributions") }
        if let format, ModelFormat(rawValue: format) == nil {
            throw ValidationError("--format '\(format)' is not one of: \(ModelFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if passes < 1 { throw ValidationError("--passes must be at least 1") }
    }

    func run() throws {
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let gbt: GradientBoostedModel
        do {
            gbt = try GradientBoostedModel(contentsOfFile: model, format: format.flatMap(ModelFormat.init(rawValue:)))
        } catch {
            throw CLIError("\(model): \(error)")
        }
        let loadNanos = DispatchTime.now().uptimeNanoseconds - loadStart

        let table: FeatureTable
        let columnForFeature: [Int]
        do {
            table = try FeatureTable.parse(try ModelFile.readFile(input))
            columnForFeature = try table.columnIndices(
                for: gbt.featureNames, modelHasNames: gbt.ensemble.hasFeatureNames,
                featureOrder: featureOrder.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
        } catch {
            throw CLIError("\(input): \(error)")
        }
        // Rows in model feature order.
        let width = table.columns.count
        let n = table.rowCount
        let f = gbt.featureCount
        var rows = [Double](repeating: .nan, count: n * f)
        for r in 0..<n {
            for (j, c) in columnForFeature.enumerated() { rows[r * f + j] = table.values[r * width + c] }
        }

        if benchmark {
            PredictBenchmark(model: gbt, rows: rows, passes: passes, loadNanos: loadNanos).run()
            return
        }

        var text = ""
        text.reserveCapacity(n * 16)
        if contributions || approxContributions {
            let explainer = ContributionExplainer(gbt)
            for r in 0..<n {
                let values: [Double]
                do {
                    values = try explainer.contributions(Array(rows[r * f..<(r + 1) * f]), method: contributions ? .exact : .approximate)
                } catch {
                    throw CLIError("\(model): \(error)")
                }
                appendLine(values, to: &text)
            }
        } else {
            let count = margin ? gbt.outputCount : gbt.predictionCount
            var out = [Double](repeating: 0, count: count)
            rows.withUnsafeBufferPointer { all in
                out.withUnsafeMutableBufferPointer { o in
                    for r in 0..<n {
                        let row = UnsafeBufferPointer(rebasing: all[r * f..<(r + 1) * f])
                        if margin { gbt.margins(row, into: o) } else { gbt.predict(row, into: o) }
                        appendLine(Array(o), to: &text)
                    }
                }
            }
        }
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8)) else {
                throw CLIError("cannot write \(output)")
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }

    private func appendLine(_ values: [Double], to text: inout String) {
        for (i, v) in values.enumerated() {
            if i > 0 { text += "," }
            text += String(format: "%.9g", v)
        }
        text += "\n"
    }
}

/// A failure reported to the user as one line on standard error, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

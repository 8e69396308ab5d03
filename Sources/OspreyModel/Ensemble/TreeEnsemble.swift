/// The model file format a ``TreeEnsemble`` came from.
public enum ModelFormat: String, Sendable, CaseIterable {
    /// XGBoost `save_model("*.json")`.
    case xgboostJSON = "xgboost-json"
    /// LightGBM `save_model("*.txt")`.
    case lightgbmText = "lightgbm-text"
}

/// A whole gradient-boosted model in library-neutral form: trees, how their
/// outputs combine, and how the sum becomes a prediction.
///
/// This is the slow, obviously-correct form. ``GradientBoostedModel`` compiles
/// it into the layout used on the hot path.
public struct TreeEnsemble: Sendable {
    /// Where the model came from.
    public var format: ModelFormat
    /// The library's objective name as written in the file (e.g. `binary:logistic`, `binary sigmoid:1`).
    public var objective: String
    /// Whose split rules the trees follow.
    public var convention: SplitConvention
    /// Feature names in model order (generated names when the file has none).
    public var featureNames: [String]
    /// Whether the feature names came from the file (as opposed to being generated).
    public var hasFeatureNames: Bool
    /// Features declared categorical in the file, by index.
    public var categoricalFeatures: Set<Int>
    /// All trees, in the library's summation order.
    public var trees: [DecisionTree]
    /// Number of margins (1, or the class count for multiclass).
    public var outputCount: Int
    /// The margin every output starts from (XGBoost's transformed base_score; 0 for LightGBM).
    public var baseMargins: [Double]
    /// LightGBM random forests average their trees: the prediction (not the raw
    /// margin, which LightGBM reports as the plain sum) is divided by this (1 otherwise).
    public var averagingDivisor: Double
    /// How margins become predictions.
    public var transform: OutputTransform
    /// Version of the library that wrote the file, when the file says.
    public var libraryVersion: String?

    /// Number of input features.
    public var featureCount: Int { featureNames.count }

    var precision: MarginPrecision { convention == .xgboost ? .float32 : .float64 }

    /// How many values ``predict(_:into:)`` writes for one row.
    public var predictionCount: Int { transform.predictionCount(outputs: outputCount) }

    /// Converts one raw input value into the value the library compares.
    @inlinable
    public func libraryValue(_ x: Double) -> Double {
        switch convention {
        case .xgboost:
            return Double(Float(x))
        case .lightgbm:
            // LightGBM drops |x| <= kZeroThreshold (1e-35f) when it builds a row, so they read as 0.
            return abs(x) <= 1.0000000180025095e-35 ? 0 : x
        }
    }

    /// Raw margins for `row` by walking every tree node by node: the reference
    /// the fast layout is tested against, and the baseline in `predict --benchmark`.
    public func referenceMargins(_ row: UnsafeBufferPointer<Double>, into margins: UnsafeMutableBufferPointer<Double>) {
        precondition(row.count >= featureCount && margins.count >= outputCount)
        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(featureCount, 1)) { converted in
            for i in 0..<featureCount { converted[i] = libraryValue(row[i]) }
            let p = UnsafePointer(converted.baseAddress!)
            switch precision {
            case .float32:
                withUnsafeTemporaryAllocation(of: Float.self, capacity: outputCount) { sums in
                    for g in 0..<outputCount { sums[g] = Float(baseMargins[g]) }
                    for tree in trees {
                        sums[tree.outputGroup] += Float(tree.output(for: p, convention: convention))
                    }
                    for g in 0..<outputCount { margins[g] = Double(sums[g]) }
                }
            case .float64:
                for g in 0..<outputCount { margins[g] = baseMargins[g] }
                for tree in trees {
                    margins[tree.outputGroup] += tree.output(for: p, convention: convention)
                }
            }
        }
    }

    /// Divides margins by ``averagingDivisor`` (LightGBM random forests) before the output transform.
    @inlinable
    public func averageIfNeeded(_ margins: UnsafeMutableBufferPointer<Double>) {
        if averagingDivisor != 1 {
            for g in 0..<outputCount { margins[g] /= averagingDivisor }
        }
    }

    /// Checks the structure so that no input can make prediction read out of bounds.
    public func validate() throws(ModelLoadError) {
        guard featureCount > 0 else { throw ModelLoadError.invalidField("num_feature", "is 0") }
        guard outputCount > 0 else { throw ModelLoadError.invalidField("num_class", "gives no outputs") }
        guard baseMargins.count == outputCount else {
            throw ModelLoadError.invalidField("base_score", "has \(baseMargins.count) values for \(outputCount) outputs")
        }
        for (i, tree) in trees.enumerated() {
            guard tree.outputGroup >= 0, tree.outputGroup < outputCount else {
                throw ModelLoadError.invalidField("tree_info", "tree \(i) adds to output \(tree.outputGroup) of \(outputCount)")
            }
            do { try tree.validate(featureCount: featureCount) } catch {
                switch error {
                case .invalidField(let field, let reason): throw ModelLoadError.invalidField("trees[\(i)].\(field)", reason)
                case .missingField(let field): throw ModelLoadError.missingField("trees[\(i)].\(field)")
                default: throw error
                }
            }
        }
    }
}

/// A loaded gradient-boosted-tree model, ready to score one row at a time.
///
/// Immutable after construction and safe to share across threads: every call
/// works on its own stack scratch space. Scoring a row allocates nothing.
///
/// ```swift
/// let model = try GradientBoostedModel(contentsOfFile: "model.json")
/// var out = [Double](repeating: 0, count: model.predictionCount)
/// features.withUnsafeBufferPointer { row in
///     out.withUnsafeMutableBufferPointer { model.predict(row, into: $0) }
/// }
/// ```
public final class GradientBoostedModel: Sendable {
    /// The library-neutral form of the model (used for explanations and as the reference).
    public let ensemble: TreeEnsemble

    private enum Engine: Sendable {
        case float(CompiledForest<Float>)
        case double(CompiledForest<Double>)
        case reference
    }

    private let engine: Engine

    /// Compiles `ensemble` into the fastest layout that represents it exactly.
    public init(ensemble: TreeEnsemble) {
        self.ensemble = ensemble
        switch ensemble.convention {
        case .xgboost:
            engine = CompiledForest<Float>(ensemble).map(Engine.float) ?? .reference
        case .lightgbm:
            engine = CompiledForest<Double>(ensemble).map(Engine.double) ?? .reference
        }
    }

    /// Loads a model file; the format is detected from the content unless given.
    public convenience init(contentsOfFile path: String, format: ModelFormat? = nil) throws(ModelLoadError) {
        self.init(ensemble: try ModelFile.load(path: path, format: format))
    }

    /// Feature names in the order ``predict(_:into:)`` expects them.
    public var featureNames: [String] { ensemble.featureNames }
    /// Number of input features.
    public var featureCount: Int { ensemble.featureCount }
    /// Number of raw margins (1, or the class count).
    public var outputCount: Int { ensemble.outputCount }
    /// Number of values ``predict(_:into:)`` writes.
    public var predictionCount: Int { ensemble.predictionCount }
    /// Whether scoring uses the compiled layout (`false`: the node-by-node walker, for
    /// categorical splits, linear trees and other rules the layout does not express).
    public var usesCompiledLayout: Bool {
        if case .reference = engine { return false }
        return true
    }

    /// Writes the raw margins (before the output transform) for `row` into `margins`.
    ///
    /// - Parameters:
    ///   - row: ``featureCount`` values in model order; NaN means missing.
    ///   - margins: at least ``outputCount`` slots.
    public func margins(_ row: UnsafeBufferPointer<Double>, into margins: UnsafeMutableBufferPointer<Double>) {
        self.margins(row, into: margins, positions: nil)
    }

    /// ``margins(_:into:)``, also writing to `positions` (one slot per lane of
    /// ``completeLanes``, which must not be nil) the heap position of the leaf
    /// each lane reaches, counted from 1 at the root: the path to position `k`
    /// of a depth-`d` tree passes `k >> (d - 1)`, ..., `k >> 1`, `k`.
    func margins(_ row: UnsafeBufferPointer<Double>, into margins: UnsafeMutableBufferPointer<Double>, positions: UnsafeMutablePointer<UInt32>?) {
        precondition(row.count >= featureCount, "row has \(row.count) values, the model needs \(featureCount)")
        precondition(margins.count >= outputCount, "margins has \(margins.count) slots, the model has \(outputCount) outputs")
        let featureCount = self.featureCount
        let outputCount = self.outputCount
        switch engine {
        case .float(let forest):
            withUnsafeTemporaryAllocation(of: Double.self, capacity: featureCount) { input in
                withUnsafeTemporaryAllocation(of: UInt16.self, capacity: max(forest.slotCount, 1)) { slots in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: outputCount) { sums in
                        for i in 0..<featureCount { input[i] = Double(Float(row[i])) }
                        forest.binRow(input.baseAddress!, into: slots.baseAddress!)
                        for g in 0..<outputCount { sums[g] = Float(ensemble.baseMargins[g]) }
                        forest.accumulate(slots.baseAddress!, into: sums.baseAddress!, outputCount: outputCount, recording: positions)
                        for g in 0..<outputCount { margins[g] = Double(sums[g]) }
                    }
                }
            }
        case .double(let forest):
            withUnsafeTemporaryAllocation(of: Double.self, capacity: featureCount) { input in
                withUnsafeTemporaryAllocation(of: UInt16.self, capacity: max(forest.slotCount, 1)) { slots in
                    for i in 0..<featureCount { input[i] = ensemble.libraryValue(row[i]) }
                    forest.binRow(input.baseAddress!, into: slots.baseAddress!)
                    for g in 0..<outputCount { margins[g] = ensemble.baseMargins[g] }
                    forest.accumulate(slots.baseAddress!, into: margins.baseAddress!, outputCount: outputCount, recording: positions)
                }
            }
        case .reference:
            precondition(positions == nil, "leaf positions need the complete-tree layout")
            ensemble.referenceMargins(row, into: margins)
        }
    }

    /// ``margins(_:into:positions:)`` for `count` rows (``featureCount`` values
    /// each, one after another) at once, with identical results: the compiled
    /// layout descends each block of trees for every row before the next block.
    ///
    /// - Parameters:
    ///   - margins: `count * outputCount` slots, row after row.
    ///   - positions: as for one row, with a stride of `positionStride` per row.
    func margins(rows: UnsafeBufferPointer<Double>, count: Int, into margins: UnsafeMutableBufferPointer<Double>,
                 positions: UnsafeMutablePointer<UInt32>?, positionStride: Int) {
        let featureCount = self.featureCount
        let outputCount = self.outputCount
        precondition(rows.count >= count * featureCount, "rows has \(rows.count) values, \(count) rows need \(count * featureCount)")
        precondition(margins.count >= count * outputCount, "margins has \(margins.count) slots, \(count) rows need \(count * outputCount)")
        func run<Leaf>(_ forest: CompiledForest<Leaf>, _ domain: (Double) -> Double) {
            let slotCount = forest.slotCount
            withUnsafeTemporaryAllocation(of: Double.self, capacity: featureCount) { input in
                withUnsafeTemporaryAllocation(of: UInt16.self, capacity: max(count * slotCount, 1)) { slots in
                    withUnsafeTemporaryAllocation(of: Leaf.self, capacity: max(count * outputCount, 1)) { sums in
                        for r in 0..<count {
                            for i in 0..<featureCount { input[i] = domain(rows[r &* featureCount &+ i]) }
                            forest.binRow(input.baseAddress!, into: slots.baseAddress! + r &* slotCount)
                            for g in 0..<outputCount { sums[r &* outputCount &+ g] = Leaf(ensemble.baseMargins[g]) }
                        }
                        forest.accumulate(rows: count, slots: slots.baseAddress!, into: sums.baseAddress!, outputCount: outputCount,
                                          recording: positions, positionStride: positionStride)
                        for i in 0..<count * outputCount { margins[i] = Double(sums[i]) }
                    }
                }
            }
        }
        switch engine {
        case .float(let forest):
            run(forest) { Double(Float($0)) }
        case .double(let forest):
            run(forest) { ensemble.libraryValue($0) }
        case .reference:
            precondition(positions == nil, "leaf positions need the complete-tree layout")
            for r in 0..<count {
                ensemble.referenceMargins(UnsafeBufferPointer(rebasing: rows[r * featureCount..<(r + 1) * featureCount]),
                                          into: UnsafeMutableBufferPointer(rebasing: margins[r * outputCount..<(r + 1) * outputCount]))
            }
        }
    }

    /// The compiled layout's block lanes in order, each with its tree (the tree
    /// count for a padding lane) and depth, when every tree is laid out as a
    /// complete binary tree (see ``QuantizedForest``); nil otherwise.
    var completeLanes: [(tree: Int, depth: Int)]? {
        switch engine {
        case .float(let forest): forest.completeLanes
        case .double(let forest): forest.completeLanes
        case .reference: nil
        }
    }

    /// Writes the library's default prediction for `row` into `out`: a probability
    /// for binary models, class probabilities for multiclass, the class index for
    /// XGBoost `multi:softmax`, the regression value otherwise.
    ///
    /// - Parameters:
    ///   - row: ``featureCount`` values in model order; NaN means missing.
    ///   - out: at least ``predictionCount`` slots.
    public func predict(_ row: UnsafeBufferPointer<Double>, into out: UnsafeMutableBufferPointer<Double>) {
        precondition(out.count >= predictionCount, "out has \(out.count) slots, the model predicts \(predictionCount) values")
        withUnsafeTemporaryAllocation(of: Double.self, capacity: outputCount) { margins in
            self.margins(row, into: margins)
            predict(margins: margins, into: out)
        }
    }

    /// ``predict(_:into:)`` for `count` rows at once (``featureCount`` values
    /// each, one after another), with identical results, faster: each block
    /// of trees is descended for every row while its nodes are in L1.
    ///
    /// - Parameter out: `count * predictionCount` slots, row after row.
    public func predict(rows: UnsafeBufferPointer<Double>, count: Int, into out: UnsafeMutableBufferPointer<Double>) {
        precondition(out.count >= count * predictionCount, "out has \(out.count) slots, \(count) rows need \(count * predictionCount)")
        let outputs = outputCount, p = predictionCount
        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(count * outputs, 1)) { margins in
            self.margins(rows: rows, count: count, into: margins, positions: nil, positionStride: 0)
            for r in 0..<count {
                predict(margins: UnsafeMutableBufferPointer(rebasing: margins[r * outputs..<(r + 1) * outputs]),
                        into: UnsafeMutableBufferPointer(rebasing: out[r * p..<(r + 1) * p]))
            }
        }
    }

    /// The prediction from a row's raw margins (which it may overwrite).
    func predict(margins: UnsafeMutableBufferPointer<Double>, into out: UnsafeMutableBufferPointer<Double>) {
        ensemble.averageIfNeeded(margins)
        ensemble.transform.apply(UnsafeBufferPointer(margins), into: out, precision: ensemble.precision)
    }

    /// Convenience: the prediction for one row as an array.
    public func predict(_ row: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: predictionCount)
        row.withUnsafeBufferPointer { r in out.withUnsafeMutableBufferPointer { predict(r, into: $0) } }
        return out
    }

    /// Convenience: the raw margins for one row as an array.
    public func margins(_ row: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: outputCount)
        row.withUnsafeBufferPointer { r in out.withUnsafeMutableBufferPointer { margins(r, into: $0) } }
        return out
    }
}

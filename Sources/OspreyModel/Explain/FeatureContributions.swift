/// How per-feature contributions are computed.
public enum ContributionMethod: String, Sendable, CaseIterable {
    /// Exact Shapley values with the TreeSHAP algorithm (Lundberg et al.); equals
    /// XGBoost `pred_contribs=True` and LightGBM `pred_contrib=True`. O(leaves·depth²) per tree.
    case exact
    /// Path attribution (Saabas): each split on the decision path credits its feature
    /// with the change in the expected value; equals XGBoost
    /// `pred_contribs=True, approx_contribs=True`. O(depth) per tree: cheap enough for every event.
    case approximate
}

/// Why contributions could not be computed.
public struct ContributionError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Computes per-feature contributions to a model's margins.
///
/// Holds each tree's node expected values, computed once; create one per model
/// and share it. Contributions are in margin space: for each output, one value
/// per feature then the bias (expected margin), and they sum to the margin.
public struct ContributionExplainer: Sendable {
    /// The model explained.
    public let model: GradientBoostedModel
    /// Its trees.
    public var ensemble: TreeEnsemble { model.ensemble }
    /// Expected value (cover-weighted mean of leaves below) of every node of every tree.
    let nodeMeans: [[Double]]
    let maxDepth: Int
    let hasLinearLeaves: Bool
    /// Every tree's nodes in one tree (children and category words rebased), so
    /// the per-event path walk touches two flat arrays instead of one array
    /// (and its reference count) per tree.
    let flat: DecisionTree
    let flatMeans: [Double]
    /// Where each tree starts in ``flat`` and which output it adds to.
    let roots: [(node: Int32, output: Int32)]
    /// Path attribution by leaf position, when the model's compiled layout has
    /// only complete trees.
    let paths: PathTable?

    /// Whether path contributions are read from a per-leaf table in the same
    /// descent as the score (every tree compiled as a complete binary tree, as
    /// depth-wise trees up to depth 8 are) rather than by walking each tree again.
    public var readsPathsByLeaf: Bool { paths != nil }

    /// Prepares explanations for `ensemble` (compiling it for scoring too).
    public init(_ ensemble: TreeEnsemble) {
        self.init(GradientBoostedModel(ensemble: ensemble))
    }

    /// Prepares explanations for `model`.
    public init(_ model: GradientBoostedModel) {
        self.model = model
        let ensemble = model.ensemble
        var means: [[Double]] = []
        var deepest = 0
        for tree in ensemble.trees {
            var m = [Double](repeating: 0, count: tree.nodes.count)
            Self.fillMeans(tree, 0, &m)
            means.append(m)
            deepest = max(deepest, tree.depth)
        }
        nodeMeans = means
        maxDepth = deepest
        hasLinearLeaves = ensemble.trees.contains { !$0.linearLeaves.isEmpty }
        var nodes: [TreeNode] = []
        var words: [UInt32] = []
        var roots: [(node: Int32, output: Int32)] = []
        for tree in ensemble.trees {
            let offset = Int32(nodes.count), wordOffset = Int32(words.count)
            roots.append((offset, Int32(tree.outputGroup)))
            for var node in tree.nodes {
                if !node.isLeaf {
                    node.leftChild += offset
                    node.rightChild += offset
                    node.categoryWordsStart += wordOffset
                }
                nodes.append(node)
            }
            words += tree.categoryWords
        }
        flat = DecisionTree(nodes: nodes, categoryWords: words, outputGroup: 0)
        flatMeans = means.flatMap { $0 }
        self.roots = roots
        // Linear trees never compile to the complete layout: no table for them.
        paths = model.completeLanes.map { PathTable(ensemble, means: means, lanes: $0) }
    }

    @discardableResult
    static func fillMeans(_ tree: DecisionTree, _ n: Int, _ means: inout [Double]) -> Double {
        let node = tree.nodes[n]
        if node.isLeaf {
            means[n] = node.leafValue
            return node.leafValue
        }
        let l = Int(node.leftChild), r = Int(node.rightChild)
        let left = fillMeans(tree, l, &means), right = fillMeans(tree, r, &means)
        let value = (left * tree.nodes[l].cover + right * tree.nodes[r].cover) / node.cover
        means[n] = value
        return value
    }

    /// Number of values ``contributions(_:method:)`` returns: `outputCount × (featureCount + 1)`.
    public var valueCount: Int { ensemble.outputCount * (ensemble.featureCount + 1) }

    /// Contributions for one row: for each output, `featureCount` values then the bias.
    public func contributions(_ row: [Double], method: ContributionMethod) throws(ContributionError) -> [Double] {
        var phi = [Double](repeating: 0, count: valueCount)
        try row.withUnsafeBufferPointer { (r) throws(ContributionError) in
            try phi.withUnsafeMutableBufferPointer { (out) throws(ContributionError) in
                try contributions(r, method: method, into: out)
            }
        }
        return phi
    }

    /// Writes contributions for one row into `out` (``valueCount`` slots): for each
    /// output, `featureCount` values then the bias. Allocates nothing for
    /// ``ContributionMethod/approximate``.
    public func contributions(
        _ row: UnsafeBufferPointer<Double>, method: ContributionMethod, into out: UnsafeMutableBufferPointer<Double>
    ) throws(ContributionError) {
        try contributions(row, method: method, into: out, byLeaf: true)
    }

    /// ``contributions(_:method:into:)``; with `byLeaf` false, path contributions
    /// always come from walking every tree's nodes, the reference the leaf table
    /// is tested and measured against. The results differ in the last bits at
    /// most: the table's credits are summed in another order.
    public func contributions(
        _ row: UnsafeBufferPointer<Double>, method: ContributionMethod, into out: UnsafeMutableBufferPointer<Double>, byLeaf: Bool
    ) throws(ContributionError) {
        let featureCount = ensemble.featureCount
        guard row.count >= featureCount else {
            throw ContributionError(description: "row has \(row.count) values, the model needs \(featureCount)")
        }
        guard out.count >= valueCount else {
            throw ContributionError(description: "output has \(out.count) slots, contributions need \(valueCount)")
        }
        if hasLinearLeaves {
            throw ContributionError(description: "contributions are not defined for linear trees (LightGBM refuses them too)")
        }
        if method == .approximate, byLeaf, let paths {
            withUnsafeTemporaryAllocation(of: Double.self, capacity: ensemble.outputCount) { margins in
                withUnsafeTemporaryAllocation(of: UInt32.self, capacity: paths.laneCount) { positions in
                    model.margins(row, into: margins, positions: positions.baseAddress!)
                    paths.attribute(positions.baseAddress!, into: out.baseAddress!)
                }
            }
            return
        }
        let width = featureCount + 1
        for i in 0..<valueCount { out[i] = 0 }
        for g in 0..<ensemble.outputCount { out[g * width + width - 1] = ensemble.baseMargins[g] }
        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(featureCount, 1)) { x in
            for i in 0..<featureCount { x[i] = ensemble.libraryValue(row[i]) }
            let xs = UnsafePointer(x.baseAddress!)
            switch method {
            case .approximate:
                saabas(x: xs, phi: out.baseAddress!, width: width)
            case .exact:
                withUnsafeTemporaryAllocation(of: PathElement.self, capacity: (maxDepth + 2) * (maxDepth + 3) / 2 + 1) { path in
                    for (t, tree) in ensemble.trees.enumerated() {
                        let base = out.baseAddress! + tree.outputGroup * width
                        base[width - 1] += nodeMeans[t][0]
                        var walk = TreeShapWalk(tree: tree, convention: ensemble.convention, x: xs, phi: base, path: path.baseAddress!)
                        walk.recurse(node: 0, parentStart: 0, uniqueDepth: 0, zeroFraction: 1, oneFraction: 1, feature: -1)
                    }
                }
            }
        }
    }

    /// The model's prediction for `row` (as ``GradientBoostedModel/predict(_:into:)``)
    /// and its path contributions (as ``contributions(_:method:into:)`` with
    /// ``ContributionMethod/approximate``) from one descent of the trees when the
    /// compiled layout allows: the leaf each tree reaches fixes its path, so the
    /// credits are read from a table instead of walking the tree again.
    ///
    /// - Parameters:
    ///   - prediction: at least ``GradientBoostedModel/predictionCount`` slots.
    ///   - contributions: at least ``valueCount`` slots.
    public func predict(
        _ row: UnsafeBufferPointer<Double>, into prediction: UnsafeMutableBufferPointer<Double>,
        contributions out: UnsafeMutableBufferPointer<Double>
    ) throws(ContributionError) {
        var workspace = [UInt32](repeating: 0, count: workspaceCount)
        try workspace.withUnsafeMutableBufferPointer { (w) throws(ContributionError) in
            try predict(row, into: prediction, contributions: out, workspace: w)
        }
    }

    /// Scratch values ``predict(_:into:contributions:workspace:)`` needs.
    public var workspaceCount: Int { paths?.laneCount ?? 0 }

    /// ``predict(_:into:contributions:)`` with caller-owned scratch memory
    /// (``workspaceCount`` values), so that a caller scoring event after event
    /// allocates nothing: a temporary buffer this size (one value per tree) is
    /// too large for the stack and would be a heap allocation per call.
    public func predict(
        _ row: UnsafeBufferPointer<Double>, into prediction: UnsafeMutableBufferPointer<Double>,
        contributions out: UnsafeMutableBufferPointer<Double>, workspace: UnsafeMutableBufferPointer<UInt32>
    ) throws(ContributionError) {
        guard let paths, row.count >= ensemble.featureCount, out.count >= valueCount else {
            model.predict(row, into: prediction)
            try contributions(row, method: .approximate, into: out)
            return
        }
        precondition(prediction.count >= model.predictionCount, "prediction has \(prediction.count) slots, the model predicts \(model.predictionCount) values")
        precondition(workspace.count >= paths.laneCount, "workspace has \(workspace.count) values, the model needs \(paths.laneCount)")
        withUnsafeTemporaryAllocation(of: Double.self, capacity: ensemble.outputCount) { margins in
            model.margins(row, into: margins, positions: workspace.baseAddress!)
            paths.attribute(workspace.baseAddress!, into: out.baseAddress!)
            model.predict(margins: margins, into: prediction)
        }
    }

    /// ``predict(_:into:contributions:workspace:)`` for `count` rows
    /// (``GradientBoostedModel/featureCount`` values each, one after another),
    /// with identical results: the trees are descended block by block for all
    /// the rows (see ``GradientBoostedModel``), then each row's credits are read.
    ///
    /// - Parameters:
    ///   - predictions: `count * predictionCount` slots, row after row.
    ///   - contributions: `count * valueCount` slots, row after row.
    ///   - workspace: `count * workspaceCount` values.
    /// - Throws: as the single-row form, after writing every prediction.
    public func predict(
        rows: UnsafeBufferPointer<Double>, count: Int, into predictions: UnsafeMutableBufferPointer<Double>,
        contributions out: UnsafeMutableBufferPointer<Double>, workspace: UnsafeMutableBufferPointer<UInt32>
    ) throws(ContributionError) {
        let f = ensemble.featureCount, p = model.predictionCount, v = valueCount
        precondition(rows.count >= count * f, "rows has \(rows.count) values, \(count) rows need \(count * f)")
        precondition(predictions.count >= count * p, "predictions has \(predictions.count) slots, \(count) rows need \(count * p)")
        precondition(out.count >= count * v, "contributions has \(out.count) slots, \(count) rows need \(count * v)")
        guard let paths else {
            // Every prediction is written before a model without path credits throws.
            model.predict(rows: rows, count: count, into: predictions)
            for r in 0..<count {
                try contributions(UnsafeBufferPointer(rebasing: rows[r * f..<(r + 1) * f]), method: .approximate,
                                  into: UnsafeMutableBufferPointer(rebasing: out[r * v..<(r + 1) * v]))
            }
            return
        }
        let lanes = paths.laneCount
        precondition(workspace.count >= count * lanes, "workspace has \(workspace.count) values, \(count) rows need \(count * lanes)")
        let outputs = ensemble.outputCount
        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(count * outputs, 1)) { margins in
            model.margins(rows: rows, count: count, into: margins, positions: workspace.baseAddress!, positionStride: lanes)
            for r in 0..<count {
                paths.attribute(workspace.baseAddress! + r * lanes, into: out.baseAddress! + r * v)
                model.predict(margins: UnsafeMutableBufferPointer(rebasing: margins[r * outputs..<(r + 1) * outputs]),
                              into: UnsafeMutableBufferPointer(rebasing: predictions[r * p..<(r + 1) * p]))
            }
        }
    }

    /// The `count` features that raised output `output` most, largest first
    /// (features with a positive contribution only; ties go to the lower feature index).
    ///
    /// - Parameter contributions: values from ``contributions(_:method:)``.
    public func topReasons(_ contributions: [Double], output: Int = 0, count: Int) -> [ReasonCode] {
        var best: [ReasonCode] = []
        contributions.withUnsafeBufferPointer { topReasons($0, output: output, count: count, into: &best) }
        return best
    }

    /// ``topReasons(_:output:count:)`` into a caller-owned array (emptied first,
    /// its capacity kept), so that the per-event path allocates nothing.
    public func topReasons(_ contributions: UnsafeBufferPointer<Double>, output: Int = 0, count: Int, into best: inout [ReasonCode]) {
        best.removeAll(keepingCapacity: true)
        let width = ensemble.featureCount + 1
        let start = output * width
        guard count > 0, output >= 0, output < ensemble.outputCount, contributions.count >= start + width else { return }
        let phi = contributions.baseAddress! + start
        // Ranked by index first: moving reason codes (each holding a name) in
        // and out of `best` cost about 2% of the stream's time.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { top in
            var n = 0
            for f in 0..<width - 1 {
                let c = phi[f]
                guard c > 0 else { continue }
                if n == count {
                    guard c > phi[top[n - 1]] else { continue }
                    n -= 1
                }
                // Insertion keeps the order: largest first, ties to the lower index
                // (which arrived first).
                var at = n
                while at > 0, phi[top[at - 1]] < c {
                    top[at] = top[at - 1]
                    at -= 1
                }
                top[at] = f
                n += 1
            }
            let names = ensemble.featureNames
            for i in 0..<n { best.append(ReasonCode(featureIndex: top[i], feature: names[top[i]], contribution: phi[top[i]])) }
        }
    }

    /// Path attribution over every tree: each split on the decision path
    /// credits its feature with the change in expected value; the root's
    /// expected value goes to the bias.
    private func saabas(x: UnsafePointer<Double>, phi: UnsafeMutablePointer<Double>, width: Int) {
        let convention = ensemble.convention
        flat.nodes.withUnsafeBufferPointer { nodes in
            flatMeans.withUnsafeBufferPointer { means in
                roots.withUnsafeBufferPointer { roots in
                    for root in roots {
                        let out = phi + Int(root.output) * width
                        var n = Int(root.node)
                        var value = means[n]
                        out[width - 1] += value
                        while nodes[n].leftChild >= 0 {
                            let node = nodes[n]
                            n = Int(flat.goesLeft(node, x[Int(node.feature)], convention: convention) ? node.leftChild : node.rightChild)
                            out[Int(node.feature)] += means[n] - value
                            value = means[n]
                        }
                    }
                }
            }
        }
    }
}

/// Path (Saabas) attribution read by leaf. When the compiled layout stores
/// every tree as a complete binary tree (heap positions from 1 at the root),
/// a descent ends at a position `k` of the last level, and the path to it
/// is fixed: each step, into position `k >> s`, credits an output slot with
/// the change in expected value. Positions below a leaf that sits above the
/// last level are padding and credit 0.
///
/// Two layouts, chosen at model load:
/// - ``LeafCredits`` (models with up to 32 features, as fraud and click
///   models are): each leaf's path already summed per feature, one `Float`
///   per feature, so an event reads one record per tree (a cache line for up
///   to 16 features) and adds it to vector accumulators with no dependency
///   through memory. Scattering 300 depth-6 paths step by step cost 4.4 µs per
///   row warm and a quarter of the daemon's core.
/// - Steps (wider models, where a record per leaf would outgrow the cache):
///   the `depth` steps of the path to leaf `j` of the tree in lane `l` are
///   `slots[bases[l] + j * depth + i]` and `deltas[...]`, root side first.
struct PathTable: Sendable {
    /// How the credits are stored (see the type's documentation).
    enum Layout: Sendable {
        case records(LeafCredits)
        /// `bases` per block lane, `lanes`: the lane of each tree in tree order,
        /// `slots`: `output * (featureCount + 1) + feature` per step.
        case steps(bases: [Int], lanes: [Int], slots: [UInt32], deltas: [Double])
    }

    /// The depth of each block lane (see ``GradientBoostedModel/completeLanes``); 0 for padding.
    let depths: [Int]
    let layout: Layout
    /// Initial values of every output's contributions: zero, except the bias,
    /// which is the base margin plus each tree's expected value, summed in tree order.
    let initial: [Double]

    var laneCount: Int { depths.count }

    /// The per-leaf records, when the model is narrow enough for them.
    var records: LeafCredits? {
        if case .records(let records) = layout { return records }
        return nil
    }

    /// Widest model (features per output) credited by per-leaf records.
    static var maximumRecordWidth: Int { 32 }

    init(_ ensemble: TreeEnsemble, means: [[Double]], lanes: [(tree: Int, depth: Int)]) {
        let width = ensemble.featureCount + 1
        var bases: [Int] = [], depths: [Int] = [], slots: [UInt32] = [], deltas: [Double] = []
        var laneOfTree = [Int](repeating: 0, count: ensemble.trees.count)
        var initial = [Double](repeating: 0, count: ensemble.outputCount * width)
        for g in 0..<ensemble.outputCount { initial[g * width + width - 1] = ensemble.baseMargins[g] }
        for (t, tree) in ensemble.trees.enumerated() { initial[tree.outputGroup * width + width - 1] += means[t][0] }
        for (lane, (t, depth)) in lanes.enumerated() {
            bases.append(slots.count)
            guard t < ensemble.trees.count else {
                depths.append(0)  // padding: no steps
                continue
            }
            laneOfTree[t] = lane
            depths.append(depth)
            let tree = ensemble.trees[t], base = slots.count, output = tree.outputGroup * width
            slots.append(contentsOf: repeatElement(UInt32(output), count: 2 << depth))
            deltas.append(contentsOf: repeatElement(0, count: 2 << depth))
            func fill(_ n: Int, _ k: Int, _ level: Int) {
                let node = tree.nodes[n]
                guard level < depth, !node.isLeaf else { return }
                for (child, position) in [(Int(node.leftChild), 2 * k), (Int(node.rightChild), 2 * k + 1)] {
                    slots[base + position] = UInt32(output + Int(node.feature))
                    deltas[base + position] = means[t][child] - means[t][n]
                    fill(child, position, level + 1)
                }
            }
            fill(0, 1, 0)
        }
        self.depths = depths
        self.initial = initial
        if ensemble.featureCount <= Self.maximumRecordWidth {
            layout = .records(LeafCredits(ensemble, lanes: lanes, heapBases: bases, slots: slots, deltas: deltas))
            return
        }
        // Leaf by leaf: the path to leaf j (position 2^depth + j) steps into
        // positions k >> (depth - 1), ..., k >> 0.
        var pathBases: [Int] = [], pathSlots: [UInt32] = [], pathDeltas: [Double] = []
        for (lane, depth) in depths.enumerated() {
            pathBases.append(pathSlots.count)
            guard depth > 0 else { continue }
            for k in (1 << depth)..<(2 << depth) {
                for shift in (0..<depth).reversed() {
                    pathSlots.append(slots[bases[lane] + (k >> shift)])
                    pathDeltas.append(deltas[bases[lane] + (k >> shift)])
                }
            }
        }
        layout = .steps(bases: pathBases, lanes: laneOfTree, slots: pathSlots, deltas: pathDeltas)
    }

    /// Writes every output's contributions for the leaf positions each lane reached.
    func attribute(_ positions: UnsafePointer<UInt32>, into phi: UnsafeMutablePointer<Double>) {
        switch layout {
        case .records(let records):
            records.attribute(positions, initial: initial, into: phi)
        case .steps(let bases, let lanes, let slots, let deltas):
            attributeSteps(positions, bases: bases, lanes: lanes, slots: slots, deltas: deltas, into: phi)
        }
    }

    /// The step layout's ``attribute(_:into:)``.
    ///
    /// Most credits go to a few features, so one running sum per feature would
    /// be a chain of dependent additions through memory; trees are dealt to
    /// four partial sums instead, added up at the end (results differ from the
    /// node walk in the last bits only).
    func attributeSteps(_ positions: UnsafePointer<UInt32>, bases: [Int], lanes: [Int], slots: [UInt32], deltas: [Double],
                        into phi: UnsafeMutablePointer<Double>) {
        let count = initial.count
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 4 * count) { partial in
            let p = partial.baseAddress!
            p.initialize(repeating: 0, count: 4 * count)
            bases.withUnsafeBufferPointer { bases in
                depths.withUnsafeBufferPointer { depths in
                    lanes.withUnsafeBufferPointer { lanes in
                        slots.withUnsafeBufferPointer { slots in
                            deltas.withUnsafeBufferPointer { deltas in
                                for t in 0..<lanes.count {
                                    let lane = lanes[t]
                                    let depth = depths[lane]
                                    let row = bases[lane] &+ (Int(positions[lane]) &- (1 &<< depth)) &* depth
                                    let sums = p + (t & 3) &* count
                                    for i in row..<(row &+ depth) {
                                        sums[Int(slots[i])] += deltas[i]
                                    }
                                }
                            }
                        }
                    }
                }
            }
            initial.withUnsafeBufferPointer { initial in
                for i in 0..<count { phi[i] = initial[i] + ((p[i] + p[count &+ i]) + (p[2 &* count &+ i] + p[3 &* count &+ i])) }
            }
        }
    }
}

/// Each leaf's path credits summed per feature, one record per leaf: the
/// record of the leaf at heap position `k` of the tree in lane `l` is the
/// ``stride`` floats at byte `origins[l] + k * stride * 4` of ``values``, one
/// per feature of the tree's output, zero-padded. Padding lanes have records
/// of zeros, so that every lane is read the same way.
///
/// Credits are stored in `Float`, the precision XGBoost computes
/// contributions in, summed in `Float` over a block's eight trees and in
/// `Double` over blocks: a row's credit for a feature differs from the node
/// walk's by less than `2^-20` times the sum of that feature's per-tree
/// credits in absolute value.
///
/// `@unchecked Sendable`: written in `init`, only read afterwards, freed in `deinit`.
final class LeafCredits: @unchecked Sendable {
    /// Floats per record: 16 (one cache line) for up to 16 features, else 32.
    let stride: Int
    /// Byte offset in ``values`` of each lane's (virtual) record for heap position 0.
    let origins: [Int]
    /// Output of each lane's tree.
    let groups: [Int]
    let outputCount: Int
    let featureCount: Int
    /// 64-byte aligned, so that a record of up to 16 features is one cache line.
    let values: UnsafeMutablePointer<Float>

    /// Sums the heap-ordered steps (`slots`/`deltas` from `heapBases`, as
    /// ``PathTable`` builds them) of every leaf's path per feature.
    init(_ ensemble: TreeEnsemble, lanes: [(tree: Int, depth: Int)], heapBases: [Int], slots: [UInt32], deltas: [Double]) {
        precondition(ensemble.featureCount <= 32, "records hold at most 32 features")
        precondition(lanes.count % 8 == 0, "lanes come in blocks of eight")
        let width = ensemble.featureCount + 1
        featureCount = ensemble.featureCount
        outputCount = ensemble.outputCount
        let stride = ensemble.featureCount <= 16 ? 16 : 32
        self.stride = stride
        var starts: [Int] = [], total = 0
        for (_, depth) in lanes {
            starts.append(total)
            total += (1 << depth) * stride
        }
        origins = zip(starts, lanes).map { start, lane in (start - (1 << lane.depth) * stride) * MemoryLayout<Float>.stride }
        groups = lanes.map { $0.tree < ensemble.trees.count ? ensemble.trees[$0.tree].outputGroup : 0 }
        values = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(total, 1))
        values.initialize(repeating: 0, count: max(total, 1))
        var sums = [Double](repeating: 0, count: featureCount)
        for (lane, (t, depth)) in lanes.enumerated() where t < ensemble.trees.count {
            let output = ensemble.trees[t].outputGroup * width
            for j in 0..<(1 << depth) {
                for f in 0..<featureCount { sums[f] = 0 }
                let k = (1 << depth) + j
                // Root side first, as the node walk adds them.
                for shift in (0..<depth).reversed() {
                    let position = heapBases[lane] + (k >> shift)
                    sums[Int(slots[position]) - output] += deltas[position]
                }
                let record = values + starts[lane] + j * stride
                for f in 0..<featureCount { record[f] = Float(sums[f]) }
            }
        }
    }

    deinit { values.deallocate() }

    /// Writes every output's contributions (`initial` plus the records of the
    /// leaves reached, `positions` by lane) into `phi`.
    func attribute(_ positions: UnsafePointer<UInt32>, initial: [Double], into phi: UnsafeMutablePointer<Double>) {
        let chunks = stride / 8
        withUnsafeTemporaryAllocation(of: SIMD8<Double>.self, capacity: outputCount * chunks) { buffer in
            let acc = buffer.baseAddress!
            acc.initialize(repeating: .zero, count: outputCount * chunks)
            origins.withUnsafeBufferPointer { origins in
                let raw = UnsafeRawPointer(values)
                // One output: a block's eight records are added in `Float` (no
                // conversions) and each block's sum in `Double`, all in registers
                // (through memory, each tree's additions would wait on the
                // previous tree's stores). Lanes come in blocks of eight.
                if outputCount == 1 && chunks == 2 {
                    var a0 = SIMD8<Double>.zero, a1 = SIMD8<Double>.zero
                    for block in Swift.stride(from: 0, to: origins.count, by: 8) {
                        var b = SIMD16<Float>.zero
                        for lane in block..<(block &+ 8) {
                            let record = raw + (origins[lane] &+ Int(positions[lane]) &* 64)
                            b += record.load(as: SIMD16<Float>.self)
                        }
                        a0 += SIMD8<Double>(b.lowHalf)
                        a1 += SIMD8<Double>(b.highHalf)
                    }
                    acc[0] = a0
                    acc[1] = a1
                } else if outputCount == 1 {
                    var a0 = SIMD8<Double>.zero, a1 = SIMD8<Double>.zero, a2 = SIMD8<Double>.zero, a3 = SIMD8<Double>.zero
                    for block in Swift.stride(from: 0, to: origins.count, by: 8) {
                        var low = SIMD16<Float>.zero, high = SIMD16<Float>.zero
                        for lane in block..<(block &+ 8) {
                            let record = raw + (origins[lane] &+ Int(positions[lane]) &* 128)
                            low += record.load(as: SIMD16<Float>.self)
                            high += record.load(fromByteOffset: 64, as: SIMD16<Float>.self)
                        }
                        a0 += SIMD8<Double>(low.lowHalf)
                        a1 += SIMD8<Double>(low.highHalf)
                        a2 += SIMD8<Double>(high.lowHalf)
                        a3 += SIMD8<Double>(high.highHalf)
                    }
                    acc[0] = a0
                    acc[1] = a1
                    acc[2] = a2
                    acc[3] = a3
                } else {
                    groups.withUnsafeBufferPointer { groups in
                        for lane in 0..<origins.count {
                            let record = raw + (origins[lane] &+ Int(positions[lane]) &* (stride &* 4))
                            let sums = acc + groups[lane] &* chunks
                            for c in 0..<chunks {
                                sums[c] += SIMD8<Double>(record.load(fromByteOffset: c &* 32, as: SIMD8<Float>.self))
                            }
                        }
                    }
                }
            }
            let width = featureCount + 1
            acc.withMemoryRebound(to: Double.self, capacity: outputCount * stride) { sums in
                for g in 0..<outputCount {
                    for f in 0..<featureCount { phi[g * width + f] = initial[g * width + f] + sums[g * stride + f] }
                    phi[g * width + featureCount] = initial[g * width + featureCount]
                }
            }
        }
    }
}

/// A feature that pushed a score up, with how much it added to the margin.
public struct ReasonCode: Sendable, Equatable, CustomStringConvertible {
    /// Index of the feature in model order.
    public let featureIndex: Int
    /// Name of the feature.
    public let feature: String
    /// Its contribution to the margin (log-odds for binary models).
    public let contribution: Double

    public var description: String { "\(feature) (+\(contribution))" }
}

/// One element of TreeSHAP's path of unique features.
struct PathElement {
    var feature: Int = -1
    var zeroFraction: Double = 0
    var oneFraction: Double = 0
    var weight: Double = 0
}

/// One TreeSHAP pass over a tree. Each recursion level keeps its own copy of
/// the path just after its parent's, so siblings see the path as the parent left it.
struct TreeShapWalk {
    let tree: DecisionTree
    let convention: SplitConvention
    let x: UnsafePointer<Double>
    let phi: UnsafeMutablePointer<Double>
    let path: UnsafeMutablePointer<PathElement>

    /// Adds a feature to the path at position `depth`, updating the permutation weights.
    func extend(_ p: UnsafeMutablePointer<PathElement>, depth: Int, zero: Double, one: Double, feature: Int) {
        p[depth] = PathElement(feature: feature, zeroFraction: zero, oneFraction: one, weight: depth == 0 ? 1 : 0)
        let d = Double(depth + 1)
        var i = depth - 1
        while i >= 0 {
            p[i + 1].weight += one * p[i].weight * Double(i + 1) / d
            p[i].weight = zero * p[i].weight * Double(depth - i) / d
            i -= 1
        }
    }

    /// Removes element `index` from the path, undoing its effect on the weights.
    func unwind(_ p: UnsafeMutablePointer<PathElement>, depth: Int, index: Int) {
        let one = p[index].oneFraction, zero = p[index].zeroFraction
        let d = Double(depth + 1)
        var next = p[depth].weight
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let saved = p[i].weight
                p[i].weight = next * d / (Double(i + 1) * one)
                next = saved - p[i].weight * zero * Double(depth - i) / d
            } else {
                p[i].weight = p[i].weight * d / (zero * Double(depth - i))
            }
            i -= 1
        }
        var k = index
        while k < depth {
            p[k].feature = p[k + 1].feature
            p[k].zeroFraction = p[k + 1].zeroFraction
            p[k].oneFraction = p[k + 1].oneFraction
            k += 1
        }
    }

    /// The total weight of the path with element `index` removed, without modifying it.
    func unwoundSum(_ p: UnsafeMutablePointer<PathElement>, depth: Int, index: Int) -> Double {
        let one = p[index].oneFraction, zero = p[index].zeroFraction
        let d = Double(depth + 1)
        var next = p[depth].weight
        var total = 0.0
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let t = next * d / (Double(i + 1) * one)
                total += t
                next = p[i].weight - t * zero * (Double(depth - i) / d)
            } else {
                total += (p[i].weight / zero) / (Double(depth - i) / d)
            }
            i -= 1
        }
        return total
    }

    mutating func recurse(node n: Int, parentStart: Int, uniqueDepth: Int, zeroFraction: Double, oneFraction: Double, feature: Int) {
        var depth = uniqueDepth
        // This level's path sits just past the parent's (which holds `depth` elements).
        let start = parentStart + depth + 1
        let p = path + start
        for i in 0..<depth { p[i] = path[parentStart + i] }
        extend(p, depth: depth, zero: zeroFraction, one: oneFraction, feature: feature)
        let node = tree.nodes[n]
        if node.isLeaf {
            if depth >= 1 {
                for i in 1...depth {
                    let w = unwoundSum(p, depth: depth, index: i)
                    phi[p[i].feature] += w * (p[i].oneFraction - p[i].zeroFraction) * node.leafValue
                }
            }
            return
        }
        let goesLeft = tree.goesLeft(node, x[Int(node.feature)], convention: convention)
        let hot = Int(goesLeft ? node.leftChild : node.rightChild)
        let cold = Int(goesLeft ? node.rightChild : node.leftChild)
        let cover = node.cover
        let hotZero = tree.nodes[hot].cover / cover
        let coldZero = tree.nodes[cold].cover / cover
        var incomingZero = 1.0, incomingOne = 1.0
        let split = Int(node.feature)
        var k = 1
        while k <= depth, p[k].feature != split { k += 1 }
        if k <= depth {
            incomingZero = p[k].zeroFraction
            incomingOne = p[k].oneFraction
            unwind(p, depth: depth, index: k)
            depth -= 1
        }
        recurse(node: hot, parentStart: start, uniqueDepth: depth + 1, zeroFraction: hotZero * incomingZero, oneFraction: incomingOne, feature: split)
        recurse(node: cold, parentStart: start, uniqueDepth: depth + 1, zeroFraction: coldZero * incomingZero, oneFraction: 0, feature: split)
    }
}

/// The hot-path layout of a tree ensemble with numeric splits.
///
/// **Binning.** Thresholds are replaced by their rank among the thresholds of
/// the same feature. Once per row, each feature's value is turned into a bin
/// (how many of its thresholds it passes) by vector compares against chunks of
/// 16 sorted thresholds: one chunk, or a coarse chunk of every 16th threshold
/// that picks the fine chunk (binary search beyond 256 thresholds). Then every
/// split is one comparison of two 16-bit integers, exact for any input because
/// the bin preserves the library's own comparison (`>=` in `Float` for XGBoost,
/// `>` in `Double` for LightGBM). Missing-value rules become a choice of "slot":
/// each feature is binned five ways (NaN lowest, NaN highest, NaN as zero,
/// zero-and-NaN lowest, zero-and-NaN highest) and each node reads the slot its rule needs.
///
/// **Lock-step descent.** Trees are walked eight at a time, in blocks, for as
/// many steps as the deepest tree of the block needs, with no branches: eight
/// independent chains of loads keep the CPU busy while each waits on memory.
/// Shallow blocks (depth <= 8, as XGBoost's depth-wise trees are) use a complete
/// binary tree per lane, 4-byte nodes in heap order counted from 1, so the
/// children of node `k` are `2k` and `2k+1` and a step is `k = 2k + right`.
/// The eight trees of a block lie one after the other; the kernel is
/// specialised per depth, so a lane's tree is a constant displacement from the
/// block's base, and a step is two loads and arithmetic (see ``Kernel/next(_:_:_:_:)``).
/// Deeper blocks (LightGBM's leaf-wise trees)
/// use 8-byte linked nodes with absorbing leaves (a leaf leads to itself).
/// When grouping trees of similar depth saves steps (estimated from the training
/// covers), blocks take them in depth order and leaf values are summed afterwards
/// in the original tree order.
///
/// Leaf values are added in tree order in the library's precision (`Leaf`), so
/// sums are identical to the reference walker, not merely close.
struct QuantizedForest<Leaf: BinaryFloatingPoint & Sendable>: Sendable {
    /// A split in a complete-tree block.
    struct CompleteNode: Sendable {
        /// Which binned value to read: `usedFeature * 5 + missingVariant`.
        var slot: UInt16
        /// `0xFFFF - rank`: the row goes right when the slot's bin is greater than the
        /// rank, that is when `bin + notRank` carries into bit 16.
        var notRank: UInt16

        init(rank: UInt16, slot: UInt16) {
            self.slot = slot
            notRank = ~rank
        }
    }

    /// A node in a linked block. Leaves have rank ``highestBin`` and `left` pointing at themselves.
    struct LinkedNode: Sendable {
        var rank: UInt16
        var slot: UInt16
        /// Left child; the right child is `left + 1`.
        var left: UInt32
    }

    struct Block: Sendable {
        var depth: Int
        var isComplete: Bool
        /// Complete: first node in ``completeNodes``. Linked: first root in ``linkedRoots``.
        var nodeOffset: Int
        /// Complete: first leaf in ``completeLeaves``.
        var leafOffset: Int
    }

    /// How a slot bins missing values (see the type's documentation).
    enum MissingVariant: Int {
        case nanLowest = 0, nanHighest, nanAsZero, zeroAndNaNLowest, zeroAndNaNHighest
        static var count: Int { 5 }
    }

    struct FeatureBins: Sendable {
        var feature: Int
        var thresholdStart: Int
        var thresholdCount: Int
        /// First value of this feature's chunks in ``searchChunks``; for two-level features
        /// the first chunk holds every ``chunkWidth``-th threshold and the rest follow it.
        var searchStart: Int
        /// 1: one chunk holds every threshold; 2: a coarse chunk, then up to
        /// ``chunkWidth`` chunks; 0: too many thresholds, binary search in ``thresholds``.
        var searchLevels: Int
        /// The bin of 0.0, for LightGBM's NaN-as-zero rule.
        var zeroBin: UInt16
    }

    static var lanes: Int { 8 }
    static var highestBin: UInt16 { .max }
    /// Deepest block stored as complete trees (255 nodes per tree).
    static var maximumCompleteDepth: Int { 8 }
    /// Thresholds compared at once when binning (two 64-byte lines of `Double`;
    /// ``CompiledForest/passed(_:_:)`` loads them as two `SIMD8<Double>`).
    static var chunkWidth: Int { 16 }

    let convention: SplitConvention
    var completeNodes: [CompleteNode] = []
    var completeLeaves: [Leaf] = []
    var linkedNodes: [LinkedNode] = []
    var linkedLeaves: [Leaf] = []
    var linkedRoots: [UInt32] = []
    var blocks: [Block] = []
    /// For each block lane, the original index of its tree (``treeCount`` for padding).
    var laneTrees: [UInt32] = []
    /// Output each tree adds to, by original index (one extra entry for padding).
    var treeGroups: [UInt32] = []
    let treeCount: Int
    /// Whether blocks visit trees in their original order, so sums can be made in the kernel.
    var inOrder = true
    /// Sorted unique thresholds of every used feature, concatenated.
    var thresholds: [Double]
    /// The same thresholds in chunks of ``chunkWidth``, padded with NaN (which no value passes).
    var searchChunks: [Double] = []
    var features: [FeatureBins]

    var slotCount: Int { features.count * MissingVariant.count }

    /// Builds the layout, or returns `nil` when a tree uses something only the
    /// reference walker handles (categorical splits, linear leaves, more than
    /// 65,534 distinct thresholds on one feature).
    init?(_ ensemble: TreeEnsemble) {
        convention = ensemble.convention
        treeCount = ensemble.trees.count
        guard ensemble.trees.allSatisfy({ $0.linearLeaves.isEmpty && !$0.hasCategoricalSplits }) else { return nil }

        // Distinct thresholds per feature, in the library's comparison domain.
        var perFeature: [Int: Set<Double>] = [:]
        for tree in ensemble.trees {
            for node in tree.nodes where !node.isLeaf {
                guard !node.threshold.isNaN else { return nil }
                perFeature[Int(node.feature), default: []].insert(node.threshold)
            }
        }
        var features: [FeatureBins] = []
        var thresholds: [Double] = []
        var searchChunks: [Double] = []
        var usedIndex: [Int: Int] = [:]
        var rankOf: [Int: [Double: UInt16]] = [:]
        for feature in perFeature.keys.sorted() {
            let sorted = perFeature[feature]!.sorted()
            guard sorted.count < Int(Self.highestBin) else { return nil }
            usedIndex[feature] = features.count
            var ranks: [Double: UInt16] = [:]
            for (r, t) in sorted.enumerated() { ranks[t] = UInt16(r) }
            rankOf[feature] = ranks
            let zeroBin = UInt16(sorted.count { ensemble.convention == .xgboost ? $0 <= 0 : $0 < 0 })
            let width = Self.chunkWidth
            let levels = sorted.count <= width ? 1 : sorted.count <= width * width ? 2 : 0
            features.append(FeatureBins(
                feature: feature, thresholdStart: thresholds.count, thresholdCount: sorted.count,
                searchStart: searchChunks.count, searchLevels: levels, zeroBin: zeroBin))
            thresholds.append(contentsOf: sorted)
            func appendChunk<C: Collection<Double>>(_ values: C) {
                searchChunks.append(contentsOf: values)
                searchChunks.append(contentsOf: repeatElement(.nan, count: width - values.count))
            }
            if levels == 1 { appendChunk(sorted) }
            if levels == 2 {
                appendChunk(stride(from: 0, to: sorted.count, by: width).map { sorted[$0] })
                for start in stride(from: 0, to: sorted.count, by: width) { appendChunk(sorted[start..<min(start + width, sorted.count)]) }
            }
        }
        guard features.count * MissingVariant.count < Int(UInt16.max) else { return nil }
        self.features = features
        self.thresholds = thresholds
        self.searchChunks = searchChunks

        let convention = ensemble.convention
        func split(_ node: TreeNode) -> (rank: UInt16, slot: UInt16) {
            let feature = Int(node.feature)
            let variant = Self.missingVariant(node, convention)
            return (rankOf[feature]![node.threshold]!, UInt16(usedIndex[feature]! * MissingVariant.count + variant.rawValue))
        }

        // Group trees of similar depth into blocks when that saves steps; keep the original order otherwise.
        let depths = ensemble.trees.map(\.depth)
        let pathLengths = ensemble.trees.map(Self.pathLengthDistribution)
        var order = Array(0..<treeCount)
        func steps(_ order: [Int]) -> Double {
            stride(from: 0, to: treeCount, by: Self.lanes).reduce(0) { total, start in
                total + Self.expectedSteps(order[start..<min(start + Self.lanes, treeCount)], depths: depths, pathLengths: pathLengths)
            }
        }
        let sorted = order.sorted { (depths[$0], $0) < (depths[$1], $1) }
        // Summing afterwards costs about one step per tree; reorder only when it saves more.
        if steps(sorted) * Double(Self.lanes) + Double(treeCount) < steps(order) * Double(Self.lanes) {
            order = sorted
            inOrder = false
        }
        treeGroups = ensemble.trees.map { UInt32($0.outputGroup) } + [0]

        for blockStart in stride(from: 0, to: max(treeCount, 1), by: Self.lanes) {
            let lanes = (0..<Self.lanes).map { blockStart + $0 < treeCount ? order[blockStart + $0] : treeCount }
            let depth = lanes.map { $0 < treeCount ? depths[$0] : 0 }.max()!
            laneTrees.append(contentsOf: lanes.map(UInt32.init))
            if depth <= Self.maximumCompleteDepth {
                // Lane `l`'s node `k` (1 ≤ k < 2^depth) sits at `l * 2^depth + k`, its leaf
                // `k - 2^depth` (2^depth ≤ k < 2^(depth+1)) at `l * 2^depth + k - 2^depth`.
                // With the region 64-byte aligned, the two children of a node share a cache line.
                let width = 1 << depth
                let nodeOffset = completeNodes.count, leafOffset = completeLeaves.count
                let regionNodes = (width * Self.lanes + 15) / 16 * 16
                completeNodes.append(contentsOf: repeatElement(CompleteNode(rank: Self.highestBin, slot: 0), count: regionNodes))
                completeLeaves.append(contentsOf: repeatElement(0, count: width * Self.lanes))
                for (lane, t) in lanes.enumerated() where t < treeCount {
                    let tree = ensemble.trees[t]
                    // Fill heap position `k` at `level` from tree node `n`; a leaf above the
                    // last level fills its whole subtree (its splits always go left).
                    func fill(_ n: Int, _ k: Int, _ level: Int) {
                        let node = tree.nodes[n]
                        if level == depth {
                            completeLeaves[leafOffset + lane * width + k - width] = Leaf(node.leafValue)
                            return
                        }
                        if node.isLeaf {
                            completeNodes[nodeOffset + lane * width + k] = CompleteNode(rank: Self.highestBin, slot: 0)
                            fill(n, 2 * k, level + 1)
                            fill(n, 2 * k + 1, level + 1)
                        } else {
                            let (rank, slot) = split(node)
                            completeNodes[nodeOffset + lane * width + k] = CompleteNode(rank: rank, slot: slot)
                            fill(Int(node.leftChild), 2 * k, level + 1)
                            fill(Int(node.rightChild), 2 * k + 1, level + 1)
                        }
                    }
                    fill(0, 1, 0)
                }
                blocks.append(Block(depth: depth, isComplete: true, nodeOffset: nodeOffset, leafOffset: leafOffset))
            } else {
                let rootOffset = linkedRoots.count
                for t in lanes {
                    let rootIndex = linkedNodes.count
                    linkedRoots.append(UInt32(rootIndex))
                    linkedNodes.append(LinkedNode(rank: Self.highestBin, slot: 0, left: UInt32(rootIndex)))
                    linkedLeaves.append(0)
                    guard t < treeCount else { continue }  // padding: one absorbing leaf worth +0
                    let tree = ensemble.trees[t]
                    var queue: [(source: Int32, position: Int)] = [(0, rootIndex)]
                    var head = 0
                    while head < queue.count {
                        let (source, position) = queue[head]
                        head += 1
                        let node = tree.nodes[Int(source)]
                        if node.isLeaf {
                            linkedNodes[position] = LinkedNode(rank: Self.highestBin, slot: 0, left: UInt32(position))
                            linkedLeaves[position] = Leaf(node.leafValue)
                            continue
                        }
                        let left = linkedNodes.count
                        linkedNodes.append(LinkedNode(rank: 0, slot: 0, left: 0))
                        linkedNodes.append(LinkedNode(rank: 0, slot: 0, left: 0))
                        linkedLeaves.append(0)
                        linkedLeaves.append(0)
                        let (rank, slot) = split(node)
                        linkedNodes[position] = LinkedNode(rank: rank, slot: slot, left: UInt32(left))
                        queue.append((node.leftChild, left))
                        queue.append((node.rightChild, left + 1))
                    }
                    if linkedNodes.count >= Int(UInt32.max) { return nil }
                }
                blocks.append(Block(depth: depth, isComplete: false, nodeOffset: rootOffset, leafOffset: 0))
            }
        }
    }

    /// For each path length, the share of training rows whose path through `tree` has
    /// that length (leaves weighted by cover; evenly when covers are missing).
    static func pathLengthDistribution(_ tree: DecisionTree) -> [Double] {
        var leaves: [(depth: Int, cover: Double)] = []
        var stack: [(node: Int32, depth: Int)] = [(0, 0)]
        while let (n, depth) = stack.popLast() {
            let node = tree.nodes[Int(n)]
            if node.isLeaf {
                leaves.append((depth, node.cover))
            } else {
                stack.append((node.leftChild, depth + 1))
                stack.append((node.rightChild, depth + 1))
            }
        }
        let total = leaves.reduce(0) { $0 + max($1.cover, 0) }
        let useCover = total > 0 && total.isFinite
        var shares = [Double](repeating: 0, count: (leaves.map(\.depth).max() ?? 0) + 1)
        for leaf in leaves { shares[leaf.depth] += useCover ? max(leaf.cover, 0) / total : 1 / Double(leaves.count) }
        return shares
    }

    /// Expected lock-step steps of a block: its depth for complete trees, which always
    /// take every step; for linked trees, which stop once every lane sits on a leaf, the
    /// expected longest of the lanes' paths (paths drawn independently per tree).
    static func expectedSteps(_ trees: ArraySlice<Int>, depths: [Int], pathLengths: [[Double]]) -> Double {
        let depth = trees.map { depths[$0] }.max() ?? 0
        if depth <= maximumCompleteDepth { return Double(depth) }
        // E[max] = sum over k of P(max > k) = sum of 1 - prod over lanes of P(path <= k).
        var cumulative = [Double](repeating: 0, count: trees.count)
        var expected = 0.0
        for k in 0..<depth {
            var allWithin = 1.0
            for (lane, tree) in trees.enumerated() {
                let shares = pathLengths[tree]
                if k < shares.count { cumulative[lane] += shares[k] } else { cumulative[lane] = 1 }
                allWithin *= min(cumulative[lane], 1)
            }
            expected += 1 - allWithin
        }
        return expected
    }

    /// Which binned variant of the feature a node reads, from its missing-value rule.
    static func missingVariant(_ node: TreeNode, _ convention: SplitConvention) -> MissingVariant {
        switch convention {
        case .xgboost:
            return node.defaultLeft ? .nanLowest : .nanHighest
        case .lightgbm:
            switch node.missingType {
            case .none: return .nanAsZero
            case .nan: return node.defaultLeft ? .nanLowest : .nanHighest
            case .zero: return node.defaultLeft ? .zeroAndNaNLowest : .zeroAndNaNHighest
            }
        }
    }

    /// The descent loops, over raw pointers taken once per row.
    struct Kernel {
        let completeNodes: UnsafePointer<CompleteNode>
        let completeLeaves: UnsafePointer<Leaf>
        let linkedNodes: UnsafePointer<LinkedNode>
        let linkedLeaves: UnsafePointer<Leaf>
        let linkedRoots: UnsafePointer<UInt32>
        let slots: UnsafePointer<UInt16>
        /// The eight leaf values of the last block, by lane.
        let out: UnsafeMutablePointer<Leaf>

        /// Descends one block, leaving its leaf values in ``out``; for a complete
        /// block, also writes the heap positions reached to `positions` when given.
        @inline(__always)
        func descend(_ block: Block, recording positions: UnsafeMutablePointer<UInt32>?) {
            if block.isComplete { complete(block, recording: positions) } else { linked(block) }
        }

        /// One complete-tree step of lane `lane`: from node `k` to `2k` or `2k + 1`.
        ///
        /// The node is one 32-bit load (slot low, `notRank` high). Adding the bin shifted
        /// to the high half carries into bit 32 exactly when `bin > rank`, so the step is
        /// plain arithmetic: written as a comparison, LLVM materialises eight compare
        /// results with `setb` into registers the lanes do not have to spare, or even a
        /// branch that mispredicts half the time. Measured: the comparison form takes 1.25x
        /// as long for 300 depth-6 trees.
        @inline(__always)
        func next(_ k: UInt, _ lane: Int, _ depth: Int, _ nodes: UnsafePointer<CompleteNode>) -> UInt {
            let word = UInt64(UnsafeRawPointer(nodes + ((lane &<< depth) &+ Int(bitPattern: k))).load(as: UInt32.self))
            let bin = UInt64(slots[Int(word & 0xFFFF)])
            return k &+ k &+ UInt((word &+ (bin &<< 16)) &>> 32)
        }

        @inline(__always)
        func complete(_ block: Block, recording positions: UnsafeMutablePointer<UInt32>?) {
            // One specialisation per depth: lane displacements and the step count become constants.
            switch block.depth {
            case 0: complete(block, depth: 0, recording: positions)
            case 1: complete(block, depth: 1, recording: positions)
            case 2: complete(block, depth: 2, recording: positions)
            case 3: complete(block, depth: 3, recording: positions)
            case 4: complete(block, depth: 4, recording: positions)
            case 5: complete(block, depth: 5, recording: positions)
            case 6: complete(block, depth: 6, recording: positions)
            case 7: complete(block, depth: 7, recording: positions)
            default: complete(block, depth: 8, recording: positions)
            }
        }

        /// The heap positions (2^depth ≤ k < 2^(depth+1)) the eight lanes reach.
        @inline(__always)
        func positions(_ block: Block, depth: Int) -> (UInt, UInt, UInt, UInt, UInt, UInt, UInt, UInt) {
            let nodes = completeNodes + block.nodeOffset
            var k0: UInt = 1, k1: UInt = 1, k2: UInt = 1, k3: UInt = 1
            var k4: UInt = 1, k5: UInt = 1, k6: UInt = 1, k7: UInt = 1
            for _ in 0..<depth {
                k0 = next(k0, 0, depth, nodes); k1 = next(k1, 1, depth, nodes)
                k2 = next(k2, 2, depth, nodes); k3 = next(k3, 3, depth, nodes)
                k4 = next(k4, 4, depth, nodes); k5 = next(k5, 5, depth, nodes)
                k6 = next(k6, 6, depth, nodes); k7 = next(k7, 7, depth, nodes)
            }
            return (k0, k1, k2, k3, k4, k5, k6, k7)
        }

        @inline(__always)
        func complete(_ block: Block, depth: Int, recording positions: UnsafeMutablePointer<UInt32>?) {
            let (k0, k1, k2, k3, k4, k5, k6, k7) = self.positions(block, depth: depth)
            if let positions {
                positions[0] = UInt32(truncatingIfNeeded: k0); positions[1] = UInt32(truncatingIfNeeded: k1)
                positions[2] = UInt32(truncatingIfNeeded: k2); positions[3] = UInt32(truncatingIfNeeded: k3)
                positions[4] = UInt32(truncatingIfNeeded: k4); positions[5] = UInt32(truncatingIfNeeded: k5)
                positions[6] = UInt32(truncatingIfNeeded: k6); positions[7] = UInt32(truncatingIfNeeded: k7)
            }
            // Lane l's leaf for node k is at l * 2^depth + k - 2^depth.
            let leaves = completeLeaves + (block.leafOffset &- (1 &<< depth))
            let width = 1 &<< depth
            out[0] = leaves[Int(bitPattern: k0)]; out[1] = leaves[width &+ Int(bitPattern: k1)]
            out[2] = leaves[2 &* width &+ Int(bitPattern: k2)]; out[3] = leaves[3 &* width &+ Int(bitPattern: k3)]
            out[4] = leaves[4 &* width &+ Int(bitPattern: k4)]; out[5] = leaves[5 &* width &+ Int(bitPattern: k5)]
            out[6] = leaves[6 &* width &+ Int(bitPattern: k6)]; out[7] = leaves[7 &* width &+ Int(bitPattern: k7)]
        }

        @inline(__always)
        /// Zero exactly when node `n` is a leaf (leaves lead to themselves).
        func notLeaf(_ n: UInt32) -> UInt32 { linkedNodes[Int(n)].left ^ n }

        @inline(__always)
        func step(_ n: UInt32) -> UInt32 {
            // Measured: here the plain comparison (compiled to `cmp; adc`) beats the
            // arithmetic form of the complete-tree step.
            let node = linkedNodes[Int(n)]
            return node.left &+ (slots[Int(node.slot)] > node.rank ? 1 : 0)
        }

        @inline(__always)
        func linked(_ block: Block) {
            let roots = linkedRoots + block.nodeOffset
            var n0 = roots[0], n1 = roots[1], n2 = roots[2], n3 = roots[3]
            var n4 = roots[4], n5 = roots[5], n6 = roots[6], n7 = roots[7]
            var remaining = block.depth
            while remaining > 0 {
                n0 = step(n0); n1 = step(n1); n2 = step(n2); n3 = step(n3)
                n4 = step(n4); n5 = step(n5); n6 = step(n6); n7 = step(n7)
                n0 = step(n0); n1 = step(n1); n2 = step(n2); n3 = step(n3)
                n4 = step(n4); n5 = step(n5); n6 = step(n6); n7 = step(n7)
                remaining &-= 2
                // Leaf-wise trees are much deeper on some paths than on the one a row
                // takes: stop once all eight lanes sit on (absorbing) leaves. Testing every
                // other step (a step past a leaf stays on it) measured 0.94x the time of
                // testing every step.
                let a = notLeaf(n0) | notLeaf(n1) | notLeaf(n2) | notLeaf(n3)
                let b = notLeaf(n4) | notLeaf(n5) | notLeaf(n6) | notLeaf(n7)
                if a | b == 0 { break }
            }
            out[0] = linkedLeaves[Int(n0)]; out[1] = linkedLeaves[Int(n1)]
            out[2] = linkedLeaves[Int(n2)]; out[3] = linkedLeaves[Int(n3)]
            out[4] = linkedLeaves[Int(n4)]; out[5] = linkedLeaves[Int(n5)]
            out[6] = linkedLeaves[Int(n6)]; out[7] = linkedLeaves[Int(n7)]
        }
    }
}

/// A ``QuantizedForest`` frozen into memory that is written once, at
/// construction, and only read afterwards: scoring a row touches no reference
/// counts and takes no locks.
///
/// `@unchecked Sendable`: the buffers are allocated and filled in `init`,
/// never written again, and freed in `deinit`; concurrent readers are safe.
final class CompiledForest<Leaf: BinaryFloatingPoint & Sendable>: @unchecked Sendable {
    typealias Layout = QuantizedForest<Leaf>

    let convention: SplitConvention
    let completeNodes: UnsafeMutablePointer<Layout.CompleteNode>
    let completeLeaves: UnsafeMutablePointer<Leaf>
    let linkedNodes: UnsafeMutablePointer<Layout.LinkedNode>
    let linkedLeaves: UnsafeMutablePointer<Leaf>
    let linkedRoots: UnsafeMutablePointer<UInt32>
    let blocks: UnsafeMutablePointer<Layout.Block>
    let blockCount: Int
    let laneTrees: UnsafeMutablePointer<UInt32>
    let treeGroups: UnsafeMutablePointer<UInt32>
    let treeCount: Int
    let inOrder: Bool
    let thresholds: UnsafeMutablePointer<Double>
    let searchChunks: UnsafeMutablePointer<Double>
    let features: UnsafeMutableBufferPointer<Layout.FeatureBins>
    /// Number of binned values per row.
    let slotCount: Int

    /// Compiles `ensemble`, or returns `nil` when the layout cannot express it.
    convenience init?(_ ensemble: TreeEnsemble) {
        guard let layout = Layout(ensemble) else { return nil }
        self.init(layout)
    }

    init(_ layout: Layout) {
        // The kernel reads a complete node as one little-endian word: slot in the low 16 bits.
        precondition(MemoryLayout<Layout.CompleteNode>.offset(of: \.notRank) == 2 && MemoryLayout<Layout.CompleteNode>.size == 4)
        func freeze<T>(_ array: [T]) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(array.count, 1))
            array.withUnsafeBufferPointer { if let base = $0.baseAddress { p.initialize(from: base, count: array.count) } }
            return p
        }
        convention = layout.convention
        // 64-byte alignment: block regions are multiples of 16 nodes, so each starts a cache line.
        let aligned = UnsafeMutableRawPointer.allocate(
            byteCount: max(layout.completeNodes.count, 1) * MemoryLayout<Layout.CompleteNode>.stride, alignment: 64
        ).bindMemory(to: Layout.CompleteNode.self, capacity: max(layout.completeNodes.count, 1))
        layout.completeNodes.withUnsafeBufferPointer { if let base = $0.baseAddress { aligned.initialize(from: base, count: $0.count) } }
        completeNodes = aligned
        completeLeaves = freeze(layout.completeLeaves)
        linkedNodes = freeze(layout.linkedNodes)
        linkedLeaves = freeze(layout.linkedLeaves)
        linkedRoots = freeze(layout.linkedRoots)
        blocks = freeze(layout.blocks)
        blockCount = layout.blocks.count
        laneTrees = freeze(layout.laneTrees)
        treeGroups = freeze(layout.treeGroups)
        treeCount = layout.treeCount
        inOrder = layout.inOrder
        thresholds = freeze(layout.thresholds)
        // Aligned so each chunk spans exactly two cache lines.
        let chunks = UnsafeMutableRawPointer.allocate(
            byteCount: max(layout.searchChunks.count, 1) * MemoryLayout<Double>.stride, alignment: 64
        ).bindMemory(to: Double.self, capacity: max(layout.searchChunks.count, 1))
        layout.searchChunks.withUnsafeBufferPointer { if let base = $0.baseAddress { chunks.initialize(from: base, count: $0.count) } }
        searchChunks = chunks
        features = UnsafeMutableBufferPointer(start: freeze(layout.features), count: layout.features.count)
        slotCount = layout.slotCount
    }

    deinit {
        completeNodes.deallocate()
        completeLeaves.deallocate()
        linkedNodes.deallocate()
        linkedLeaves.deallocate()
        linkedRoots.deallocate()
        blocks.deallocate()
        laneTrees.deallocate()
        treeGroups.deallocate()
        thresholds.deallocate()
        searchChunks.deallocate()
        features.baseAddress!.deallocate()
    }

    /// How many of a chunk's ``Layout/chunkWidth`` thresholds `x` passes (NaN padding is
    /// never passed). A fixed-length loop that compiles to vector compares: no branch
    /// depends on the value, so binning costs the same for every row.
    @inline(__always)
    func passed(_ chunk: UnsafePointer<Double>, _ x: Double) -> Int {
        let raw = UnsafeRawPointer(chunk)
        let low = raw.load(as: SIMD8<Double>.self), high = raw.load(fromByteOffset: 64, as: SIMD8<Double>.self)
        let value = SIMD8<Double>(repeating: x)
        // A mask lane is -1 where the threshold is passed.
        let lanes: SIMD8<Int64>
        if convention == .xgboost {
            lanes = unsafeBitCast(low .<= value, to: SIMD8<Int64>.self) &+ unsafeBitCast(high .<= value, to: SIMD8<Int64>.self)
        } else {
            lanes = unsafeBitCast(low .< value, to: SIMD8<Int64>.self) &+ unsafeBitCast(high .< value, to: SIMD8<Int64>.self)
        }
        return Int(truncatingIfNeeded: 0 &- lanes.wrappedSum())
    }

    /// The bin of a non-NaN library-domain value: how many thresholds it passes.
    /// XGBoost goes right when `x >= t`, LightGBM when `x > t`.
    @inline(__always)
    func bin(_ x: Double, _ f: Layout.FeatureBins) -> UInt16 {
        let chunks = searchChunks + f.searchStart
        switch f.searchLevels {
        case 1:
            return UInt16(truncatingIfNeeded: passed(chunks, x))
        case 2:
            // The coarse chunk holds each fine chunk's first threshold: passing m of them puts
            // x in fine chunk m - 1. With m = 0, chunk 0 is passed nowhere, so using it gives 0 too.
            let width = Layout.chunkWidth
            let m = passed(chunks, x)
            let c = (m &- 1) & ~((m &- 1) &>> 63)
            return UInt16(truncatingIfNeeded: c &* width &+ passed(chunks + (width &+ c &* width), x))
        default:
            return binarySearch(x, f)
        }
    }

    /// ``bin(_:_:)`` for features with more than 256 thresholds.
    func binarySearch(_ x: Double, _ f: Layout.FeatureBins) -> UInt16 {
        let t = thresholds + f.thresholdStart
        var n = f.thresholdCount
        var base = 0
        if convention == .xgboost {
            while n > 1 {
                let half = n &>> 1
                if t[base &+ half] <= x { base &+= half }
                n &-= half
            }
            return UInt16(truncatingIfNeeded: base &+ (t[base] <= x ? 1 : 0))
        } else {
            while n > 1 {
                let half = n &>> 1
                if t[base &+ half] < x { base &+= half }
                n &-= half
            }
            return UInt16(truncatingIfNeeded: base &+ (t[base] < x ? 1 : 0))
        }
    }

    /// Fills `slots` (``slotCount`` values) for a row of library-domain values.
    @inline(__always)
    func binRow(_ row: UnsafePointer<Double>, into slots: UnsafeMutablePointer<UInt16>) {
        var s = slots
        for f in features {
            let x = row[f.feature]
            if x.isNaN {
                s[0] = 0
                s[1] = Layout.highestBin
                s[2] = f.zeroBin
                s[3] = 0
                s[4] = Layout.highestBin
            } else {
                let b = bin(x, f)
                let isZero = x == 0
                s[0] = b
                s[1] = b
                s[2] = b
                s[3] = isZero ? 0 : b
                s[4] = isZero ? Layout.highestBin : b
            }
            s += Layout.MissingVariant.count
        }
    }

    /// Adds every tree's output for a binned row to `sums` (`outputCount` values), in tree order.
    ///
    /// With `positions` (one slot per block lane, complete blocks only), also
    /// writes the heap position each lane reached, block by block.
    @inline(__always)
    func accumulate(_ slots: UnsafePointer<UInt16>, into sums: UnsafeMutablePointer<Leaf>, outputCount: Int,
                    recording positions: UnsafeMutablePointer<UInt32>? = nil) {
        withUnsafeTemporaryAllocation(of: Leaf.self, capacity: Layout.lanes) { laneValues in
            let out = laneValues.baseAddress!
            let kernel = Layout.Kernel(
                completeNodes: completeNodes, completeLeaves: completeLeaves,
                linkedNodes: linkedNodes, linkedLeaves: linkedLeaves,
                linkedRoots: linkedRoots, slots: slots, out: out)
            let blocks = UnsafeBufferPointer(start: self.blocks, count: blockCount)
            if inOrder && outputCount == 1 {
                // The common case: one output, trees in order. Keep the sum in a register.
                var total = sums[0]
                for (b, block) in blocks.enumerated() {
                    kernel.descend(block, recording: positions.map { $0 + b &* Layout.lanes })
                    total += out[0]; total += out[1]; total += out[2]; total += out[3]
                    total += out[4]; total += out[5]; total += out[6]; total += out[7]
                }
                sums[0] = total
            } else if inOrder {
                for (b, block) in blocks.enumerated() {
                    kernel.descend(block, recording: positions.map { $0 + b &* Layout.lanes })
                    for lane in 0..<8 { sums[Int(treeGroups[Int(laneTrees[b &* 8 &+ lane])])] += out[lane] }
                }
            } else {
                withUnsafeTemporaryAllocation(of: Leaf.self, capacity: treeCount + 1) { scratch in
                    let values = scratch.baseAddress!
                    for (b, block) in blocks.enumerated() {
                        kernel.descend(block, recording: positions.map { $0 + b &* Layout.lanes })
                        for lane in 0..<8 { values[Int(laneTrees[b &* 8 &+ lane])] = out[lane] }
                    }
                    if outputCount == 1 {
                        var total = sums[0]
                        for t in 0..<treeCount { total += values[t] }
                        sums[0] = total
                    } else {
                        for t in 0..<treeCount { sums[Int(treeGroups[t])] += values[t] }
                    }
                }
            }
        }
    }

    /// ``accumulate(_:into:outputCount:recording:)`` for `rows` binned rows at
    /// once (``slotCount`` slots each, one after another), block by block: each
    /// block's nodes are read by every row while they are in L1, where one row
    /// at a time walks the whole forest and finds each block's nodes in L2.
    ///
    /// Each row's sums are added in the same order as by the single-row path,
    /// so the results are identical bit for bit.
    ///
    /// - Parameters:
    ///   - sums: `rows * outputCount` values, row after row, holding the base margins.
    ///   - positions: with a stride of `positionStride` per row, as for one row.
    func accumulate(rows: Int, slots: UnsafePointer<UInt16>, into sums: UnsafeMutablePointer<Leaf>, outputCount: Int,
                    recording positions: UnsafeMutablePointer<UInt32>?, positionStride: Int) {
        guard inOrder && outputCount == 1 else {
            for r in 0..<rows {
                accumulate(slots + r &* slotCount, into: sums + r &* outputCount, outputCount: outputCount,
                           recording: positions.map { $0 + r &* positionStride })
            }
            return
        }
        withUnsafeTemporaryAllocation(of: Leaf.self, capacity: Layout.lanes) { laneValues in
            let out = laneValues.baseAddress!
            let blocks = UnsafeBufferPointer(start: self.blocks, count: blockCount)
            for (b, block) in blocks.enumerated() {
                for r in 0..<rows {
                    let kernel = Layout.Kernel(
                        completeNodes: completeNodes, completeLeaves: completeLeaves,
                        linkedNodes: linkedNodes, linkedLeaves: linkedLeaves,
                        linkedRoots: linkedRoots, slots: slots + r &* slotCount, out: out)
                    kernel.descend(block, recording: positions.map { $0 + r &* positionStride + b &* Layout.lanes })
                    var total = sums[r]
                    total += out[0]; total += out[1]; total += out[2]; total += out[3]
                    total += out[4]; total += out[5]; total += out[6]; total += out[7]
                    sums[r] = total
                }
            }
        }
    }

    /// Every lane of every block in order, with its tree (``treeCount`` for
    /// padding) and its block's depth; nil when a block is linked.
    var completeLanes: [(tree: Int, depth: Int)]? {
        let blocks = UnsafeBufferPointer(start: self.blocks, count: blockCount)
        guard blocks.allSatisfy(\.isComplete) else { return nil }
        return blocks.enumerated().flatMap { b, block in
            (0..<Layout.lanes).map { (Int(laneTrees[b * Layout.lanes + $0]), block.depth) }
        }
    }
}

/// The hot-path layout of a tree ensemble with numeric splits.
///
/// Thresholds are replaced by their rank among the thresholds of the same
/// feature. Once per row, each feature's value is turned into a bin (how many
/// of its thresholds it passes) with a binary search; then every split is one
/// comparison of two 16-bit integers, exact for any input because the bin
/// preserves the library's own comparison (`>=` in `Float` for XGBoost, `>` in
/// `Double` for LightGBM). Missing-value rules become a choice of "slot": each
/// feature is binned five ways (NaN lowest, NaN highest, NaN as zero, zero-and-NaN
/// lowest, zero-and-NaN highest) and each node reads the slot its rule needs.
///
/// Nodes take 8 bytes (a 300-tree depth-6 model fits in L2), are stored
/// breadth-first with siblings adjacent, and leaves are absorbing (they lead to
/// themselves), so eight trees descend in lock-step for a fixed number of steps
/// with no branches. Leaf values are added in tree order in the library's precision
/// (`Leaf`), so sums are identical to the reference walker, not merely close.
struct QuantizedForest<Leaf: BinaryFloatingPoint & Sendable>: Sendable {
    struct Node: Sendable {
        /// Go right when the slot's bin is greater than this.
        var rank: UInt16
        /// Which binned value to read: `usedFeature * 5 + missingVariant`.
        var slot: UInt16
        /// Left child; the right child is `left + 1`.
        var left: UInt32
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
        /// The bin of 0.0, for LightGBM's NaN-as-zero rule.
        var zeroBin: UInt16
    }

    static var lanes: Int { 8 }
    static var highestBin: UInt16 { .max }

    let convention: SplitConvention
    var nodes: [Node]
    var leafValues: [Leaf]
    /// Root of each tree, padded to a multiple of ``lanes`` with an empty tree.
    var roots: [UInt32]
    /// Output each (padded) tree adds to.
    var groups: [UInt32]
    /// Steps needed by each block of ``lanes`` trees (the deepest of the block).
    var blockDepths: [UInt32]
    /// Sorted unique thresholds of every used feature, concatenated.
    var thresholds: [Double]
    var features: [FeatureBins]

    var slotCount: Int { features.count * MissingVariant.count }

    /// Builds the layout, or returns `nil` when a tree uses something only the
    /// reference walker handles (categorical splits, linear leaves, more than
    /// 65,534 distinct thresholds on one feature).
    init?(_ ensemble: TreeEnsemble) {
        convention = ensemble.convention
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
        var usedIndex: [Int: Int] = [:]
        var rankOf: [Int: [Double: UInt16]] = [:]
        for feature in perFeature.keys.sorted() {
            let sorted = perFeature[feature]!.sorted()
            guard sorted.count < Int(Self.highestBin) else { return nil }
            usedIndex[feature] = features.count
            var ranks: [Double: UInt16] = [:]
            for (r, t) in sorted.enumerated() { ranks[t] = UInt16(r) }
            rankOf[feature] = ranks
            var bins = FeatureBins(feature: feature, thresholdStart: thresholds.count, thresholdCount: sorted.count, zeroBin: 0)
            thresholds.append(contentsOf: sorted)
            bins.zeroBin = UInt16(sorted.count { ensemble.convention == .xgboost ? $0 <= 0 : $0 < 0 })
            features.append(bins)
        }
        guard features.count * MissingVariant.count < Int(UInt16.max) else { return nil }
        self.features = features
        self.thresholds = thresholds

        var nodes: [Node] = []
        var leafValues: [Leaf] = []
        var roots: [UInt32] = []
        var groups: [UInt32] = []
        var depths: [Int] = []
        let convention = ensemble.convention
        for tree in ensemble.trees {
            let rootIndex = nodes.count
            nodes.append(Node(rank: 0, slot: 0, left: 0))
            leafValues.append(0)
            var queue: [(source: Int32, slot: Int)] = [(0, rootIndex)]
            var head = 0
            while head < queue.count {
                let (source, position) = queue[head]
                head += 1
                let node = tree.nodes[Int(source)]
                if node.isLeaf {
                    nodes[position] = Node(rank: Self.highestBin, slot: 0, left: UInt32(position))
                    leafValues[position] = Leaf(node.leafValue)
                    continue
                }
                let feature = Int(node.feature)
                let variant = Self.missingVariant(node, convention)
                let left = nodes.count
                nodes.append(Node(rank: 0, slot: 0, left: 0))
                nodes.append(Node(rank: 0, slot: 0, left: 0))
                leafValues.append(0)
                leafValues.append(0)
                nodes[position] = Node(
                    rank: rankOf[feature]![node.threshold]!,
                    slot: UInt16(usedIndex[feature]! * MissingVariant.count + variant.rawValue),
                    left: UInt32(left))
                queue.append((node.leftChild, left))
                queue.append((node.rightChild, left + 1))
            }
            guard nodes.count < Int(UInt32.max) else { return nil }
            roots.append(UInt32(rootIndex))
            groups.append(UInt32(tree.outputGroup))
            depths.append(tree.depth)
        }
        // Padding tree: one absorbing leaf worth +0, which changes no sum.
        let padding = UInt32(nodes.count)
        nodes.append(Node(rank: Self.highestBin, slot: 0, left: padding))
        leafValues.append(0)
        while roots.count % Self.lanes != 0 || roots.isEmpty {
            roots.append(padding)
            groups.append(0)
            depths.append(0)
        }
        self.nodes = nodes
        self.leafValues = leafValues
        self.roots = roots
        self.groups = groups
        self.blockDepths = stride(from: 0, to: roots.count, by: Self.lanes).map { UInt32(depths[$0..<$0 + Self.lanes].max()!) }
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

    /// The bin of a non-NaN library-domain value: how many thresholds it passes.
    /// XGBoost goes right when `x >= t`, LightGBM when `x > t`.
    @inline(__always)
    func bin(_ x: Double, _ f: FeatureBins) -> UInt16 {
        thresholds.withUnsafeBufferPointer { all in
            let t = all.baseAddress! + f.thresholdStart
            var low = 0
            var length = f.thresholdCount
            if convention == .xgboost {
                while length > 0 {
                    let half = length >> 1
                    let passes = t[low + half] <= x
                    low = passes ? low + half + 1 : low
                    length = passes ? length - half - 1 : half
                }
            } else {
                while length > 0 {
                    let half = length >> 1
                    let passes = t[low + half] < x
                    low = passes ? low + half + 1 : low
                    length = passes ? length - half - 1 : half
                }
            }
            return UInt16(truncatingIfNeeded: low)
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
                s[1] = Self.highestBin
                s[2] = f.zeroBin
                s[3] = 0
                s[4] = Self.highestBin
            } else {
                let b = bin(x, f)
                let isZero = x == 0
                s[0] = b
                s[1] = b
                s[2] = b
                s[3] = isZero ? 0 : b
                s[4] = isZero ? Self.highestBin : b
            }
            s += MissingVariant.count
        }
    }

    /// Adds every tree's output for a binned row to `sums`.
    @inline(__always)
    func accumulate(_ slots: UnsafePointer<UInt16>, into sums: UnsafeMutablePointer<Leaf>) {
        nodes.withUnsafeBufferPointer { nodeBuffer in
            leafValues.withUnsafeBufferPointer { leafBuffer in
                roots.withUnsafeBufferPointer { rootBuffer in
                    groups.withUnsafeBufferPointer { groupBuffer in
                        blockDepths.withUnsafeBufferPointer { depthBuffer in
                            Self.kernel(
                                nodes: nodeBuffer.baseAddress!, leaves: leafBuffer.baseAddress!, roots: rootBuffer.baseAddress!,
                                groups: groupBuffer.baseAddress!, depths: depthBuffer, slots: slots, sums: sums)
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func step(_ n: UInt32, _ nodes: UnsafePointer<Node>, _ slots: UnsafePointer<UInt16>) -> UInt32 {
        let node = nodes[Int(n)]
        return node.left &+ (slots[Int(node.slot)] > node.rank ? 1 : 0)
    }

    static func kernel(
        nodes: UnsafePointer<Node>, leaves: UnsafePointer<Leaf>, roots: UnsafePointer<UInt32>,
        groups: UnsafePointer<UInt32>, depths: UnsafeBufferPointer<UInt32>, slots: UnsafePointer<UInt16>,
        sums: UnsafeMutablePointer<Leaf>
    ) {
        var base = 0
        for depth in depths {
            var n0 = roots[base], n1 = roots[base + 1], n2 = roots[base + 2], n3 = roots[base + 3]
            var n4 = roots[base + 4], n5 = roots[base + 5], n6 = roots[base + 6], n7 = roots[base + 7]
            var remaining = depth
            while remaining > 0 {
                n0 = step(n0, nodes, slots); n1 = step(n1, nodes, slots)
                n2 = step(n2, nodes, slots); n3 = step(n3, nodes, slots)
                n4 = step(n4, nodes, slots); n5 = step(n5, nodes, slots)
                n6 = step(n6, nodes, slots); n7 = step(n7, nodes, slots)
                remaining &-= 1
            }
            // Tree order: the library sums tree by tree, and so must we to match it bit for bit.
            sums[Int(groups[base])] += leaves[Int(n0)]
            sums[Int(groups[base + 1])] += leaves[Int(n1)]
            sums[Int(groups[base + 2])] += leaves[Int(n2)]
            sums[Int(groups[base + 3])] += leaves[Int(n3)]
            sums[Int(groups[base + 4])] += leaves[Int(n4)]
            sums[Int(groups[base + 5])] += leaves[Int(n5)]
            sums[Int(groups[base + 6])] += leaves[Int(n6)]
            sums[Int(groups[base + 7])] += leaves[Int(n7)]
            base += 8
        }
    }
}

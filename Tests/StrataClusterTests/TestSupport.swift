import StrataCluster

/// SplitMix64: a tiny seeded generator so every property test is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `count` nodes with random (seeded) ids, weight 1, zones assigned round-robin.
func randomNodes(_ count: Int, zones: Int = 1, using generator: inout SeededGenerator) -> [ClusterNode] {
    (0..<count).map { index in
        ClusterNode(
            id: NodeID("node-\(String(generator.next(), radix: 36))"), host: "10.0.\(index / 250).\(index % 250 + 1)",
            dataPort: 7000, metricsPort: 9100, zone: "zone-\(index % zones)")
    }
}

/// Replica slots per node over all shards of a map (nodes holding none count as 0).
func replicaCounts(_ map: ClusterMap) -> [NodeID: Int] {
    var counts = Dictionary(uniqueKeysWithValues: map.nodes.map { ($0.id, 0) })
    for shard in map.shards {
        for replica in shard.replicas { counts[replica, default: 0] += 1 }
    }
    return counts
}

/// max / mean of some values.
func maxOverMean(_ values: some Collection<Double>) -> Double {
    values.max()! / (values.reduce(0, +) / Double(values.count))
}

/// Expectation plus four standard deviations of a replica count that samples a
/// ring share: a node's share is at most `balanceBound` × its fair share (the
/// balance test asserts it), and shard starts fall into its arcs like a Poisson
/// draw (variance ≈ the expectation).
func fourSigmaBound(expected: Double) -> Double {
    let share = expected * balanceBound
    return share + 4 * share.squareRoot()
}

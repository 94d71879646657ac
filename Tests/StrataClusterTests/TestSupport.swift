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

/// The relative spread (coefficient of variation) of a node's replica share on
/// a 256-vnode ring of weight-1 nodes.
///
/// A node's share is a sum of about 256 × RF ring arcs; for RF 1 it is a
/// Gamma(256) variable, CV 1/√256 = 6.25 %. For RF 2 and 3 the values are
/// measured over 1,000 seeded node shares each (4.4 % and 3.6 %).
func ringCV(replicationFactor: Int) -> Double {
    switch replicationFactor {
    case 1: 0.0625
    case 2: 0.044
    default: 0.036
    }
}

/// Expectation plus four standard deviations of a replica count that samples a
/// ring share: shard starts fall into a node's arcs like a Poisson draw
/// (variance ≈ the expectation) on top of the ring's own spread.
func fourSigmaBound(expected: Double, replicationFactor: Int) -> Double {
    let cv = ringCV(replicationFactor: replicationFactor)
    return expected + 4 * (expected * expected * cv * cv + expected).squareRoot()
}

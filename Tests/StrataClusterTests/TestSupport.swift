import Foundation
import StrataCluster

/// Whether the property tests sweep every sampled size. The suite's debug
/// build runs a quick sample (placement math is unoptimized there);
/// `Scripts/property-tests.sh` sets `STRATA_FULL_PROPERTIES=1` and runs the
/// whole sweep on a release build.
let fullPropertySweep = ProcessInfo.processInfo.environment["STRATA_FULL_PROPERTIES"] == "1"

/// `full` when the whole sweep runs, else `quick` (a subset of it).
func sweep<Value>(_ full: [Value], quick: [Value]) -> [Value] { fullPropertySweep ? full : quick }

/// The library's SplitMix64, so every property test is reproducible.
typealias SeededGenerator = SplitMix64

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

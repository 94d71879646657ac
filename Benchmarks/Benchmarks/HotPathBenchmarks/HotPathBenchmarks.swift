// The hot paths below the servers: ring lookup, RESP decode and encode, and the
// cache's get, put and coalesced load. Each iteration is 1,000 operations
// (scalingFactor .kilo). Thresholds are committed with each benchmark: absolute
// bounds on allocations (machine-independent) and generous bounds on time, so
// `swift package --disable-sandbox benchmark baseline check --check-absolute`
// fails on a regression.
import Benchmark
import NIOCore
import StrataCache
import StrataCluster
import StrataWire

/// Thresholds: at most `mallocs` allocations and `microseconds` of wall clock per 1,000 operations (p90).
func limits(mallocs: Int, microseconds: Int) -> [BenchmarkMetric: BenchmarkThresholds] {
    [
        .mallocCountTotal: .init(absolute: [.p90: mallocs]),
        .wallClock: .init(absolute: [.p90: microseconds * 1000]),
    ]
}

let keys: [[UInt8]] = (0..<1000).map { Array("user:\($0)".utf8) }
let tenant = Array("acme".utf8)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput], scalingFactor: .kilo, maxDuration: .seconds(3))

    // Ring lookup: placement hash and the shard's replicas, 64 shards on 10 nodes.
    let map = try! ClusterMap.bootstrap(
        nodes: (1...10).map { ClusterNode(id: NodeID("n\($0)"), host: "127.0.0.1", dataPort: 7000) },
        shardCount: 64, replicationFactor: 3, vnodes: 256)
    Benchmark("ring lookup (hash + shard)", configuration: .init(thresholds: limits(mallocs: 0, microseconds: 1_000))) { benchmark in
        for _ in benchmark.scaledIterations {
            for key in keys {
                blackHole(map.shard(forHash: PlacementKey.hash(tenant: tenant, key: key)).primary)
            }
        }
    }

    // RESP: decode a pipelined GET command and encode a 100-byte bulk reply.
    var pipelined = ByteBuffer()
    for key in keys {
        RESPEncoder.writeArrayHeader(count: 2, into: &pipelined)
        RESPEncoder.writeBulkString("GET", into: &pipelined)
        RESPEncoder.writeBulkString(key, into: &pipelined)
    }
    let input = pipelined
    Benchmark("RESP decode (GET commands)", configuration: .init(thresholds: limits(mallocs: 1_100, microseconds: 2_000))) { benchmark in
        for _ in benchmark.scaledIterations {
            var buffer = input
            var decoder = RESPCommandDecoder()
            while let command = try? decoder.decode(&buffer) { blackHole(command) }
        }
    }
    let value = [UInt8](repeating: 0x61, count: 100)
    Benchmark("RESP encode (100-byte bulk replies)", configuration: .init(thresholds: limits(mallocs: 10, microseconds: 1_000))) { benchmark in
        for _ in benchmark.scaledIterations {
            var out = ByteBuffer()
            out.reserveCapacity(120_000)
            for _ in 0..<1000 { RESPEncoder.writeBulkString(value, into: &out) }
            blackHole(out)
        }
    }

    // The cache, keyed as the gateway and the near-cache key it: fresh hits, puts, and coalesced loads of missing keys.
    let cacheKeys = keys.map { CacheKey($0) }
    let cache = StrataCache<CacheKey, [UInt8], ContinuousClock>(
        maxBytes: 64 << 20, policy: CachePolicy(softTTL: .seconds(3600), hardTTL: .seconds(3600)), clock: ContinuousClock()
    ) { key, value in key.count + (value?.count ?? 0) }
    for key in cacheKeys { cache.put(key, value: value, version: 1) }
    Benchmark("cache get (fresh hit)", configuration: .init(thresholds: limits(mallocs: 10, microseconds: 2_000))) { benchmark in
        for _ in benchmark.scaledIterations {
            for key in cacheKeys { blackHole(cache.fresh(key)) }
        }
    }
    Benchmark("cache put", configuration: .init(thresholds: limits(mallocs: 3_300, microseconds: 3_000))) { benchmark in
        for iteration in benchmark.scaledIterations {
            for key in cacheKeys { cache.put(key, value: value, version: UInt64(iteration + 2)) }
        }
    }
    Benchmark("cache coalesced load (8 readers per missing key)", configuration: .init(thresholds: limits(mallocs: 70_000, microseconds: 600_000))) { benchmark in
        for _ in benchmark.scaledIterations {
            for key in cacheKeys { cache.invalidate(key) }
            await withTaskGroup(of: Void.self) { group in
                for key in cacheKeys {
                    for _ in 0..<8 {
                        group.addTask { _ = try? await cache.get(key) { _ in Loaded(value: value, version: 1) } }
                    }
                }
            }
        }
    }
}

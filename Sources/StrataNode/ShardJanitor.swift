import Logging
import NIOPosix
import ServiceLifecycle
import StrataCluster

/// Deletes the data of shards the cluster map no longer places on this node
/// (moved off it, or the node is being decommissioned), `delay` after they
/// left it: long enough for a new primary to drain this node's log in a
/// planned handoff, and for a map that only briefly moved a shard away. Only
/// under a map that counts this node `up` (a node the coordinator took for
/// down gets its shards back when it returns). A dropped shard's records, log
/// and positions go in one batch on the writer thread (`Keyspace.drop`), then
/// the ranges are compacted on the storage pool so the disk space comes back.
/// A `Service` the node runs as a child task until cancelled.
struct ShardJanitor: Service {
    let executor: CommandExecutor
    let writer: WriteQueue
    let pool: NIOThreadPool
    /// How long a shard stays absent from the map before its data is deleted.
    let delay: Duration
    let logger: Logger

    func run() async {
        var absentSince: [ShardID: ContinuousClock.Instant] = [:]
        while !Task.isCancelled {
            let topology = executor.topologyBox.current
            let now = ContinuousClock.now
            var absent: Set<ShardID> = []
            if topology.map.node(topology.localNode)?.state == .up {
                absent = executor.keyspace.knownShards.subtracting(topology.localShards)
            }
            absentSince = absentSince.filter { absent.contains($0.key) }
            for shard in absent where absentSince[shard] == nil { absentSince[shard] = now }
            var due: [(ShardID, ClosedRange<UInt64>)] = []
            for (shard, since) in absentSince.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where now - since >= delay {
                absentSince[shard] = nil
                guard let range = topology.map.shard(shard)?.range else { continue }
                due.append((shard, range.start...range.last))
            }
            if !due.isEmpty { await drop(due) }
            try? await Task.sleep(for: max(delay / 2, .milliseconds(100)))
        }
    }

    /// Deletes the shards' data, then compacts once over all of them: every
    /// file holds keys of every shard, so compacting shard by shard would rewrite
    /// the whole store once per shard.
    private func drop(_ shards: [(ShardID, ClosedRange<UInt64>)]) async {
        var dropped: [(ShardID, ClosedRange<UInt64>)] = []
        for (shard, hashes) in shards {
            do {
                try await writer.apply(.drop(shard: shard, hashes: hashes))
                // A map adopted meanwhile may have brought the shard back: then nothing was deleted.
                if !executor.keyspace.knownShards.contains(shard) { dropped.append((shard, hashes)) }
            } catch {
                if !Task.isCancelled { logger.warning("cannot drop the data of shard \(shard)", metadata: ["error": "\(error)"]) }
            }
        }
        guard !dropped.isEmpty else { return }
        let keyspace = executor.keyspace
        let started = ContinuousClock.now
        do {
            try await pool.runIfActive { [dropped] in try keyspace.compactDropped(dropped) }
        } catch {
            if !Task.isCancelled { logger.warning("cannot compact dropped shards", metadata: ["error": "\(error)"]) }
        }
        for (shard, _) in dropped {
            logger.info("dropped the data of shard \(shard): the map no longer places it here")
        }
        logger.info("compacted the dropped shards' ranges", metadata: [
            "shards": "\(dropped.count)", "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started) / .seconds(1)))",
        ])
    }
}

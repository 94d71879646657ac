import NIOCore
import StrataCluster
import StrataWire
import Synchronization

extension StrataClient {
    /// Runs any command routed by `key` (the cache gateway forwards its clients'
    /// commands this way): a write goes to the key's primary with a request id
    /// and returns the version it got; a read follows the read policy.
    /// Error replies throw `StrataError` whose message is the node's error line.
    public func execute(
        _ arguments: [[UInt8]], key: [UInt8], isWrite: Bool, options: RequestOptions = .init()
    ) async throws -> (reply: RESPValue, version: UInt64?) {
        let hash = PlacementKey.hash(tenant: engine.tenant, key: key, placement: engine.configuration.placement)
        return try await engine.executeVersioned(
            Operation(arguments: arguments.map { ByteBuffer(bytes: $0) }, hash: hash, isWrite: isWrite, options: options))
    }

    /// Runs a transaction on the primary of `key`'s shard (any primary when
    /// `nil`): `WATCHVER` for `watching` (points read with `WATCHPOINT`), `MULTI`, `commands`, `EXEC`, pipelined
    /// on one connection. Sent again only after a `MOVED` (nothing ran); other
    /// failures are not retried, since the transaction may have run.
    /// - Returns: `EXEC`'s reply: the commands' replies, or null when a watched key changed.
    public func executeTransaction(
        _ commands: [[[UInt8]]], watching: [(key: [UInt8], point: WatchPoint)], key: [UInt8]?, options: RequestOptions = .init()
    ) async throws -> RESPValue {
        var preamble: [[ByteBuffer]] = []
        if !watching.isEmpty {
            preamble.append([ByteBuffer(string: "WATCHVER")] + watching.flatMap { [ByteBuffer(bytes: $0.key), ByteBuffer(string: String($0.point.wire))] })
        }
        preamble.append([ByteBuffer(string: "MULTI")])
        for command in commands { preamble.append(command.map { ByteBuffer(bytes: $0) }) }
        let hash = key.map { PlacementKey.hash(tenant: engine.tenant, key: $0, placement: engine.configuration.placement) } ?? 0
        var operation = Operation(arguments: [ByteBuffer(string: "EXEC")], hash: hash, isWrite: true, options: options)
        operation.preamble = preamble
        operation.deduplicated = false
        return try await engine.execute(operation)
    }

    /// Sends `arguments` to every node that leads at least one shard, in
    /// parallel (FLUSHDB, KEYS, DBSIZE, RANDOMKEY through the gateway): each
    /// node answers for the shards it leads.
    /// - Returns: The replies, one per node, in the map's node order.
    public func executeOnPrimaries(_ arguments: [[UInt8]]) async throws -> [RESPValue] {
        let map = try await engine.view.current()
        let nodes = map.nodes.filter { !map.shards(primaryOn: $0.id).isEmpty }
        let buffers = arguments.map { ByteBuffer(bytes: $0) }
        let deadline = ContinuousClock.now + engine.configuration.requestTimeout
        return try await withThrowingTaskGroup(of: (Int, RESPValue).self) { group in
            for (index, node) in nodes.enumerated() {
                group.addTask { (index, try await engine.nodeCommand(buffers, on: node, deadline: deadline)) }
            }
            var replies = [RESPValue](repeating: .null, count: nodes.count)
            for try await (index, reply) in group { replies[index] = reply }
            return replies
        }
    }

    /// Sends one command to `node` itself: no routing, no retry.
    public func execute(_ arguments: [[UInt8]], on node: NodeID) async throws -> RESPValue {
        let map = try await engine.view.current()
        guard let target = map.node(node) else {
            throw StrataError(.invalidArgument, "node \(node) is not in the cluster map", node: node)
        }
        return try await engine.nodeCommand(
            arguments.map { ByteBuffer(bytes: $0) }, on: target, deadline: .now + engine.configuration.requestTimeout)
    }

    /// The cluster map the client routes by (fetched if it has none yet).
    public func clusterMap() async throws -> ClusterMap {
        try await engine.view.current()
    }

    /// The cluster map the client holds now, if any (no fetch).
    public var currentMap: ClusterMap? { engine.view.cached }

    /// The shard `key` of this client's tenant lives in, per `map`.
    public func shard(of key: [UInt8], in map: ClusterMap) -> ShardID {
        map.shard(forHash: PlacementKey.hash(tenant: engine.tenant, key: key, placement: engine.configuration.placement)).id
    }
}

/// Follows the storage nodes' change feeds (`FEED`): for every shard, the keys
/// written after the last position seen, with their versions, from the shard's
/// primary. Positions survive reconnects and failovers (the feed resumes after
/// the last sequence number seen); when a primary cannot fill the gap (its log
/// was trimmed past the position, or it numbers differently) the subscriber is
/// told the shard had a gap, so it can drop what it cached of it.
public struct ChangeFeedFollower: Sendable {
    /// A change: `key` of `tenant` was written at `version` in `shard`.
    public struct Change: Sendable {
        /// The shard.
        public var shard: ShardID
        /// The tenant's name bytes.
        public var tenant: [UInt8]
        /// The key.
        public var key: [UInt8]
        /// The version the write got.
        public var version: UInt64
    }

    private let client: StrataClient
    private let interval: Duration
    private let idleInterval: Duration
    private let hold: Duration

    /// A follower reading through `client` (an `@internal` client sees every
    /// tenant's changes; a tenant's client its own). Each primary holds a
    /// request (`FEED WAIT`) until one of its shards has changes or `hold`
    /// has passed, so the first change after a quiet spell arrives as it
    /// commits and an idle cluster costs one round trip per primary per
    /// `hold`. While changes keep coming, a primary is asked at most once per
    /// `interval`, so they arrive in batches rather than one request per
    /// commit (at thousands of writes a second, one per commit cost the
    /// gateway and the nodes more CPU than the feed is worth). `interval` is
    /// also the pause after a request answered at once with nothing,
    /// `idleInterval` after a failure (a node down or moving), before the map is read again.
    public init(
        client: StrataClient, interval: Duration = .milliseconds(20), idleInterval: Duration = .milliseconds(100),
        hold: Duration = .seconds(2)
    ) {
        self.client = client
        self.interval = interval
        self.idleInterval = max(idleInterval, interval)
        self.hold = hold
    }

    /// Runs until cancelled: calls `changes` with each batch and `gap` for a
    /// shard whose changes were lost. One task per primary; when the map
    /// changes (or a primary fails), the shards are regrouped by their new primaries.
    public func run(
        changes: @escaping @Sendable ([Change]) -> Void, gap: @escaping @Sendable (ShardID) -> Void
    ) async {
        let positions = Positions()
        while !Task.isCancelled {
            guard let map = try? await client.clusterMap() else {
                try? await Task.sleep(for: idleInterval)
                continue
            }
            var byPrimary: [NodeID: [ShardID]] = [:]
            for shard in map.shards {
                guard let primary = shard.primary, map.node(primary)?.state != .down else { continue }
                byPrimary[primary, default: []].append(shard.id)
            }
            guard !byPrimary.isEmpty else {
                try? await Task.sleep(for: idleInterval)
                continue
            }
            await withTaskGroup(of: Void.self) { group in
                for (node, shards) in byPrimary {
                    group.addTask {
                        await follow(node, shards: shards, epoch: map.epoch, positions: positions, changes: changes, gap: gap)
                    }
                }
                // The first primary whose map moved on (or that failed) ends the round.
                await group.next()
                group.cancelAll()
            }
        }
    }

    /// Follows `shards` on their primary `node` while the client's map is at `epoch`.
    private func follow(
        _ node: NodeID, shards: [ShardID], epoch: UInt64, positions: Positions,
        changes: @Sendable ([Change]) -> Void, gap: @Sendable (ShardID) -> Void
    ) async {
        let holdMilliseconds = Int64(hold / .milliseconds(1))
        while !Task.isCancelled {
            if let current = client.currentMap, current.epoch != epoch { return }
            var arguments: [[UInt8]] = [Array("FEED".utf8), Array("WAIT".utf8), Array(String(holdMilliseconds).utf8)]
            let known = positions.state.withLock { $0 }
            for shard in shards {
                arguments.append(Array(String(shard.rawValue).utf8))
                arguments.append(Array((known[shard].map { String($0) } ?? "-1").utf8))
            }
            let started = ContinuousClock.now
            do {
                var batch: [Change] = []
                var changed = false
                for (shard, status, found) in try await Self.parse(client.execute(arguments, on: node)) {
                    if status >= 0 {
                        positions.state.withLock { $0[shard] = UInt64(status) }
                        batch += found
                    } else if status != -2 {
                        // A gap: what was cached of the shard has unknown staleness; start at the end.
                        positions.state.withLock { $0[shard] = nil }
                        gap(shard)
                        changed = true
                    }
                }
                if !batch.isEmpty {
                    changes(batch)
                    changed = true
                }
                // Answered at once with nothing (a shard the node does not hold): not in a tight loop.
                if !changed, ContinuousClock.now - started < interval { try? await Task.sleep(for: interval) }
                // Changes are coming: let the next ones gather for the rest of the interval.
                if !batch.isEmpty { try? await Task.sleep(until: started + interval, clock: .continuous) }
            } catch {
                // A node down or moving: read the map again after a pause.
                try? await Task.sleep(for: idleInterval)
                return
            }
        }
    }

    /// Each shard's resume position, shared by the tasks that follow the primaries.
    private final class Positions: Sendable {
        let state = Mutex<[ShardID: UInt64]>([:])
    }

    /// `[[shard, through, seq, tenant, key, ...], ...]` → per shard: status (the resume position or a negative code) and changes.
    static func parse(_ reply: RESPValue) throws -> [(ShardID, Int64, [Change])] {
        guard case .array(let perShard) = reply else {
            throw StrataError(.unavailable, "unexpected FEED reply: \(reply)")
        }
        return try perShard.map { item in
            guard case .array(let fields) = item, fields.count >= 2, case .integer(let rawShard) = fields[0],
                case .integer(let status) = fields[1]
            else { throw StrataError(.unavailable, "malformed FEED reply") }
            let shard = ShardID(UInt32(clamping: rawShard))
            var changes: [Change] = []
            var index = 2
            while index + 2 < fields.count {
                guard case .integer(let version) = fields[index], case .bulkString(let tenant) = fields[index + 1],
                    case .bulkString(let key) = fields[index + 2]
                else { throw StrataError(.unavailable, "malformed FEED entry") }
                changes.append(Change(
                    shard: shard, tenant: Array(tenant.readableBytesView), key: Array(key.readableBytesView),
                    version: UInt64(version)))
                index += 3
            }
            return (shard, status, changes)
        }
    }
}

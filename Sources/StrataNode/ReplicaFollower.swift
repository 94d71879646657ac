import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import StrataClient
import StrataCluster
import StrataStorage
import StrataWire

/// Keeps this node's read replicas up to date: for every shard the map makes
/// it a replica (not the primary) of, it pulls the primary's log entries after
/// its own sequence number (`REPLFETCH`, one call per primary for all its
/// shards) and hands them to the writer, which applies them in order in one
/// atomic batch with their log entries. When the primary's log no longer
/// reaches back to the replica's position (trimmed), the replica installs the
/// primary's snapshot of the shard (`REPLSNAPSHOT`) and follows the log from
/// there; so does a replica whose log is ahead of or diverged from its
/// primary's (see `pull`).
/// The applied sequence numbers reach the coordinator with the heartbeats.
///
/// A `Service`: `run()` keeps one child task per source and lane, each with its own
/// connection. Two lanes per source: shards this node is in sync for (their
/// writes wait for it under acks=all) and shards it is still copying (a new
/// copy catching up after a move, or a replica back from a failure). Copying
/// is paced by the node's transfer throttle, snapshots and log alike, and
/// never holds up the in-sync shards' fetches (each lane has its own
/// connection (the client library's `RESPConnection`, on the node's
/// background event loop, off the server's); each fetch waits at the source until it
/// has new entries (`REPLFETCH … WAIT`), so followers do not poll; after
/// failures a task reconnects with a pause that doubles up to a second.
/// Cancelling `run()`'s task ends them all (a fetch in flight is cut off).
final class ReplicaFollower: Service, Sendable {
    private let nodeID: NodeID
    private let secret: String
    private let topology: TopologyBox
    private let keyspace: Keyspace
    private let writer: WriteQueue
    private let progress: ReplicationProgress
    /// Where copying is counted (`strata_copy_bytes_total`, `strata_copy_records_total`).
    private let stats: NodeStats
    /// The moving shards' copies to verify and verified (verify before cutover).
    let verifications: CopyVerifications
    /// What this node has taken in of each shard it is copying (`COPYPROGRESS`).
    let copyProgress: CopyProgress
    private let logger: Logger
    /// The loop the follower's connections live on.
    private let group: EventLoopGroup
    /// Shards whose primary is behind this in-sync replica, reported once.
    private let waitingOnPrimary = NIOLockedValueBox(Set<ShardID>())

    /// How long to wait before asking again when a source answered at once with nothing new.
    static let idlePause: Duration = .milliseconds(10)
    /// How long a source may hold a fetch while it has nothing new: an idle
    /// pair exchanges one round trip per hold (a commit, a new map or
    /// cancellation ends a hold early, so it delays nothing).
    static let fetchWaitMilliseconds = 2_000
    /// An element when the node adopts a new map (the newest kept).
    private let mapChanged = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    /// The sources and lanes that have a follower task now.
    private let sources = NIOLockedValueBox(Set<Lane>())

    /// One source's shards of one kind: fetched by a task of their own.
    struct Lane: Hashable, Sendable {
        /// The source's `host:port`.
        var address: String
        /// Whether these are shards this node is still copying (not in the map's in-sync set).
        var copying: Bool
    }

    init(
        nodeID: NodeID, secret: String, topology: TopologyBox, keyspace: Keyspace, writer: WriteQueue,
        progress: ReplicationProgress, stats: NodeStats, verifications: CopyVerifications, copyProgress: CopyProgress,
        group: EventLoopGroup, logger: Logger, snapshotPageBytes: Int = 4 << 20,
        transfer: TransferSettings = TransferSettings(bytesPerSecond: nil, maxCopyingShards: nil)
    ) {
        self.snapshotPageBytes = max(snapshotPageBytes, 1)
        self.transfer = transfer
        self.group = group
        self.progress = progress
        self.stats = stats
        self.verifications = verifications
        self.copyProgress = copyProgress
        self.nodeID = nodeID
        self.secret = secret
        self.topology = topology
        self.keyspace = keyspace
        self.writer = writer
        self.logger = logger
        // A new map: sources it names get their tasks now.
        topology.onReplace { [continuation = mapChanged.continuation] in continuation.yield() }
    }

    /// The followed shards grouped by lane: the address to fetch them from (the
    /// primary, or for a shard this node took over in a planned failover, the
    /// old primary until its log is drained) and whether they are being copied.
    private func followedShards() -> [Lane: [ShardID]] {
        let map = topology.current.map
        var byLane: [Lane: [ShardID]] = [:]
        for shard in map.shards where shard.replicas.dropFirst().contains(nodeID) {
            guard let primary = map.primary(for: shard.id), map.node(primary.id)?.state != .down else { continue }
            let lane = Lane(address: "\(primary.host):\(primary.dataPort)", copying: !shard.inSync.contains(nodeID))
            byLane[lane, default: []].append(shard.id)
        }
        // At most `maxCopyingShards` copied at once, the lowest shard ids first; the rest wait their turn.
        if let limit = transfer.maxCopyingShards {
            let copying = byLane.filter(\.key.copying).values.flatMap { $0 }.sorted()
            let allowed = Set(copying.prefix(limit))
            for lane in byLane.keys where lane.copying {
                let shards = byLane[lane]!.filter(allowed.contains)
                byLane[lane] = shards.isEmpty ? nil : shards
            }
        }
        copyProgress.track(Set(byLane.filter(\.key.copying).values.flatMap { $0 }))
        for (shard, handoff) in progress.handoffs {
            guard let source = map.node(handoff.source) else { continue }
            byLane[Lane(address: "\(source.host):\(source.dataPort)", copying: false), default: []].append(shard)
        }
        return byLane
    }

    /// Starts a task for every source that has none, now and after each new
    /// map, until cancelled. A source's task ends when the map no longer names it.
    func run() async {
        await withDiscardingTaskGroup { tasks in
            repeat {
                for lane in followedShards().keys where sources.withLockedValue({ $0.insert(lane).inserted }) {
                    tasks.addTask { await self.follow(lane) }
                }
            } while await nextCheck()
            tasks.cancelAll()
        }
    }

    /// Waits for a new map; `false` once cancelled.
    private func nextCheck() async -> Bool {
        for await _ in mapChanged.stream { return !Task.isCancelled }
        return false
    }

    /// Follows one source: each fetch waits at the source until it has
    /// something new (`WAIT`), so an idle pair exchanges one round trip per
    /// `fetchWait`. After a failure it reconnects after a pause that doubles up to a second.
    private func follow(_ lane: Lane) async {
        let address = lane.address
        defer {
            sources.withLockedValue { _ = $0.remove(lane) }
            // A map that named this source again while the task was ending found it still here:
            // `run()` checks once more.
            mapChanged.continuation.yield()
        }
        let connection = NIOLockedValueBox<RESPConnection?>(nil)
        await withTaskCancellationHandler {
            var pause = Duration.milliseconds(25)
            var warned = false
            while !Task.isCancelled {
                guard let shards = followedShards()[lane] else { break }
                let started = ContinuousClock.now
                do {
                    let current: SourceConnection
                    if let open = connection.withLockedValue({ $0 }) {
                        current = SourceConnection(connection: open, address: address)
                    } else {
                        current = try await connect(address)
                        connection.withLockedValue { $0 = current.connection }
                    }
                    let progressed = try await pull(shards, from: current, paced: lane.copying)
                    warned = false
                    pause = .milliseconds(25)
                    // A source that answered at once with nothing (an older map, a shard it
                    // no longer leads) is asked again after a pause, not in a tight loop.
                    if !progressed, ContinuousClock.now - started < Self.idlePause {
                        try? await Task.sleep(for: Self.idlePause)
                    }
                } catch {
                    connection.withLockedValue { $0?.close(); $0 = nil }
                    if !warned, !Task.isCancelled {
                        warned = true
                        logger.warning("cannot follow primary; retrying", metadata: [
                            "primary": "\(address)", "error": "\(error)",
                        ])
                    }
                    try? await Task.sleep(for: pause)
                    pause = min(pause * 2, .seconds(1))
                }
            }
            connection.withLockedValue { $0?.close(); $0 = nil }
        } onCancel: {
            // A fetch held at the source is cut off rather than waited out.
            connection.withLockedValue { $0?.close() }
        }
    }

    /// A connection to one source, authenticated as the cluster's internal user.
    private struct SourceConnection {
        let connection: RESPConnection
        let address: String

        /// Sends one command; the deadline leaves 2 s beyond a fetch held `fetchWaitMilliseconds`.
        func call(_ arguments: [String]) async throws -> RESPValue {
            try await connection.send(
                arguments, deadline: .now + .milliseconds(ReplicaFollower.fetchWaitMilliseconds) + .seconds(2))
        }
    }

    private func connect(_ address: String) async throws -> SourceConnection {
        let parts = address.split(separator: ":")
        let connection = try await RESPConnection.connect(
            host: String(parts[0]), port: Int(parts[1]) ?? 0, node: NodeID(address), group: group, timeout: .seconds(2))
        let source = SourceConnection(connection: connection, address: address)
        let reply = try await source.call(["AUTH", ClusterCredentials.internalUser, secret])
        guard case .simpleString = reply else {
            connection.close()
            throw StrataError(.unavailable, "internal AUTH refused by \(address): \(reply)")
        }
        return source
    }

    /// One fetch from one primary; applies what came back. Returns whether anything did.
    /// `paced`: the entries' bytes count against the transfer throttle (shards being copied).
    private func pull(_ shards: [ShardID], from source: SourceConnection, paced: Bool) async throws -> Bool {
        let address = source.address
        var arguments = ["REPLFETCH", nodeID.rawValue, "WAIT", String(Self.fetchWaitMilliseconds)]
        // A copy is paced: small replies spread the primary's reads over time instead of bursts of megabytes.
        if paced { arguments += ["BYTES", String(Self.copyFetchBytes)] }
        var asked: [ShardID] = []
        let map = topology.current.map
        for shard in shards {
            guard let (applied, epoch) = keyspace.position(of: shard) else { continue }
            let mapEpoch = map.shard(shard)?.epoch ?? 0
            arguments += [String(shard.rawValue), String(applied), String(epoch), String(mapEpoch)]
            asked.append(shard)
        }
        guard !asked.isEmpty else { return false }
        try await requestChecksums(Set(asked), from: source, map: map)
        if paced { try await requestSize(of: asked, from: source) }
        // Paused (DEBUG FOLLOW-PAUSE): go on asking, to know how far behind the primary is, but apply nothing.
        let paused = progress.isFollowingPaused
        let reply = try await source.call(arguments)
        guard case .array(let results) = reply else {
            throw StrataError(.unavailable, "REPLFETCH to \(address) failed: \(reply)")
        }
        var received: [(shard: ShardID, entry: LogEntry)] = []
        var receivedBytes = 0
        var repositioned = false  // a snapshot installed or a split shard started: a position moved
        let handoffs = progress.handoffs
        var drained: [ShardID: UInt64] = [:]
        for result in results {
            guard case .array(let fields) = result, fields.count >= 2, case .integer(let rawShard) = fields[0],
                case .integer(let status) = fields[1]
            else { throw StrataError(.unavailable, "malformed REPLFETCH reply from \(address)") }
            let shard = ShardID(UInt32(clamping: rawShard))
            if paused {
                if status >= 0 { progress.notePrimary(shard, last: UInt64(status)) }
                continue
            }
            if status < 0, status != -5, handoffs[shard] != nil {
                // Never copy an old primary this node took over from; stop draining it instead.
                progress.completeHandoff(shard)
                logger.warning("old primary cannot be drained; taking writes without it", metadata: [
                    "shard": "\(shard)", "source": "\(address)", "status": "\(status)",
                ])
                continue
            }
            if status == -3 || status == -4 {
                // This replica holds entries the primary does not (-3: past its end; -4: from
                // another epoch). A replica the map counts in sync that is past the primary's end
                // means the primary lost data (the coordinator demotes it on its next heartbeat):
                // wait. Otherwise they are a former primary's tail that was never replicated, so
                // never acknowledged with acks=all: take the primary's copy.
                if status == -3, topology.current.map.shard(shard)?.inSync.contains(nodeID) == true {
                    if waitingOnPrimary.withLockedValue({ $0.insert(shard).inserted }) {
                        logger.warning("in-sync replica is ahead of its primary; waiting for the coordinator", metadata: [
                            "shard": "\(shard)", "primary": "\(address)",
                        ])
                    }
                    continue
                }
                logger.warning("replica is ahead of or diverged from its primary; discarding its tail", metadata: [
                    "shard": "\(shard)", "primary": "\(address)",
                ])
                try await installSnapshot(of: shard, from: source)
                repositioned = true
                continue
            }
            waitingOnPrimary.withLockedValue { _ = $0.remove(shard) }
            if status == -1, fields.count >= 3, case .integer(let oldest) = fields[2], oldest > 1,
                let assignment = map.shard(shard), assignment.parent != nil
            {
                // A shard split off one this node follows: go on from the parent's log where it can.
                let point = UInt64(oldest - 1)
                switch keyspace.splitStart(of: assignment, at: point) {
                case .fromParent:
                    try await writer.apply(.startSplit(shard: shard, sequence: point, epoch: assignment.epoch))
                    logger.info("started split shard \(shard) from its parent \(assignment.parent!) at sequence \(point)")
                    repositioned = true
                    continue
                case .waitForParent:
                    continue
                case .snapshot:
                    break
                }
            }
            if status == -1 {
                logger.info("primary's log no longer reaches this replica's position; installing a snapshot", metadata: [
                    "shard": "\(shard)", "primary": "\(address)",
                ])
                try await installSnapshot(of: shard, from: source)
                repositioned = true
                continue
            }
            // -5: this node's map is older than the source's; the coordinator link refreshes it.
            guard status >= 0, fields.count >= 3, case .integer(let sourceEpoch) = fields[2] else { continue }
            progress.notePrimary(shard, last: UInt64(status))
            if let handoff = handoffs[shard], UInt64(sourceEpoch) >= handoff.epoch {
                // The old primary follows the new map: its log will not grow; drain it to its end.
                drained[shard] = UInt64(status)
            }
            var index = 3
            while index + 1 < fields.count {
                guard case .integer(let sequence) = fields[index], case .bulkString(let payload) = fields[index + 1] else {
                    throw StrataError(.unavailable, "malformed REPLFETCH entry from \(address)")
                }
                let entry = try LogEntry(sequence: UInt64(sequence), payload: Array(payload.readableBytesView))
                received.append((shard, entry))
                receivedBytes += payload.readableBytes
                if paced { copyProgress.add(shard, bytes: payload.readableBytes, records: entry.changes.count) }
                index += 2
            }
        }
        // A pause that began while the fetch was held at the source drops what
        // it brought: the replica lags from the moment it is asked to.
        if paused || progress.isFollowingPaused { return false }
        if !received.isEmpty {
            if paced {
                stats.copiedBytes.add(UInt64(receivedBytes))
                stats.copiedRecords.add(UInt64(received.reduce(0) { $0 + $1.entry.changes.count }))
                try await pace(bytes: receivedBytes)
            }
            try await applyVerifying(received, from: source)
            logRequests(received, from: address)
        }
        for (shard, last) in drained where keyspace.lastVersion(of: shard) == last {
            progress.completeHandoff(shard)
            logger.info("took over shard \(shard) from its old primary at sequence \(last)")
        }
        return !received.isEmpty || repositioned
    }

    /// Fetches the primary's snapshot of `shard` and has the writer install it.
    /// How much of a shard one snapshot page carries, at most (about).
    private let snapshotPageBytes: Int
    /// The transfer throttle and the bound on shards copied at once.
    private let transfer: TransferSettings
    /// When the snapshot bytes taken in so far, by every install together, fit the rate.
    private let transferPaced = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    /// Copies `shard` from `source` page by page (`REPLSNAPSHOT … CHUNK`): the
    /// first page replaces whatever this node had of the shard and sets its
    /// position to that page's sequence number; later pages add their records;
    /// then the follower replays the log from that position, which brings every
    /// key to its state at the log's end whichever page it came in. No page
    /// holds more than about `snapshotPageBytes`, so a shard of any size moves.
    private func installSnapshot(of shard: ShardID, from source: SourceConnection) async throws {
        verifications.forget(shard)
        let address = source.address
        guard let range = topology.current.map.shard(shard)?.range else { return }
        let hashes = range.start...range.last
        var after: [UInt8] = []
        var pages = 0
        var total = 0
        var bytes = 0
        var start: (sequence: Int64, epoch: Int64)?
        let began = ContinuousClock.now
        while true {
            let reply = try await source.call(
                ["REPLSNAPSHOT", String(shard.rawValue), "CHUNK", SnapshotCursor.encode(after), String(snapshotPageBytes)])
            guard case .array(let fields) = reply, fields.count >= 3, case .integer(let sequence) = fields[0],
                case .integer(let epoch) = fields[1], case .bulkString(let next) = fields[2], fields.count % 2 == 1
            else {
                throw StrataError(.unavailable, "REPLSNAPSHOT \(shard) to \(address) failed: \(reply)")
            }
            var records: [([UInt8], [UInt8])] = []
            records.reserveCapacity(fields.count / 2)
            var index = 3
            var pageBytes = 0
            while index + 1 < fields.count {
                guard case .bulkString(let key) = fields[index], case .bulkString(let value) = fields[index + 1] else {
                    throw StrataError(.unavailable, "malformed REPLSNAPSHOT reply from \(address)")
                }
                records.append((Array(key.readableBytesView), Array(value.readableBytesView)))
                pageBytes += key.readableBytes + value.readableBytes
                index += 2
            }
            total += records.count
            bytes += pageBytes
            pages += 1
            stats.copiedBytes.add(UInt64(pageBytes))
            stats.copiedRecords.add(UInt64(records.count))
            copyProgress.add(shard, bytes: pageBytes, records: records.count)
            try await pace(bytes: pageBytes)
            if start == nil {
                start = (sequence, epoch)
                try await writer.apply(
                    .snapshot(shard: shard, hashes: hashes, sequence: UInt64(sequence), epoch: UInt64(epoch), records: records))
            } else if !records.isEmpty {
                try await writer.apply(.snapshotPage(shard: shard, hashes: hashes, records: records))
            }
            guard next.readableBytes > 0 else { break }
            after = Array(next.readableBytesView)
        }
        let seconds = (ContinuousClock.now - began) / .seconds(1)
        logger.info("installed snapshot", metadata: [
            "shard": "\(shard)", "sequence": "\(start?.sequence ?? 0)", "records": "\(total)", "pages": "\(pages)",
            "bytes": "\(bytes)", "seconds": "\(String(format: "%.3f", seconds))",
            "mb-per-second": "\(String(format: "%.1f", Double(bytes) / max(seconds, 0.000_001) / 1_000_000))",
        ])
    }

    /// Asks the primary for its checksum of each shard of this fetch that this
    /// node should verify (`CopyVerifications.needed`) and has no expectation
    /// for yet, at most two per fetch; one already at that sequence number is
    /// compared at once. Asked between fetches, so this copy is never past the
    /// primary's sequence number.
    private func requestChecksums(_ asked: Set<ShardID>, from source: SourceConnection, map: ClusterMap) async throws {
        let waiting = verifications.expected
        let due = verifications.needed(in: map).intersection(asked).filter { shard in
            waiting[shard] == nil && map.primary(for: shard).map { "\($0.host):\($0.dataPort)" } == source.address
        }
        for shard in due.sorted().prefix(2) {
            let asOf = Record.nowMilliseconds() + CopyVerifications.asOfMargin
            let reply = try await source.call(["SHARDCHECKSUM", String(shard.rawValue), "ASOF", String(asOf)])
            guard case .array(let fields) = reply, fields.count == 3, case .integer(let sequence) = fields[0],
                case .integer(let records) = fields[1], case .integer(let checksum) = fields[2]
            else { continue }
            let sum = ShardChecksum(sequence: UInt64(sequence), records: Int(records), checksum: UInt64(bitPattern: checksum))
            verifications.expect(shard, .init(sum: sum, asOf: asOf))
            if keyspace.lastVersion(of: shard) == sum.sequence {
                try await compare(shard, snapshot: try keyspace.database.snapshot(), from: source)
            }
        }
    }

    /// Asks the source for the size of the shards of this copy lane whose size is
    /// not known yet (`SHARDSIZE`, up to eight per fetch), once per copy, for `COPYPROGRESS`'s totals.
    private func requestSize(of shards: [ShardID], from source: SourceConnection) async throws {
        let current = copyProgress.current
        for shard in shards.filter({ current[$0] != nil && current[$0]?.total == nil }).prefix(8) {
            let reply = try await source.call(["SHARDSIZE", String(shard.rawValue)])
            guard case .array(let fields) = reply, fields.count == 2, case .integer(let records) = fields[0],
                case .integer(let bytes) = fields[1]
            else { continue }
            copyProgress.setTotal(shard, records: Int(records), bytes: Int(bytes))
        }
    }

    /// Applies fetched entries; a shard with an expected checksum is applied up
    /// to exactly its sequence number first, summed from a snapshot taken there,
    /// and the rest of its entries applied after.
    private func applyVerifying(_ received: [(shard: ShardID, entry: LogEntry)], from source: SourceConnection) async throws {
        let expected = verifications.expected
        let stops = Set(received.map(\.shard)).filter { expected[$0] != nil }
        guard !stops.isEmpty else {
            try await apply(received)
            return
        }
        let beyond = received.filter { stops.contains($0.shard) && $0.entry.sequence > expected[$0.shard]!.sum.sequence }
        let upTo = received.filter { !stops.contains($0.shard) || $0.entry.sequence <= expected[$0.shard]!.sum.sequence }
        if !upTo.isEmpty { try await apply(upTo) }
        let reached = stops.filter { keyspace.lastVersion(of: $0) == expected[$0]!.sum.sequence }
        if !reached.isEmpty {
            let snapshot = try keyspace.database.snapshot()
            if !beyond.isEmpty { try await apply(beyond) }
            for shard in reached.sorted() { try await compare(shard, snapshot: snapshot, from: source) }
        } else if !beyond.isEmpty {
            try await apply(beyond)
        }
    }

    /// Has the writer apply `received` in order, in groups of at most
    /// `maxChangesPerGroup` changes (an entry is never split): a catch-up
    /// fetch of megabytes in one group would hold up the clients' writes
    /// queued behind it for as long as RocksDB takes to write it.
    private func apply(_ received: [(shard: ShardID, entry: LogEntry)]) async throws {
        var start = received.startIndex
        while start < received.endIndex {
            var end = start
            var changes = 0
            repeat {
                changes += received[end].entry.changes.count
                end += 1
            } while end < received.endIndex && changes + received[end].entry.changes.count <= Self.maxChangesPerGroup
            try await writer.apply(.entries(Array(received[start..<end])))
            start = end
        }
    }

    /// The most bytes of log entries one fetch of a shard being copied asks for.
    static let copyFetchBytes = 256 << 10

    /// The most changes of fetched entries applied in one write group (see `apply`).
    static let maxChangesPerGroup = 256

    /// Sums this node's copy of `shard` at `snapshot` and compares it with the
    /// primary's; a copy that differs is replaced by the primary's snapshot.
    private func compare(_ shard: ShardID, snapshot: Snapshot, from source: SourceConnection) async throws {
        guard let expected = verifications.expected[shard], let range = topology.current.map.shard(shard)?.range else { return }
        let own = try keyspace.checksum(of: shard, hashes: range.start...range.last, asOf: expected.asOf, snapshot: snapshot)
        guard own == expected.sum else {
            verifications.settle(shard, verified: false)
            logger.error("copy differs from its primary's at the same sequence number; replacing it with a snapshot", metadata: [
                "shard": "\(shard)", "sequence": "\(expected.sum.sequence)", "records": "\(own.records)",
                "primary-records": "\(expected.sum.records)", "primary": "\(source.address)",
            ])
            try await installSnapshot(of: shard, from: source)
            return
        }
        verifications.settle(shard, verified: true)
        logger.info("verified copy of shard \(shard)", metadata: [
            "sequence": "\(own.sequence)", "records": "\(own.records)", "primary": "\(source.address)",
        ])
    }

    /// The throttle, node-wide: waits until `bytes` more of copying fit the
    /// transfer rate after the bytes before them (no wait without a throttle).
    private func pace(bytes: Int) async throws {
        guard let rate = transfer.bytesPerSecond else { return }
        let until = transferPaced.withLockedValue { paced -> ContinuousClock.Instant in
            let now = ContinuousClock.now
            let end = max(paced ?? now, now) + .seconds(Double(bytes) / Double(rate))
            paced = end
            return end
        }
        try await Task.sleep(until: until, clock: .continuous)
    }

    /// Logs, at debug level, the client request ids (`REQID`) of the applied entries that carry them.
    private func logRequests(_ received: [(shard: ShardID, entry: LogEntry)], from address: String) {
        guard logger.logLevel <= .debug else { return }
        for (shard, entry) in received {
            for id in entry.requestIDs {
                logger.debug("replicated write applied", metadata: [
                    "request-id": "\(String(decoding: id, as: UTF8.self))", "shard": "\(shard)",
                    "sequence": "\(entry.sequence)", "primary": "\(address)",
                ])
            }
        }
    }
}

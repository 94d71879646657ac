import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import StrataCluster
import StrataHTTP
import StrataServer
import StrataStorage
import StrataWire

/// A storage node: RocksDB behind a RESP server, plus `/metrics` and `/health`.
///
/// Run it as a swift-service-lifecycle `Service`: `run()` binds, serves until
/// graceful shutdown (SIGTERM/SIGINT through the ServiceGroup) or
/// cancellation, then, in this order: stops accepting, stops the coordinator
/// link and the replica follower, closes connections (held fetches answer),
/// drains the writer, stops the storage pool, fsyncs the WAL and closes
/// RocksDB. A failed final fsync is logged and thrown (the process exits non-zero).
public final class NodeServer: Service, Sendable {
    private let configuration: NodeConfiguration
    private let logger: Logger
    private let executor: CommandExecutor
    private let database: Database
    private let group: MultiThreadedEventLoopGroup
    /// One event loop for the coordinator link's and the replica follower's connections and tasks, off the server's.
    private let background: MultiThreadedEventLoopGroup
    private let pool: NIOThreadPool
    private let writer: WriteQueue
    private let link: CoordinatorLink?
    private let follower: ReplicaFollower?
    private let state = NIOLockedValueBox(State())

    private struct State {
        var boundPort: Int?
        var metricsPort: Int?
        var children: [ObjectIdentifier: Channel] = [:]
        var nextClientID: UInt64 = 1
    }

    /// Opens the node's database; `run()` starts serving.
    /// - Throws: `StorageError` when RocksDB cannot open the data directory.
    public init(configuration: NodeConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        try FileManager.default.createDirectory(atPath: configuration.dataDir, withIntermediateDirectories: true)
        var options = StorageOptions()
        options.columnFamilies = Keyspace.families
        options.walSync = configuration.walSync
        options.blockCacheBytes = configuration.blockCacheBytes
        options.writeBufferBytes = configuration.writeBufferBytes
        database = try Database(path: configuration.dataDir + "/rocksdb", options: options)
        let topology = TopologyBox(NodeTopology(map: configuration.map, localNode: configuration.nodeID))
        let keyspace = try Keyspace(
            database: database, shards: topology.current.localShards, cacheBytes: configuration.recordCacheBytes,
            logRetention: configuration.logRetention)
        executor = CommandExecutor(
            keyspace: keyspace,
            topology: topology,
            tenants: TenantDirectory(
                config: configuration.tenants, defaultAccess: configuration.defaultTenantAccess,
                internalSecret: configuration.internalSecret),
            stats: NodeStats(),
            info: ServerInfo(
                host: configuration.host, port: configuration.port, dataDir: configuration.dataDir,
                maxClients: configuration.maxClients, idleTimeoutSeconds: configuration.idleTimeoutSeconds),
            maxValueBytes: configuration.connectionLimits.limits.maxBulkLength,
            transfer: TransferSettings(
                bytesPerSecond: configuration.transferBytesPerSecond, maxCopyingShards: configuration.maxCopyingShards))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(configuration.eventLoopThreads, 1))
        self.group = group
        background = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let background = self.background
        pool = NIOThreadPool(numberOfThreads: max(configuration.storageThreads, 1))
        let verifications = CopyVerifications(node: configuration.nodeID)
        if let coordinator = configuration.coordinator {
            let executor = self.executor
            let nodeID = configuration.nodeID
            link = CoordinatorLink(
                host: coordinator.host, port: coordinator.port, nodeID: nodeID, interval: coordinator.heartbeatInterval,
                lease: coordinator.lease, group: background, logger: logger,
                currentEpoch: { executor.topologyBox.current.map.epoch },
                // A split-off shard not started here yet has no position to report (it is not behind).
                lastVersions: {
                    let map = executor.topologyBox.current.map
                    return executor.keyspace.lastVersions.filter { $0.value > 0 || map.shard($0.key)?.parent == nil }
                },
                caughtUp: { executor.progress.caughtUp() },
                verified: { verifications.reported(in: executor.topologyBox.current.map) },
                sizes: { [reportsSizes = configuration.reportsShardSizes] in
                    guard reportsSizes else { return [] }
                    return (try? executor.keyspace.primarySizes(in: executor.topologyBox.current)) ?? []
                },
                adopt: { map in
                    let topology = NodeTopology(map: map, localNode: nodeID)
                    do {
                        try executor.keyspace.adopt(shards: topology.localShards)
                    } catch {
                        logger.error("cannot adopt new shards", metadata: ["error": "\(error)"])
                        return
                    }
                    let previous = executor.topologyBox.current.map
                    // Handoffs first: a write routed under the new map must find its shard fenced.
                    if map.epoch > previous.epoch { executor.progress.adopt(previous: previous, current: map) }
                    if executor.topologyBox.replace(with: topology) {
                        executor.progress.evaluate()
                        // One line per shard epoch this node starts leading: the audit trail of primaries.
                        for shard in map.shards where shard.primary == nodeID {
                            let before = previous.shard(shard.id)
                            if before?.primary != nodeID || before?.epoch != shard.epoch {
                                logger.info("leading shard \(shard.id) at epoch \(shard.epoch)")
                            }
                        }
                        logger.info("adopted cluster map", metadata: [
                            "epoch": "\(map.epoch)", "shards": "\(topology.localShards.count)",
                            "primary": "\(topology.localPrimaryRanges.count)",
                        ])
                    }
                })
        } else {
            link = nil
        }
        let hasLease: @Sendable () -> Bool = { [link] in link?.hasLease ?? true }
        writer = WriteQueue(executor: executor, hasLease: hasLease, logger: logger)
        if let secret = configuration.internalSecret, configuration.coordinator != nil {
            follower = ReplicaFollower(
                nodeID: configuration.nodeID, secret: secret, topology: topology, keyspace: keyspace, writer: writer,
                progress: executor.progress, stats: executor.stats, verifications: verifications,
                copyProgress: executor.copyProgress, group: background, logger: logger,
                snapshotPageBytes: configuration.snapshotPageBytes, transfer: executor.transfer)
        } else {
            follower = nil
        }
        executor.health.install { [database, link, writer, dataDir = configuration.dataDir] in
            Self.health(database: database, link: link, writer: writer, dataDir: dataDir)
        }
    }

    /// The RESP port once bound (useful with port 0).
    public var boundPort: Int? { state.withLockedValue { $0.boundPort } }
    /// The metrics port once bound.
    public var boundMetricsPort: Int? { state.withLockedValue { $0.metricsPort } }

    /// Serves until graceful shutdown or cancellation.
    public func run() async throws {
        pool.start()
        writer.start()
        let server = try await bindDataPort()
        let metrics = try await bindMetricsPort()
        logger.info("strata node listening", metadata: [
            "node": "\(configuration.nodeID)", "port": "\(boundPort ?? 0)",
            "metricsPort": "\(boundMetricsPort.map(String.init) ?? "none")", "dataDir": "\(configuration.dataDir)",
            "shards": "\(executor.topologyBox.current.localShards.count)",
        ])
        await withDiscardingTaskGroup { group in
            // The coordinator link and the follower run on the background loop their connections use.
            let executor = EventLoopTaskExecutor(background.next())
            if let link { group.addTask(executorPreference: executor) { await link.run() } }
            if let follower { group.addTask(executorPreference: executor) { await follower.run() } }
            if link != nil {
                let janitor = ShardJanitor(
                    executor: self.executor, writer: writer, pool: pool, delay: configuration.shardDropDelay, logger: logger)
                group.addTask(executorPreference: executor) { await janitor.run() }
            }
            group.addTask { await self.syncWALPeriodically() }
            group.addTask { await self.expireReplicationWaits() }
            await server.serveUntilShutdown()
            group.cancelAll()
        }
        logger.info("strata node shutting down", metadata: ["node": "\(configuration.nodeID)"])
        try? await metrics?.close()
        let children = state.withLockedValue { Array($0.children.values) }
        for child in children { try? await child.close() }
        // Fetches still held answer now, before the event loops that would time them out stop.
        executor.commits.wakeAll()
        try? await writer.shutdown()
        try? await pool.shutdownGracefully()
        // The last fsync of the WAL: a failure is logged and makes the process exit non-zero,
        // since writes acknowledged after the last periodic sync may not be on disk.
        var failure: (any Error)?
        do {
            try database.flushWAL(sync: true)
        } catch {
            logger.error("final WAL fsync failed", metadata: ["node": "\(configuration.nodeID)", "error": "\(error)"])
            failure = error
        }
        database.close()
        try? await group.shutdownGracefully()
        try? await background.shutdownGracefully()
        if let failure { throw failure }
        logger.info("strata node stopped", metadata: ["node": "\(configuration.nodeID)"])
    }

    /// Re-checks acks=all writes every 100 ms while any wait, so one whose
    /// replicas went silent fails at its deadline; idle until a write waits.
    private func expireReplicationWaits() async {
        for await _ in executor.progress.waitAdded.stream {
            while executor.progress.hasWaiters, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                executor.progress.evaluate()
            }
        }
    }

    private func syncWALPeriodically() async {
        guard case .noSync = configuration.walSync, let interval = configuration.walFsyncInterval else { return }
        // An idle node skips the fsync (and the storage thread's wake-up): nothing was written since the last one.
        var synced: UInt64?
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            do {
                let written = try database.latestSequenceNumber()
                guard written != synced else { continue }
                try await pool.runIfActive { try self.database.flushWAL(sync: true) }
                synced = written
            } catch {
                if !Task.isCancelled { logger.warning("WAL fsync failed", metadata: ["error": "\(error)"]) }
            }
        }
    }

    private func bindDataPort() async throws -> Channel {
        let executor = self.executor
        let connections = NodeConnections(executor: executor, pool: pool, writer: writer)
        let configuration = self.configuration
        var connectionConfiguration = configuration.connectionLimits
        connectionConfiguration.answersInPlace = true
        connectionConfiguration.idleTimeout =
            configuration.idleTimeoutSeconds > 0 ? .seconds(configuration.idleTimeoutSeconds) : nil
        let state = self.state
        let limits = connectionConfiguration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 8 << 20))
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                let (id, count) = state.withLockedValue { state -> (UInt64, Int) in
                    let id = state.nextClientID
                    state.nextClientID += 1
                    return (id, state.children.count)
                }
                executor.stats.connectionsAccepted.add(1)
                if count >= configuration.maxClients {
                    executor.stats.connectionsRejected.add(1)
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RejectingHandler(message: "ERR max number of clients reached"))
                    }
                }
                let key = ObjectIdentifier(channel)
                state.withLockedValue { $0.children[key] = channel }
                channel.closeFuture.whenComplete { _ in _ = state.withLockedValue { $0.children.removeValue(forKey: key) } }
                let peer = channel.remoteAddress
                let isLoopback = peer?.isLoopback ?? false
                let session = NodeSession(
                    client: ClientSession(
                        id: id, peer: peer?.endpoint ?? "unknown", local: channel.localAddress?.endpoint ?? "",
                        isLoopback: isLoopback, openedAt: Record.nowMilliseconds()),
                    defaultTenant: executor.tenants.defaultTenant(isLoopback: isLoopback))
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RESPServerHandler(server: connections, session: session, configuration: limits))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        state.withLockedValue { $0.boundPort = channel.localAddress?.port }
        return channel
    }

    /// The health of a node made of these parts, from facts gathered now.
    private static func health(database: Database, link: CoordinatorLink?, writer: WriteQueue, dataDir: String) -> NodeHealth {
        var free: UInt64?
        var fileSystem = statvfs()
        if statvfs(dataDir, &fileSystem) == 0 { free = UInt64(fileSystem.f_bavail) * UInt64(fileSystem.f_frsize) }
        let errors = (try? database.property("rocksdb.background-errors")).flatMap { $0.flatMap { UInt64($0) } } ?? 0
        return NodeHealth(.init(
            clustered: link != nil, hasLease: link?.hasLease ?? true, hadLease: link?.hadLease ?? true,
            writerBusyFor: writer.busyFor, backgroundErrors: errors, freeDiskBytes: free))
    }

    private func bindMetricsPort() async throws -> Channel? {
        guard let port = configuration.metricsPort else { return nil }
        let executor = self.executor
        let database = self.database
        let probe = executor.health
        let channel = try await MetricsHTTPServer.bind(group: group, host: configuration.host, port: port, metrics: {
            executor.metrics.prometheusText(
                stats: executor.stats, shards: executor.shardStates(), stall: try? database.cumulativeStall(),
                copies: executor.copyProgress.current)
        }) { path in
            // The probe NodeServer installed at init, the one INFO reads too.
            guard path == "/health" || path == "/ready", let health = probe.current else { return nil }
            return path == "/health"
                ? (health.isHealthy ? .ok : .serviceUnavailable, "text/plain", health.healthText)
                : (health.isReady ? .ok : .serviceUnavailable, "text/plain", health.readyText)
        }
        state.withLockedValue { $0.metricsPort = channel.localAddress?.port }
        return channel
    }
}

/// Answers a connection over the client limit with one error and closes it
/// once the channel is active (writes before activation would be lost).
final class RejectingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let message: String

    init(message: String) {
        self.message = message
    }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: message.utf8.count + 3)
        RESPEncoder.writeError(message, into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import StrataCluster
import StrataHTTP
import StrataServer
import StrataWire

/// The coordinator: owns the cluster map, persists it before publishing it,
/// takes node heartbeats, detects failures, and serves the map over RESP
/// (`CLUSTER MAP`, `CLUSTER NODES`, `CLUSTER EPOCH`, `CLUSTER HEARTBEAT`,
/// `CLUSTER SUBSCRIBE`) and HTTP (`/cluster`, `/health`, `/metrics`).
public final class CoordinatorServer: Service, Sendable {
    /// How the coordinator runs.
    public struct Configuration: Sendable {
        /// Bind address.
        public var host: String
        /// RESP port (0 picks a free one).
        public var port: Int
        /// HTTP port, or `nil` for none.
        public var metricsPort: Int?
        /// Where the map is persisted.
        public var dataDir: String
        /// The map to start from when none is persisted.
        public var bootstrapMap: ClusterMap
        /// Silence before a node is suspect.
        public var suspectAfter: Duration
        /// Silence before a node is down.
        public var downAfter: Duration
        /// How long a replica may be behind its primary and stay in sync.
        public var maxLag: Duration = ClusterConfig.defaultMaxLag
        /// The longest failure detection sleeps: it runs at the next instant a
        /// node's state could change (`CoordinatorCore.nextTransition`), and at
        /// least this often. At most `suspectAfter`, so a deadline that a node
        /// coming back creates (at least `suspectAfter` away) is never passed.
        public var maxTickInterval: Duration = .seconds(1)
        /// What `AUTH` is checked against: the tenants' and the internal secret.
        public var credentials: ClusterCredentials
        /// A shard whose primary reports more bytes on disk splits in two (`nil`: never on its own).
        public var splitAboveBytes: UInt64?

        /// Settings from cluster.json.
        public init(config: ClusterConfig) throws {
            guard let coordinator = config.coordinator else {
                throw ClusterError(.invalidConfiguration, "cluster.json has no coordinator section")
            }
            host = coordinator.host
            port = Int(coordinator.port)
            metricsPort = coordinator.metricsPort.map(Int.init)
            dataDir = coordinator.dataDir ?? ".cluster/coordinator"
            bootstrapMap = try config.bootstrapMap()
            suspectAfter = coordinator.suspectAfter
            downAfter = coordinator.downAfter
            maxLag = config.maxLag
            credentials = ClusterCredentials(tenants: config.tenants ?? [:], internalSecret: config.internalSecret)
            splitAboveBytes = config.splitShardsAboveMB.map { UInt64($0 * 1_048_576) }
        }
    }

    private struct State {
        var core: CoordinatorCore
        var subscribers: [ObjectIdentifier: Channel] = [:]
        var boundPort: Int?
        var mapChanges = 0
        /// The last refused change, logged once rather than on every tick.
        var lastRefusal: String?
        var nextConnectionID: UInt64 = 1
    }

    private let configuration: Configuration
    private let logger: Logger
    private let store: MapStore
    private let group: MultiThreadedEventLoopGroup
    private let state: NIOLockedValueBox<State>
    /// What `/metrics` renders (a registry of its own: tests run several coordinators in one process).
    private let registry = PrometheusCollectorRegistry()
    private let scraped: ScrapedSeries

    /// Loads the persisted map (or persists the bootstrap map) before serving.
    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        store = try MapStore(directory: configuration.dataDir)
        let map: ClusterMap
        if let persisted = try store.load() {
            map = persisted
            logger.info("loaded cluster map", metadata: ["epoch": "\(map.epoch)"])
        } else {
            map = configuration.bootstrapMap
            try store.save(map)
            logger.info("bootstrapped cluster map", metadata: ["epoch": "\(map.epoch)", "shards": "\(map.shards.count)"])
        }
        state = NIOLockedValueBox(State(core: CoordinatorCore(
            map: map, suspectAfter: configuration.suspectAfter, downAfter: configuration.downAfter,
            maxLag: configuration.maxLag, now: .now)))
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        scraped = ScrapedSeries(factory: PrometheusMetricsFactory(registry: registry))
    }

    private func nextConnectionID() -> UInt64 {
        state.withLockedValue { state in
            defer { state.nextConnectionID += 1 }
            return state.nextConnectionID
        }
    }

    /// The RESP port once bound.
    public var boundPort: Int? { state.withLockedValue { $0.boundPort } }

    /// The current map.
    public var map: ClusterMap { state.withLockedValue { $0.core.map } }

    /// Serves until graceful shutdown.
    public func run() async throws {
        let connections = CoordinatorConnections(coordinator: self, credentials: configuration.credentials)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let peer = channel.remoteAddress
                let session = CoordinatorSession(client: ClientSession(
                    id: self.nextConnectionID(), peer: peer?.endpoint ?? "unknown", local: channel.localAddress?.endpoint ?? "",
                    isLoopback: peer?.isLoopback ?? false))
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RESPServerHandler(server: connections, session: session, configuration: ConnectionConfiguration()))
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
        state.withLockedValue { $0.boundPort = server.localAddress?.port }
        let metrics: Channel? = try await configuration.metricsPort.asyncMap { port in
            try await MetricsHTTPServer.bind(group: group, host: configuration.host, port: port, metrics: { self.prometheusText() }) { path in
                guard path == "/cluster" else { return nil }
                let json = (try? self.map.jsonData()).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                return (.ok, "application/json", json)
            }
        }
        logger.info("strata coordinator listening", metadata: [
            "port": "\(boundPort ?? 0)", "epoch": "\(map.epoch)", "nodes": "\(map.nodes.count)",
        ])
        await withDiscardingTaskGroup { tasks in
            tasks.addTask { await self.detectFailures() }
            await server.serveUntilShutdown()
            tasks.cancelAll()
        }
        try? await metrics?.close()
        let subscribers = state.withLockedValue { Array($0.subscribers.values) }
        for channel in subscribers { try? await channel.close() }
        try? await group.shutdownGracefully()
        logger.info("strata coordinator stopped")
    }

    // MARK: Map changes

    /// Failure detection; when no node changed state, the moves whose new copies caught up are
    /// finished, drained nodes leave the map, then one shard is handed back to a node that returned,
    /// and otherwise the largest shard over `splitAboveBytes` splits.
    private func tick() {
        apply { (core: inout CoordinatorCore) throws(ClusterError) -> ClusterMap? in
            if let changed = try core.tick(at: .now) { return changed }
            if let changed = try core.completeMoves() { return changed }
            if let changed = try core.finishRemovals() { return changed }
            if let changed = try core.returnLeadership() { return changed }
            guard let threshold = configuration.splitAboveBytes else { return nil }
            return try core.splitOversized(above: threshold)
        }
    }

    /// Runs failure detection at each instant a node's state could change
    /// (not on a fixed fast tick: an idle coordinator sleeps most of the time), until cancelled.
    private func detectFailures() async {
        let longest = min(configuration.maxTickInterval, configuration.suspectAfter)
        while !Task.isCancelled {
            tick()
            let now = ContinuousClock.now
            let next = state.withLockedValue { $0.core.nextTransition() } ?? now + longest
            try? await Task.sleep(until: min(max(next, now + .milliseconds(1)), now + longest), clock: .continuous)
        }
    }

    /// Records a heartbeat and returns the current map epoch.
    func heartbeat(
        node: NodeID, applied: [ShardID: UInt64], caughtUp: [ShardID: CoordinatorCore.CaughtUp], verified: Set<ShardID> = [],
        sizes: [ShardID: UInt64] = [:]
    ) throws(ClusterError) -> UInt64 {
        try applyRequested { (core: inout CoordinatorCore) throws(ClusterError) in
            try core.heartbeat(from: node, applied: applied, caughtUp: caughtUp, verified: verified, sizes: sizes, at: .now)
        }
        return map.epoch
    }

    /// Adds `node` to the map (see `CoordinatorCore.addNode`), persisted and published.
    func addNode(_ node: ClusterNode) throws(ClusterError) -> ClusterMap {
        try applyRequested { (core: inout CoordinatorCore) throws(ClusterError) in try core.addNode(node, at: .now) }
        return map
    }

    /// Changes `node`'s weight (see `CoordinatorCore.setWeight`), persisted and published.
    func setWeight(_ node: NodeID, to weight: Int) throws(ClusterError) -> ClusterMap {
        try applyRequested { (core: inout CoordinatorCore) throws(ClusterError) in try core.setWeight(node, to: weight) }
        return map
    }

    /// Splits `shard` in two (see `CoordinatorCore.split(shard:)`), persisted and published.
    /// - Returns: The new map and the new shard's id.
    func split(_ shard: ShardID) throws(ClusterError) -> (map: ClusterMap, newShard: ShardID) {
        var added: ShardID?
        try applyRequested { (core: inout CoordinatorCore) throws(ClusterError) in
            let result = try core.split(shard: shard)
            added = result.newShard
            return result.map
        }
        return (map, added!)
    }

    /// Starts decommissioning `node` (see `CoordinatorCore.removeNode`), persisted and published.
    func removeNode(_ node: NodeID) throws(ClusterError) -> ClusterMap {
        try applyRequested { (core: inout CoordinatorCore) throws(ClusterError) in try core.removeNode(node) }
        return map
    }

    /// A planned failover of `shard` (see `CoordinatorCore.failover(shard:to:)`), persisted and published.
    func failover(shard: ShardID, to target: NodeID?) throws(ClusterError) -> ClusterMap {
        try applyRequested { (core: inout CoordinatorCore) throws(ClusterError) in try core.failover(shard: shard, to: target) }
        return map
    }

    /// Runs a change on the core; a new map is persisted before anyone sees it, then pushed to subscribers.
    /// `apply` for a change a client asked for: a refusal is thrown back to it (and not published).
    private func applyRequested(_ change: (inout CoordinatorCore) throws(ClusterError) -> ClusterMap?) throws(ClusterError) {
        var failure: ClusterError?
        apply { (core: inout CoordinatorCore) throws(ClusterError) -> ClusterMap? in
            do throws(ClusterError) {
                return try change(&core)
            } catch {
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
    }

    private func apply(_ change: (inout CoordinatorCore) throws(ClusterError) -> ClusterMap?) {
        let published: (ClusterMap, [Channel])? = state.withLockedValue { state in
            var core = state.core
            let next: ClusterMap?
            do {
                next = try change(&core)
            } catch {
                if state.lastRefusal != String(describing: error) {
                    state.lastRefusal = String(describing: error)
                    logger.warning("cluster map change refused", metadata: ["error": "\(error)"])
                }
                return nil
            }
            guard let next else {
                state.core = core
                return nil
            }
            do {
                try store.save(next)
            } catch {
                logger.error("cannot persist cluster map; change not published", metadata: ["error": "\(error)"])
                return nil
            }
            state.core = core
            state.mapChanges += 1
            return (next, Array(state.subscribers.values))
        }
        guard let (map, subscribers) = published else { return }
        logger.info("published cluster map", metadata: [
            "epoch": "\(map.epoch)",
            "states": "\(map.nodes.map { "\($0.id)=\($0.state.rawValue)" }.joined(separator: ","))",
        ])
        for channel in subscribers { Self.push(map, to: channel) }
    }

    /// Registers `channel` for map pushes after every change.
    /// - Returns: The current map, the subscription's first push.
    func subscribe(_ channel: Channel) -> ClusterMap {
        let map = state.withLockedValue { state -> ClusterMap in
            state.subscribers[ObjectIdentifier(channel)] = channel
            return state.core.map
        }
        channel.closeFuture.whenComplete { _ in
            _ = self.state.withLockedValue { $0.subscribers.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        return map
    }

    /// A map push: `["map", <json>]` (an array, so RESP2 and RESP3 clients read it alike).
    static func pushValue(_ map: ClusterMap) -> RESPValue {
        let json = (try? map.jsonData()).map { Array($0) } ?? Array("{}".utf8)
        return .array([.bulk("map"), .bulk(json)])
    }

    private static func push(_ map: ClusterMap, to channel: Channel) {
        var buffer = channel.allocator.buffer(capacity: 4096)
        pushValue(map).encode(into: &buffer, version: .resp2)
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// `/metrics`: `strata_map_epoch`, `strata_map_changes_total` (map changes
    /// published since start) and `strata_nodes{state}` (nodes by state).
    private func prometheusText() -> String {
        let (map, changes) = state.withLockedValue { ($0.core.map, $0.mapChanges) }
        scraped.gauge("strata_map_epoch", value: Double(map.epoch))
        scraped.counter("strata_map_changes_total", total: Int64(changes))
        for state in NodeState.allCases {
            scraped.gauge("strata_nodes", [("state", state.rawValue)], value: Double(map.nodes.filter { $0.state == state }.count))
        }
        return registry.emitToString()
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

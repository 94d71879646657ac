import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import StrataCache
import StrataClient
import StrataCluster
import StrataHTTP
import StrataServer
import StrataWire
import Synchronization

/// What the connection handlers share: tenants, counters, INFO and metrics text.
final class GatewayCore: Sendable {
    let configuration: GatewayConfiguration
    let tenants: TenantCaches
    let stats = GatewayStats()
    let metrics = GatewayMetrics()

    init(configuration: GatewayConfiguration, started: @escaping @Sendable (StrataClient) -> Void) {
        self.configuration = configuration
        tenants = TenantCaches(configuration: configuration, metrics: metrics, started: started)
    }

    /// The counters of every tenant's cache, summed.
    var cacheTotals: CacheStatistics {
        tenants.all.reduce(into: CacheStatistics()) { total, route in total.add(route.cache.statistics) }
    }

    /// `CONFIG GET`'s parameters: what redis-benchmark and redis-cli ask for.
    var configParameters: [(String, String)] {
        [("save", ""), ("appendonly", "no"), ("maxclients", String(configuration.maxClients)),
         ("port", String(configuration.port)), ("bind", configuration.host), ("databases", "1"),
         ("maxmemory", String(configuration.maxBytes))]
    }

    /// The parameters matching any of the glob `patterns`, each once.
    func configValues(matching patterns: ArraySlice<ByteBuffer>) -> [(String, String)] {
        var matched: [(String, String)] = []
        for pattern in patterns {
            let bytes = Array(pattern.readableBytesView)
            for (key, value) in configParameters
            where GlobPattern.matches(pattern: bytes[...], string: Array(key.utf8)[...], caseInsensitive: true) {
                if !matched.contains(where: { $0.0 == key }) { matched.append((key, value)) }
            }
        }
        return matched
    }

    /// `INFO` text: server, clients, stats and cache sections (all when `sections` is empty).
    func info(sections wanted: [String]) -> String {
        let cache = cacheTotals
        var sections: [(String, [(String, String)])] = [
            ("Server", ServerIdentity.infoVersionFields + [("strata_mode", "cache"), ("gateway_id", configuration.id), ("tcp_port", String(configuration.port))]),
            ("Clients", [("connected_clients", String(stats.connections.load(ordering: .relaxed)))]),
            ("Stats", [
                ("total_commands_processed", String(stats.commands.load(ordering: .relaxed))),
                ("served_from_memory", String(stats.servedFromMemory.load(ordering: .relaxed))),
                ("writes_forwarded", String(stats.writes.load(ordering: .relaxed))),
                ("feed_changes", String(stats.feedChanges.load(ordering: .relaxed))),
                ("feed_gaps", String(stats.feedGaps.load(ordering: .relaxed))),
            ]),
            ("Cache", [
                ("cache_hits", String(cache.hits)), ("cache_misses", String(cache.misses)),
                ("cache_stale_served", String(cache.staleServed)), ("cache_coalesced_waits", String(cache.coalescedWaits)),
                ("cache_loads", String(cache.loads)), ("cache_load_failures", String(cache.loadFailures)),
                ("cache_evictions", String(cache.evictions)), ("cache_bytes", String(cache.bytes)),
                ("cache_entries", String(cache.entries)),
            ]),
        ]
        if !wanted.isEmpty, !wanted.contains("all"), !wanted.contains("everything"), !wanted.contains("default") {
            sections = sections.filter { wanted.contains($0.0.lowercased()) }
        }
        return sections.map { name, fields in
            "# \(name)\r\n" + fields.map { "\($0.0):\($0.1)\r\n" }.joined()
        }.joined(separator: "\r\n")
    }

    /// Prometheus text: see `GatewayMetrics`.
    func prometheus() -> String {
        metrics.prometheusText(routes: tenants.all, stats: stats)
    }
}

/// `strata cache`: a RESP gateway that reads through the cache and writes through
/// to the primaries, for any Redis client; follows the change feed; exports metrics.
public final class GatewayServer: Service, Sendable {
    private let core: GatewayCore
    private let logger: Logger
    private let newClients: AsyncStream<StrataClient>
    private let newClient: AsyncStream<StrataClient>.Continuation
    private let bound = Mutex<(port: Int?, metricsPort: Int?)>((nil, nil))

    /// A gateway for `configuration`.
    public init(configuration: GatewayConfiguration, logger: Logger) {
        let (stream, continuation) = AsyncStream<StrataClient>.makeStream()
        newClients = stream
        newClient = continuation
        core = GatewayCore(configuration: configuration) { client in continuation.yield(client) }
        self.logger = logger
    }

    /// Serves until cancelled or a graceful shutdown.
    public func run() async throws {
        let configuration = core.configuration
        let group = MultiThreadedEventLoopGroup.singleton
        let core = self.core
        let ids = Atomic<Int>(0)
        let connections = GatewayConnections(gateway: core)
        // The default tenant, when cluster.json lets unauthenticated connections use it.
        let access = configuration.cluster.defaultTenant ?? .loopback
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 8 << 20))
            .childChannelInitializer { channel in
                let id = ids.add(1, ordering: .relaxed).newValue
                let peer = channel.remoteAddress
                let loopback = peer?.isLoopback ?? false
                let allowed = access == .always || (access == .loopback && loopback)
                return channel.eventLoop.makeCompletedFuture {
                    if core.stats.connections.load(ordering: .relaxed) >= configuration.maxClients {
                        throw GatewayError("max number of clients reached")
                    }
                    let session = GatewaySession(
                        client: ClientSession(
                            id: UInt64(id), peer: peer?.endpoint ?? "unknown", local: channel.localAddress?.endpoint ?? "",
                            isLoopback: loopback),
                        defaultRoute: allowed ? try core.tenants.defaultRoute() : nil)
                    try channel.pipeline.syncOperations.addHandler(
                        RESPServerHandler(server: connections, session: session, configuration: ConnectionConfiguration.gateway))
                }
            }
            .bind(host: configuration.host, port: configuration.port).get()
        var metricsChannel: Channel?
        if let metricsPort = configuration.metricsPort {
            metricsChannel = try await MetricsHTTPServer.bind(group: group, host: configuration.host, port: metricsPort) {
                core.prometheus()
            }
        }
        bound.withLock { $0 = (channel.localAddress?.port, metricsChannel?.localAddress?.port) }
        logger.info("strata cache listening", metadata: [
            "gateway": "\(configuration.id)", "port": "\(channel.localAddress?.port ?? 0)",
        ])
        let newClients = self.newClients
        let logger = self.logger
        await withDiscardingTaskGroup { tasks in
            // Every tenant client follows the map.
            tasks.addTask {
                await withDiscardingTaskGroup { clients in
                    for await client in newClients { clients.addTask { try? await client.run() } }
                }
            }
            tasks.addTask { await GatewayFeed(core: core, logger: logger).run() }
            await channel.serveUntilShutdown()
            newClient.finish()
            tasks.cancelAll()
        }
        try? await metricsChannel?.close()
        logger.info("strata cache stopped", metadata: ["gateway": "\(configuration.id)"])
    }

    /// The RESP port bound (after `run` started), for tests.
    public var port: Int? { bound.withLock { $0.port } }
}

/// The gateway's change-feed follower: keeps every tenant's cache from
/// serving what was overwritten elsewhere (another gateway, a direct client).
/// A `Service` the gateway runs as a child task until cancelled.
struct GatewayFeed: Service {
    let core: GatewayCore
    let logger: Logger

    /// Follows every node's change feed (as the internal user) and drops cached entries older than what was written, until cancelled.
    func run() async {
        guard let secret = core.configuration.cluster.internalSecret else {
            logger.warning("cluster.json has no internalSecret: the gateway cannot follow the change feed; entries live until their TTL")
            return
        }
        guard let feedClient = try? StrataClient(configuration: .init(
            clusterConfigPath: core.configuration.clusterConfigPath, tenant: "@internal", secret: secret))
        else { return }
        await withDiscardingTaskGroup { group in
            group.addTask { try? await feedClient.run() }
            group.addTask {
                await ChangeFeedFollower(client: feedClient).run(
                    changes: { changes in
                        for change in changes {
                            core.stats.feedChanges.add(1, ordering: .relaxed)
                            core.tenants.existing(String(decoding: change.tenant, as: UTF8.self))?
                                .cache.invalidate(CacheKey(change.key), olderThan: change.version)
                        }
                    },
                    gap: { shard in
                        core.stats.feedGaps.add(1, ordering: .relaxed)
                        for route in core.tenants.all {
                            let map = route.client.currentMap
                            route.cache.invalidateAll { key in map.map { route.client.shard(of: key.bytes, in: $0) == shard } ?? true }
                        }
                    })
            }
        }
    }
}

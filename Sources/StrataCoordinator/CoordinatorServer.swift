import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import StrataCluster
import StrataHTTP
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
        /// How often failure detection runs.
        public var tickInterval: Duration = .milliseconds(50)

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
        }
    }

    private struct State {
        var core: CoordinatorCore
        var subscribers: [ObjectIdentifier: Channel] = [:]
        var boundPort: Int?
        var mapChanges = 0
        /// The last refused change, logged once rather than on every tick.
        var lastRefusal: String?
    }

    private let configuration: Configuration
    private let logger: Logger
    private let store: MapStore
    private let group: MultiThreadedEventLoopGroup
    private let state: NIOLockedValueBox<State>

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
            map: map, suspectAfter: configuration.suspectAfter, downAfter: configuration.downAfter, now: .now)))
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// The RESP port once bound.
    public var boundPort: Int? { state.withLockedValue { $0.boundPort } }

    /// The current map.
    public var map: ClusterMap { state.withLockedValue { $0.core.map } }

    /// Serves until graceful shutdown.
    public func run() async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CoordinatorConnectionHandler(coordinator: self))
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
        let ticker = group.next().scheduleRepeatedTask(initialDelay: .zero, delay: TimeAmount(configuration.tickInterval)) { _ in
            self.tick()
        }
        await withGracefulShutdownHandler {
            try? await server.closeFuture.get()
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        ticker.cancel()
        try? await metrics?.close()
        let subscribers = state.withLockedValue { Array($0.subscribers.values) }
        for channel in subscribers { try? await channel.close() }
        try? await group.shutdownGracefully()
        logger.info("strata coordinator stopped")
    }

    // MARK: Map changes

    private func tick() {
        apply { (core: inout CoordinatorCore) throws(ClusterError) -> ClusterMap? in try core.tick(at: .now) }
    }

    /// Records a heartbeat and returns the current map epoch.
    func heartbeat(node: NodeID, applied: [ShardID: UInt64], caughtUp: [ShardID: CoordinatorCore.CaughtUp]) throws(ClusterError)
        -> UInt64
    {
        var failure: ClusterError?
        apply { (core: inout CoordinatorCore) throws(ClusterError) -> ClusterMap? in
            do throws(ClusterError) {
                return try core.heartbeat(from: node, applied: applied, caughtUp: caughtUp, at: .now)
            } catch {
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
        return map.epoch
    }

    /// A planned failover of `shard` (see `CoordinatorCore.failover(shard:to:)`), persisted and published.
    func failover(shard: ShardID, to target: NodeID?) throws(ClusterError) -> ClusterMap {
        var failure: ClusterError?
        apply { (core: inout CoordinatorCore) throws(ClusterError) -> ClusterMap? in
            do throws(ClusterError) {
                return try core.failover(shard: shard, to: target)
            } catch {
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
        return map
    }

    /// Runs a change on the core; a new map is persisted before anyone sees it, then pushed to subscribers.
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

    func subscribe(_ channel: Channel) {
        let map = state.withLockedValue { state -> ClusterMap in
            state.subscribers[ObjectIdentifier(channel)] = channel
            return state.core.map
        }
        channel.closeFuture.whenComplete { _ in
            _ = self.state.withLockedValue { $0.subscribers.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        Self.push(map, to: channel)
    }

    private static func push(_ map: ClusterMap, to channel: Channel) {
        guard let json = try? map.jsonData() else { return }
        var buffer = channel.allocator.buffer(capacity: json.count + 32)
        // RESP2-compatible push: ["map", <json>]; RESP3 clients see the same array.
        RESPEncoder.writeArrayHeader(count: 2, into: &buffer)
        RESPEncoder.writeBulkString("map", into: &buffer)
        RESPEncoder.writeBulkString(Array(json), into: &buffer)
        channel.writeAndFlush(buffer, promise: nil)
    }

    private func prometheusText() -> String {
        let (map, changes) = state.withLockedValue { ($0.core.map, $0.mapChanges) }
        var text = "# HELP strata_map_epoch The cluster map epoch.\n# TYPE strata_map_epoch gauge\nstrata_map_epoch \(map.epoch)\n"
        text += "# HELP strata_map_changes_total Map changes published since start.\n# TYPE strata_map_changes_total counter\nstrata_map_changes_total \(changes)\n"
        text += "# HELP strata_nodes Nodes by state.\n# TYPE strata_nodes gauge\n"
        for state in NodeState.allCases {
            text += "strata_nodes{state=\"\(state.rawValue)\"} \(map.nodes.filter { $0.state == state }.count)\n"
        }
        return text
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

/// One RESP connection to the coordinator.
final class CoordinatorConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let coordinator: CoordinatorServer
    private var decoder = RESPCommandDecoder(limits: .default)
    private var input: ByteBuffer?
    private var subscribed = false

    init(coordinator: CoordinatorServer) {
        self.coordinator = coordinator
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if input == nil { input = bytes } else { input!.writeBuffer(&bytes) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard var buffer = input else { return }
        var out = context.channel.allocator.buffer(capacity: 256)
        var close = false
        while !subscribed {
            do {
                guard let command = try decoder.decode(&buffer) else { break }
                close = handle(command, context: context, out: &out)
                if close { break }
            } catch {
                RESPEncoder.writeError(error.redisErrorMessage, into: &out)
                close = true
                break
            }
        }
        input = buffer.readableBytes > 0 ? buffer : nil
        if out.readableBytes > 0 {
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        }
        if close { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Handles one command; returns whether to close the connection.
    private func handle(_ command: RESPCommand, context: ChannelHandlerContext, out: inout ByteBuffer) -> Bool {
        let args = command.arguments.map { String(decoding: $0.readableBytesView, as: UTF8.self) }
        guard let name = args.first?.uppercased() else { return false }
        switch (name, args.count > 1 ? args[1].uppercased() : "") {
        case ("PING", _):
            RESPEncoder.writeSimpleString("PONG", into: &out)
        case ("QUIT", _):
            RESPEncoder.writeSimpleString("OK", into: &out)
            return true
        case ("CLUSTER", "MAP"):
            let json = (try? coordinator.map.jsonData()) ?? Data()
            RESPEncoder.writeBulkString(Array(json), into: &out)
        case ("CLUSTER", "FAILOVER"):
            // CLUSTER FAILOVER <shard> [<node>]: a planned primary move.
            guard args.count == 3 || args.count == 4, let shard = UInt32(args[2]) else {
                RESPEncoder.writeError("ERR usage: CLUSTER FAILOVER <shard> [<node>]", into: &out)
                return false
            }
            do {
                let map = try coordinator.failover(shard: ShardID(shard), to: args.count == 4 ? NodeID(args[3]) : nil)
                let assignment = map.shard(ShardID(shard))!
                RESPEncoder.writeArrayHeader(count: 2, into: &out)
                RESPEncoder.writeBulkString(assignment.primary!.rawValue, into: &out)
                RESPEncoder.writeInteger(Int64(assignment.epoch), into: &out)
            } catch {
                RESPEncoder.writeError("ERR \(error.message)", into: &out)
            }
        case ("CLUSTER", "EPOCH"):
            RESPEncoder.writeInteger(Int64(coordinator.map.epoch), into: &out)
        case ("CLUSTER", "NODES"):
            RESPEncoder.writeBulkString(StatusReport.render(coordinator.map), into: &out)
        case ("CLUSTER", "HEARTBEAT"):
            // CLUSTER HEARTBEAT <node> [<shard> <applied sequence>]... [CAUGHTUP [<shard> <epoch> <follower>]...]
            let usage = "ERR usage: CLUSTER HEARTBEAT <node> [<shard> <sequence>]... [CAUGHTUP [<shard> <epoch> <follower>]...]"
            let marker = args.firstIndex(of: "CAUGHTUP") ?? args.count
            guard args.count >= 3, marker >= 3, (marker - 3) % 2 == 0, (args.count - marker - 1) % 3 == 0 || marker == args.count else {
                RESPEncoder.writeError(usage, into: &out)
                return false
            }
            var applied: [ShardID: UInt64] = [:]
            for i in stride(from: 3, to: marker, by: 2) {
                guard let shard = UInt32(args[i]), let sequence = UInt64(args[i + 1]) else {
                    RESPEncoder.writeError("ERR shard and sequence must be integers", into: &out)
                    return false
                }
                applied[ShardID(shard)] = sequence
            }
            var caughtUp: [ShardID: CoordinatorCore.CaughtUp] = [:]
            for i in stride(from: marker + 1, to: args.count, by: 3) {
                guard let shard = UInt32(args[i]), let epoch = UInt64(args[i + 1]) else {
                    RESPEncoder.writeError("ERR shard and epoch must be integers", into: &out)
                    return false
                }
                caughtUp[ShardID(shard), default: .init(epoch: epoch, followers: [])].followers.insert(NodeID(args[i + 2]))
            }
            do {
                let epoch = try coordinator.heartbeat(node: NodeID(args[2]), applied: applied, caughtUp: caughtUp)
                RESPEncoder.writeInteger(Int64(epoch), into: &out)
            } catch {
                RESPEncoder.writeError("ERR \(error.message)", into: &out)
            }
        case ("CLUSTER", "SUBSCRIBE"):
            if out.readableBytes > 0 {
                context.write(wrapOutboundOut(out), promise: nil)
                out.clear()
            }
            subscribed = true
            coordinator.subscribe(context.channel)
        default:
            RESPEncoder.writeError("ERR unknown command '\(args.joined(separator: " ").prefix(64))'", into: &out)
        }
        return false
    }
}

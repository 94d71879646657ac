import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import StrataClient
import StrataCluster
import StrataWire

/// A node's connection to the coordinator: heartbeats every interval with the
/// node's last sequence number per shard and, as a primary, the followers it
/// vouches for (`CAUGHTUP`, see `ReplicationProgress.caughtUp`) and the moving
/// shards whose copy it verified (`VERIFIED`, see `ReplicaFollower`), and the bytes on disk of the
/// shards it leads (`SIZES`, for size-based splits); when the reply's epoch is newer than
/// the node's map, fetches `CLUSTER MAP` and adopts it. Beside the heartbeats
/// it follows the coordinator's map pushes (`CLUSTER SUBSCRIBE`), so a change
/// reaches the node within a round trip rather than a heartbeat interval: while
/// shards move, a node a heartbeat behind would redirect clients to copies that
/// no longer lead. A `Service`: `run()` heartbeats and follows until its task
/// is cancelled, reconnecting after failures.
final class CoordinatorLink: Service, Sendable {
    private let host: String
    private let port: Int
    private let nodeID: NodeID
    private let interval: Duration
    private let logger: Logger
    private let group: EventLoopGroup
    private let adopt: @Sendable (ClusterMap) -> Void
    /// The bytes on disk of the shards the node leads (`SIZES`).
    private let sizes: @Sendable () -> [(shard: ShardID, bytes: UInt64)]
    private let lastVersions: @Sendable () -> [ShardID: UInt64]
    private let caughtUp: @Sendable () -> [(shard: ShardID, epoch: UInt64, followers: [NodeID])]
    private let verified: @Sendable () -> [ShardID]
    private let currentEpoch: @Sendable () -> UInt64
    /// When the last heartbeat the coordinator answered was sent.
    private let lastAcknowledged = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    /// Serialises adoptions: the heartbeat and the pushes may bring maps at once, and only a newer one is adopted.
    private let adopting = NIOLock()
    /// How long after `lastAcknowledged` this node may take writes.
    let lease: Duration

    init(
        host: String, port: Int, nodeID: NodeID, interval: Duration, lease: Duration, group: EventLoopGroup,
        logger: Logger,
        currentEpoch: @escaping @Sendable () -> UInt64,
        lastVersions: @escaping @Sendable () -> [ShardID: UInt64],
        caughtUp: @escaping @Sendable () -> [(shard: ShardID, epoch: UInt64, followers: [NodeID])],
        verified: @escaping @Sendable () -> [ShardID] = { [] },
        sizes: @escaping @Sendable () -> [(shard: ShardID, bytes: UInt64)] = { [] },
        adopt: @escaping @Sendable (ClusterMap) -> Void
    ) {
        self.host = host
        self.port = port
        self.nodeID = nodeID
        self.interval = interval
        self.lease = lease
        self.group = group
        self.logger = logger
        self.currentEpoch = currentEpoch
        self.lastVersions = lastVersions
        self.caughtUp = caughtUp
        self.verified = verified
        self.sizes = sizes
        self.adopt = adopt
    }

    /// Whether the node holds a valid lease: the coordinator answered a heartbeat
    /// sent less than `lease` ago. A primary takes writes only while it does.
    var hasLease: Bool {
        guard let acknowledged = lastAcknowledged.withLockedValue({ $0 }) else { return false }
        return ContinuousClock.now - acknowledged < lease
    }

    /// Whether the coordinator ever answered a heartbeat since the node started.
    var hadLease: Bool { lastAcknowledged.withLockedValue { $0 != nil } }

    /// Heartbeats every interval and follows map pushes until the task is cancelled.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.followPushes() }
            await self.heartbeats()
            group.cancelAll()
        }
    }

    /// Adopts `map` if it is newer than the node's.
    private func adoptIfNewer(_ map: ClusterMap) {
        adopting.withLock {
            if map.epoch > currentEpoch() { adopt(map) }
        }
    }

    /// Follows `CLUSTER SUBSCRIBE` pushes until cancelled, reconnecting after failures (`MapPushes`).
    private func followPushes() async {
        await MapPushes.follow(host: host, port: port, group: group, timeout: Self.callTimeout, maxPause: interval * 5) {
            adoptIfNewer($0)
        }
    }

    /// Heartbeats every interval until the task is cancelled.
    private func heartbeats() async {
        var connection: RESPConnection?
        var warned = false
        while !Task.isCancelled {
            do {
                let current: RESPConnection
                if let connection {
                    current = connection
                } else {
                    current = try await RESPConnection.connect(
                        host: host, port: port, node: NodeID("coordinator"), group: group, timeout: .seconds(1))
                    connection = current
                    logger.info("connected to the coordinator", metadata: ["coordinator": "\(host):\(port)"])
                    warned = false
                }
                try await heartbeat(over: current)
            } catch {
                connection?.close()
                connection = nil
                if !warned, !Task.isCancelled {
                    logger.warning("coordinator unreachable; retrying", metadata: ["error": "\(error)"])
                    warned = true
                }
            }
            try? await Task.sleep(for: interval)
        }
        connection?.close()
    }

    /// One heartbeat; adopts a newer map; renews the lease.
    private func heartbeat(over connection: RESPConnection) async throws {
        var arguments = ["CLUSTER", "HEARTBEAT", nodeID.rawValue]
        for (shard, sequence) in lastVersions().sorted(by: { $0.key < $1.key }) {
            arguments += [String(shard.rawValue), String(sequence)]
        }
        let vouched = caughtUp()
        if !vouched.isEmpty {
            arguments.append("CAUGHTUP")
            for (shard, epoch, followers) in vouched {
                for follower in followers { arguments += [String(shard.rawValue), String(epoch), follower.rawValue] }
            }
        }
        let checked = verified()
        if !checked.isEmpty { arguments += ["VERIFIED"] + checked.sorted().map { String($0.rawValue) } }
        let measured = sizes()
        if !measured.isEmpty {
            arguments.append("SIZES")
            for (shard, bytes) in measured { arguments += [String(shard.rawValue), String(bytes)] }
        }
        let sentAt = ContinuousClock.now
        let reply = try await connection.send(arguments, deadline: .now + Self.callTimeout)
        guard case .integer(let epoch) = reply else {
            throw StrataError(.unavailable, "heartbeat refused: \(reply)")
        }
        if UInt64(epoch) > currentEpoch() {
            guard case .bulkString(let json) = try await connection.send(["CLUSTER", "MAP"], deadline: .now + Self.callTimeout)
            else {
                throw StrataError(.unavailable, "CLUSTER MAP did not return a bulk string")
            }
            adoptIfNewer(try ClusterMap(jsonData: Data(json.readableBytesView)))
        }
        // The lease is renewed only once this node follows a map at least as new as the
        // coordinator's at the heartbeat: a deposed primary must not write under its old map.
        if currentEpoch() >= UInt64(epoch) {
            lastAcknowledged.withLockedValue { $0 = sentAt }
        }
    }

    /// How long the coordinator has to answer one call.
    private static let callTimeout: Duration = .seconds(1)
}

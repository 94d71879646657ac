import Foundation
import Logging
import NIOConcurrencyHelpers
import StrataCluster
import StrataWire

/// A node's connection to the coordinator: heartbeats every interval with the
/// node's last sequence number per shard and, as a primary, the followers it
/// vouches for (`CAUGHTUP`, see `ReplicationProgress.caughtUp`); when the reply's epoch is newer than
/// the node's map, fetches `CLUSTER MAP` and adopts it. Runs on its own thread
/// (blocking socket I/O); reconnects after failures.
final class CoordinatorLink: Sendable {
    private let host: String
    private let port: Int
    private let nodeID: NodeID
    private let interval: Duration
    private let logger: Logger
    private let running = NIOLockedValueBox(true)
    private let adopt: @Sendable (ClusterMap) -> Void
    private let lastVersions: @Sendable () -> [ShardID: UInt64]
    private let caughtUp: @Sendable () -> [(shard: ShardID, epoch: UInt64, followers: [NodeID])]
    private let currentEpoch: @Sendable () -> UInt64
    private let finished = NIOLockedValueBox(false)
    /// When the last heartbeat the coordinator answered was sent.
    private let lastAcknowledged = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    /// How long after `lastAcknowledged` this node may take writes.
    let lease: Duration

    init(
        host: String, port: Int, nodeID: NodeID, interval: Duration, lease: Duration, logger: Logger,
        currentEpoch: @escaping @Sendable () -> UInt64,
        lastVersions: @escaping @Sendable () -> [ShardID: UInt64],
        caughtUp: @escaping @Sendable () -> [(shard: ShardID, epoch: UInt64, followers: [NodeID])],
        adopt: @escaping @Sendable (ClusterMap) -> Void
    ) {
        self.host = host
        self.port = port
        self.nodeID = nodeID
        self.interval = interval
        self.lease = lease
        self.logger = logger
        self.currentEpoch = currentEpoch
        self.lastVersions = lastVersions
        self.caughtUp = caughtUp
        self.adopt = adopt
    }

    /// Starts the heartbeat thread.
    func start() {
        let thread = Thread { self.loop() }
        thread.name = "strata-coordinator-link"
        thread.start()
    }

    /// Stops the thread after its current call.
    func stop() {
        running.withLockedValue { $0 = false }
    }

    private var isRunning: Bool { running.withLockedValue { $0 } }

    /// Whether the node holds a valid lease: the coordinator answered a heartbeat
    /// sent less than `lease` ago. A primary takes writes only while it does.
    var hasLease: Bool {
        guard let acknowledged = lastAcknowledged.withLockedValue({ $0 }) else { return false }
        return ContinuousClock.now - acknowledged < lease
    }

    /// Whether the coordinator ever answered a heartbeat since the node started.
    var hadLease: Bool { lastAcknowledged.withLockedValue { $0 != nil } }

    private func loop() {
        var client: BlockingRESPClient?
        var warned = false
        while isRunning {
            do {
                if client == nil {
                    client = try BlockingRESPClient(host: host, port: port, timeout: .seconds(1))
                    logger.info("connected to the coordinator", metadata: ["coordinator": "\(host):\(port)"])
                    warned = false
                }
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
                let sentAt = ContinuousClock.now
                let reply = try client!.call(arguments)
                guard case .integer(let epoch) = reply else {
                    throw BlockingRESPClient.Failure(description: "heartbeat refused: \(reply)")
                }
                if UInt64(epoch) > currentEpoch() {
                    guard case .bulkString(let json) = try client!.call(["CLUSTER", "MAP"]) else {
                        throw BlockingRESPClient.Failure(description: "CLUSTER MAP did not return a bulk string")
                    }
                    adopt(try ClusterMap(jsonData: Data(json.readableBytesView)))
                }
                // The lease is renewed only once this node follows a map at least as new as the
                // coordinator's at the heartbeat: a deposed primary must not write under its old map.
                if currentEpoch() >= UInt64(epoch) {
                    lastAcknowledged.withLockedValue { $0 = sentAt }
                }
            } catch {
                client = nil
                if !warned {
                    logger.warning("coordinator unreachable; retrying", metadata: ["error": "\(error)"])
                    warned = true
                }
            }
            Thread.sleep(forTimeInterval: interval / .seconds(1))
        }
    }
}

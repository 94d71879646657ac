import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import StrataBench
import StrataCache
import StrataClient
import StrataCluster
import StrataCoordinator
import StrataGateway
import StrataNode
import StrataWire

/// `strata status`: the coordinator's view of the cluster as a table.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Print nodes, states, shards per node and the map epoch.")

    @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"

    func run() async throws {
        print(StatusReport.render(try await coordinatorMap(config: config)))
    }
}

/// Sends one command to the coordinator named in the cluster.json at `config` and returns its reply.
func callCoordinator(config: String, _ arguments: [String]) async throws -> RESPValue {
    let cluster = try ClusterConfig.load(path: config)
    guard let coordinator = cluster.coordinator else { throw ValidationError("\(config) has no coordinator") }
    let connection = try await RESPConnection.connect(
        host: coordinator.host, port: Int(coordinator.port), node: NodeID("coordinator"),
        group: MultiThreadedEventLoopGroup.singleton, timeout: .seconds(2))
    defer { connection.close() }
    return try await connection.send(arguments, deadline: .now + .seconds(5))
}

/// `strata failover`: move a shard's primary for maintenance, losing no write.
struct FailoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Move a shard's primary to an in-sync replica (planned; no write is lost).",
        discussion: """
            The coordinator publishes the new primary with a new shard epoch. The old primary stops
            taking writes when it sees the new map; the new one takes writes once it has drained the
            old primary's log, so even writes acknowledged with acks=leader survive.
            """)

    @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"
    @Option(help: "The shard whose primary moves.") var shard: UInt32
    @Option(help: "The replica to promote (default: the most caught-up in-sync one).") var to: String?

    func run() async throws {
        let reply = try await callCoordinator(config: config, ["CLUSTER", "FAILOVER", String(shard)] + (to.map { [$0] } ?? []))
        guard case .array(let fields) = reply, fields.count == 2, case .bulkString(let primary) = fields[0],
            case .integer(let epoch) = fields[1]
        else {
            if case .error(let message) = reply {
                throw ValidationError("failover refused: \(String(buffer: message))")
            }
            throw ValidationError("unexpected reply: \(reply)")
        }
        print("shard \(shard): primary is now \(String(buffer: primary)) at shard epoch \(epoch)")
    }
}

/// `strata cluster`: change the cluster's membership online.
struct ClusterAdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Change the cluster's membership online, watch and throttle the moves, verify the copies.",
        subcommands: [
            AddNode.self, RemoveNode.self, SetWeight.self, Split.self, Moves.self, VerifyCopies.self, Throttle.self,
        ])

    /// `strata cluster moves`: the shards on the move.
    struct Moves: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "moves",
            abstract: "List the shards on the move: from and to which nodes, the phase, and for copies in progress bytes and records done of the total, rate and ETA.")

        @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"

        func run() async throws {
            let map = try await coordinatorMap(config: config)
            print(MoveReport.render(map))
            let progress = try await copyProgress(config: config, map: map)
            if !progress.isEmpty { print("\n" + progress) }
        }
    }

    /// `strata cluster set-weight`: a node's relative capacity.
    struct SetWeight: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-weight",
            abstract: "Change a node's relative capacity: shards move onto it (higher) or off it (lower) as the new copies catch up.")

        @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"
        @Argument(help: "The node's id.") var id: String
        @Argument(help: "Its new weight (1-1000).") var weight: Int

        func run() async throws {
            let epoch = try await coordinatorEpoch(
                config: config, ["CLUSTER", "SETWEIGHT", id, String(weight)], refused: "setting \(id)'s weight")
            print("node \(id) has weight \(weight) (map epoch \(epoch)); shards move as their copies catch up")
        }
    }

    /// `strata cluster split`: split a shard's hash range in two.
    struct Split: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "split",
            abstract: "Split a shard's hash range in two online: the upper half becomes a new shard on the same nodes.",
            discussion: """
                Clients and gateways follow the new map (MOVED and the coordinator's pushes). The new shard's
                followers copy it from its primary; `strata cluster verify` compares the copies.
                """)

        @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"
        @Option(help: "The shard to split.") var shard: UInt32

        func run() async throws {
            let reply = try await callCoordinator(config: config, ["CLUSTER", "SPLIT", String(shard)])
            guard case .array(let fields) = reply, fields.count == 2, case .integer(let added) = fields[0],
                case .integer(let epoch) = fields[1]
            else {
                if case .error(let message) = reply { throw ValidationError("splitting shard \(shard) refused: \(String(buffer: message))") }
                throw ValidationError("unexpected reply: \(reply)")
            }
            let map = try await coordinatorMap(config: config)
            for id in [ShardID(shard), ShardID(UInt32(added))] {
                guard let assignment = map.shard(id) else { continue }
                print("shard \(id): \(assignment.range) on \(assignment.replicas.map(\.rawValue).joined(separator: ", "))")
            }
            print("map epoch \(epoch)")
        }
    }

    /// `strata cluster remove-node`: decommission a node.
    struct RemoveNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-node",
            abstract: "Decommission a node: its shards move to the others as their new copies catch up, then it leaves the map.",
            discussion: "Stop the node once `strata status` no longer lists it.")

        @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"
        @Argument(help: "The node's id.") var id: String

        func run() async throws {
            let epoch = try await coordinatorEpoch(config: config, ["CLUSTER", "REMOVENODE", id], refused: "removing \(id)")
            print("node \(id) is draining (map epoch \(epoch)); it leaves the map once its shards have moved")
        }
    }

    /// `strata cluster add-node`: announce a node to the coordinator.
    struct AddNode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-node",
            abstract: "Add a node: the coordinator gives it ring tokens and moves shards onto it as it catches up.",
            discussion: """
                Start the node (strata node --config cluster.json --id ID) with an entry in its
                cluster.json; its shards' old copies stay until it has caught up, so nothing is lost.
                `strata node --join` announces itself the same way.
                """)

        @Option(help: "Path to cluster.json (for the coordinator's address).") var config = "cluster.json"
        @Option(help: "The new node's id.") var id: String
        @Option(help: "Its host.") var host: String
        @Option(help: "Its RESP data port.") var port: UInt16
        @Option(help: "Its HTTP port for /metrics and /health.") var metricsPort: UInt16?
        @Option(help: "Its failure domain.") var zone: String?
        @Option(help: "Its relative capacity.") var weight: Int?

        func run() async throws {
            let epoch = try await announce(
                NodeAnnouncement(id: id, host: host, port: port, metricsPort: metricsPort, zone: zone, weight: weight),
                config: config)
            print("node \(id) is in the cluster map (epoch \(epoch)); shards move onto it as it catches up")
        }
    }
}

/// Sends `CLUSTER ADDNODE` for `node` to the coordinator of `config`; returns the map epoch.
func announce(_ node: NodeAnnouncement, config: String) async throws -> Int64 {
    try await coordinatorEpoch(config: config, node.arguments, refused: "adding \(node.id)")
}

/// Sends a membership change to the coordinator of `config`; returns the map epoch it answers,
/// or throws its refusal as "`refused` refused: …".
func coordinatorEpoch(config: String, _ arguments: [String], refused: String) async throws -> Int64 {
    let reply = try await callCoordinator(config: config, arguments)
    guard case .integer(let epoch) = reply else {
        if case .error(let message) = reply { throw ValidationError("\(refused) refused: \(String(buffer: message))") }
        throw ValidationError("unexpected reply: \(reply)")
    }
    return epoch
}

/// The coordinator's current map (`CLUSTER MAP`), from the coordinator of `config`.
func coordinatorMap(config: String) async throws -> ClusterMap {
    guard case .bulkString(let json) = try await callCoordinator(config: config, ["CLUSTER", "MAP"]) else {
        throw ValidationError("the coordinator did not return a map")
    }
    return try ClusterMap(jsonData: Data(json.readableBytesView))
}

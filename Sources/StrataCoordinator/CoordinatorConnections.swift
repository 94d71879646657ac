import Foundation
import NIOCore
import StrataCluster
import StrataServer
import StrataWire

/// A coordinator connection's state: the shared session, and whether it now only receives map pushes.
struct CoordinatorSession: ServerSession {
    /// What every server keeps.
    var client: ClientSession
    /// `CLUSTER SUBSCRIBE` was sent.
    var isSubscribed = false

    var isAuthenticated: Bool { true }
    var isInternal: Bool { false }
    mutating func resetIdentity() {}
}

/// The coordinator behind its connections' `RESPServerHandler`: the shared
/// connection commands, `INFO`, and `CLUSTER MAP|EPOCH|NODES|HEARTBEAT|SUBSCRIBE|FAILOVER`.
final class CoordinatorConnections: RESPServer {
    typealias Session = CoordinatorSession

    private let coordinator: CoordinatorServer
    private let identity = ServerIdentity(mode: "coordinator")
    private let credentials: ClusterCredentials

    init(coordinator: CoordinatorServer, credentials: ClusterCredentials) {
        self.coordinator = coordinator
        self.credentials = credentials
    }

    func execute(_ batch: [RESPCommand], session: CoordinatorSession, connection: Channel) -> BatchResult<CoordinatorSession> {
        var session = session
        var out = connection.allocator.buffer(capacity: 256)
        for command in batch {
            if session.client.closeAfterReply || session.isSubscribed { break }
            let reply: RESPValue
            do {
                reply = try run(CommandTable.coordinator.parse(command), session: &session, connection: connection)
            } catch {
                reply = .errorMessage(error.message)
            }
            reply.encode(into: &out, version: session.client.protocolVersion)
        }
        return .done(out, session)
    }

    private func run(_ parsed: ParsedCommand, session: inout CoordinatorSession, connection: Channel) throws(CommandError) -> RESPValue {
        try SessionCommands.admit(parsed, session: &session)
        let command = try parsed.parsed.get()
        if let answer = try SessionCommands.execute(
            command, session: &session, table: .coordinator, identity: identity,
            authenticate: { (credentials, session) throws(CommandError) in try authenticate(credentials, session: &session) })
        {
            return answer
        }
        switch command {
        case .info:
            let map = coordinator.map
            return .verbatim(
                "# Server\r\n" + ServerIdentity.infoVersionFields.map { "\($0.0):\($0.1)\r\n" }.joined() + "strata_mode:coordinator\r\nmap_epoch:\(map.epoch)\r\nnodes:\(map.nodes.count)\r\nshards:\(map.shards.count)\r\n")
        case .cluster(let cluster):
            return try self.cluster(cluster, session: &session, connection: connection)
        default:
            throw CommandError.unknownCommand(parsed.arguments.map { $0.readableBytesView })
        }
    }

    /// `AUTH [user] secret`, also `HELLO … AUTH`: checked against cluster.json's
    /// tenants and internal secret, so a client library that authenticates
    /// every connection it opens can talk to the coordinator too. The
    /// connection's rights do not change yet (the coordinator serves every connection).
    private func authenticate(_ given: Credentials, session: inout CoordinatorSession) throws(CommandError) {
        let principal = credentials.authenticate(
            user: given.user.map { Array($0.readableBytesView) }, secret: Array(given.password.readableBytesView))
        switch principal {
        case .internal: session.client.user = ClusterCredentials.internalUser
        case .tenant(let name): session.client.user = String(decoding: name, as: UTF8.self)
        case nil: throw .wrongPass
        }
    }

    private func cluster(_ command: ClusterCommand, session: inout CoordinatorSession, connection: Channel) throws(CommandError) -> RESPValue {
        switch command {
        case .map:
            return .bulk((try? coordinator.map.jsonData()).map { Array($0) } ?? Array("{}".utf8))
        case .epoch:
            return .integer(Int64(coordinator.map.epoch))
        case .nodes:
            return .bulk(StatusReport.render(coordinator.map))
        case .failover(let shard, let target):
            let map: ClusterMap
            do {
                map = try coordinator.failover(
                    shard: ShardID(UInt32(clamping: shard)),
                    to: target.map { NodeID(String(decoding: $0.readableBytesView, as: UTF8.self)) })
            } catch {
                throw CommandError(message: "ERR \(error.message)")
            }
            guard let assignment = map.shard(ShardID(UInt32(clamping: shard))), let primary = assignment.primary else {
                throw CommandError(message: "ERR shard \(shard) has no primary")
            }
            return .array([.bulk(primary.rawValue), .integer(Int64(assignment.epoch))])
        case .addNode(let announced):
            let node = ClusterNode(
                id: NodeID(announced.id), host: announced.host, dataPort: announced.port, metricsPort: announced.metricsPort,
                zone: announced.zone ?? "default", weight: announced.weight ?? 1)
            do {
                return .integer(Int64(try coordinator.addNode(node).epoch))
            } catch {
                throw CommandError(message: "ERR \(error.message)")
            }
        case .removeNode(let id):
            do {
                return .integer(Int64(try coordinator.removeNode(NodeID(String(buffer: id))).epoch))
            } catch {
                throw CommandError(message: "ERR \(error.message)")
            }
        case .setWeight(let id, let weight):
            do {
                return .integer(Int64(try coordinator.setWeight(NodeID(String(buffer: id)), to: Int(weight)).epoch))
            } catch {
                throw CommandError(message: "ERR \(error.message)")
            }
        case .split(let shard):
            do {
                let (map, added) = try coordinator.split(ShardID(UInt32(shard)))
                return .array([.integer(Int64(added.rawValue)), .integer(Int64(map.epoch))])
            } catch {
                throw CommandError(message: "ERR \(error.message)")
            }
        case .heartbeat(let node, let appliedList, let caughtUpList, let verifiedList, let sizeList):
            var applied: [ShardID: UInt64] = [:]
            for entry in appliedList { applied[ShardID(UInt32(clamping: entry.shard))] = UInt64(entry.sequence) }
            var caughtUp: [ShardID: CoordinatorCore.CaughtUp] = [:]
            for entry in caughtUpList {
                caughtUp[ShardID(UInt32(clamping: entry.shard)), default: .init(epoch: UInt64(entry.epoch), followers: [])]
                    .followers.insert(NodeID(String(decoding: entry.follower.readableBytesView, as: UTF8.self)))
            }
            do {
                let epoch = try coordinator.heartbeat(
                    node: NodeID(String(decoding: node.readableBytesView, as: UTF8.self)), applied: applied, caughtUp: caughtUp,
                    verified: Set(verifiedList.map { ShardID(UInt32(clamping: $0)) }),
                    sizes: Dictionary(sizeList.map { (ShardID(UInt32(clamping: $0.shard)), UInt64($0.bytes)) }, uniquingKeysWith: { $1 }))
                return .integer(Int64(epoch))
            } catch {
                throw CommandError(message: "ERR \(error.message)")
            }
        case .subscribe:
            session.isSubscribed = true
            return CoordinatorServer.pushValue(coordinator.subscribe(connection))
        }
    }
}

import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import StrataClient
import StrataCluster

/// `strata cluster verify`: every copy of every shard holds the same records.
struct VerifyCopies: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Compare every shard's copies (SHARDCHECKSUM on each node that holds it) until they agree or time runs out.",
        discussion: """
            Run it when writes have stopped (copies that are still applying differ for a moment: it retries).
            Prints one line per shard that still differs and exits with status 1, or "N shards, M copies: all equal".
            """)

    @Option(help: "Path to cluster.json (for the coordinator's address and the internal secret).") var config = "cluster.json"
    @Option(help: "Seconds to wait for copies to agree.") var timeout = 20

    func run() async throws {
        let cluster = try ClusterConfig.load(path: config)
        guard let secret = cluster.internalSecret else { throw ValidationError("\(config) has no internalSecret") }
        let map = try await coordinatorMap(config: config)
        var connections: [NodeID: RESPConnection] = [:]
        defer { for connection in connections.values { connection.close() } }
        func checksum(_ shard: ShardID, on node: NodeID) async throws -> [Int64] {
            if connections[node] == nil {
                guard let address = map.node(node) else { throw ValidationError("\(node) is not in the map") }
                let connection = try await RESPConnection.connect(
                    host: address.host, port: Int(address.dataPort), node: node, group: MultiThreadedEventLoopGroup.singleton,
                    timeout: .seconds(2))
                _ = try await connection.send(["AUTH", "@internal", secret], deadline: .now + .seconds(5))
                connections[node] = connection
            }
            let reply = try await connections[node]!.send(["SHARDCHECKSUM", String(shard.rawValue)], deadline: .now + .seconds(30))
            guard case .array(let fields) = reply else { throw ValidationError("SHARDCHECKSUM on \(node): \(reply)") }
            return fields.map { if case .integer(let value) = $0 { value } else { -1 } }
        }
        let deadline = ContinuousClock.now + .seconds(timeout)
        var differing: [String] = []
        repeat {
            differing = []
            for shard in map.shards {
                var sums: [NodeID: [Int64]] = [:]
                for node in shard.replicas { sums[node] = try await checksum(shard.id, on: node) }
                if Set(sums.values).count > 1 {
                    differing.append("shard \(shard.id): " + shard.replicas.map { "\($0) \(sums[$0]!)" }.joined(separator: ", "))
                }
            }
            if differing.isEmpty {
                print("\(map.shards.count) shards, \(map.shards.reduce(0) { $0 + $1.replicas.count }) copies: all equal")
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        } while ContinuousClock.now < deadline
        for line in differing { print(line) }
        throw ExitCode(1)
    }
}

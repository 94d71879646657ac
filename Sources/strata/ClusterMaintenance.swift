import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import StrataClient
import StrataCluster
import StrataCoordinator
import StrataWire

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
        let map = try await coordinatorMap(config: config)
        let nodes = try InternalConnections(config: config, map: map)
        defer { nodes.close() }
        func checksum(_ shard: ShardID, on node: NodeID) async throws -> [Int64] {
            let reply = try await nodes.call(node, ["SHARDCHECKSUM", String(shard.rawValue)])
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

/// `strata cluster throttle`: the transfer limits of every node, changed while they run.
struct Throttle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throttle",
        abstract: "Set how fast (MB/s) and how many shards at once every node copies when shards move; without options, show them.",
        discussion: """
            Sends CONFIG SET transfer-mb-per-second / max-copying-shards to every node in the map (0: no limit).
            A node started later, or restarted, takes its command-line values (--transfer-mb-per-second,
            --max-copying-shards).
            """)

    @Option(help: "Path to cluster.json (for the coordinator's address and the internal secret).") var config = "cluster.json"
    @Option(help: "MB a second of shard copies each node takes in (0: no limit).") var mbPerSecond: Double?
    @Option(help: "Shards each node copies at once (0: no limit).") var maxCopyingShards: Int?

    func run() async throws {
        let map = try await coordinatorMap(config: config)
        let nodes = try InternalConnections(config: config, map: map)
        defer { nodes.close() }
        var settings: [String] = []
        if let mbPerSecond { settings += ["transfer-mb-per-second", String(mbPerSecond)] }
        if let maxCopyingShards { settings += ["max-copying-shards", String(maxCopyingShards)] }
        print("NODE   TRANSFER MB/S  MAX COPYING SHARDS")
        for node in map.nodes {
            if !settings.isEmpty {
                let reply = try await nodes.call(node.id, ["CONFIG", "SET"] + settings)
                if case .error(let message) = reply { throw ValidationError("\(node.id) refused: \(String(buffer: message))") }
            }
            var values: [String: String] = [:]
            // RESP2: the map comes as a flat array of names and values.
            if case .array(let items) = try await nodes.call(node.id, ["CONFIG", "GET", "transfer-mb-per-second", "max-copying-shards"]) {
                for index in stride(from: 0, to: items.count - 1, by: 2) {
                    if case .bulkString(let name) = items[index], case .bulkString(let text) = items[index + 1] {
                        values[String(buffer: name)] = String(buffer: text)
                    }
                }
            }
            print(
                node.id.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
                    + (values["transfer-mb-per-second"] ?? "?").padding(toLength: 15, withPad: " ", startingAt: 0)
                    + (values["max-copying-shards"] ?? "?"))
        }
    }
}

/// The copies in progress on the nodes of the moves in `map` (`COPYPROGRESS` on
/// each node a shard moves to), as a table; empty when none is copying.
func copyProgress(config: String, map: ClusterMap) async throws -> String {
    let joining = Set(MoveReport.moves(in: map).filter { $0.phase == .copying || $0.phase == .catchingUp }.flatMap { move in
        move.to.filter { node in map.shard(move.shard)?.inSync.contains(node) == false }
    })
    guard !joining.isEmpty else { return "" }
    let nodes = try InternalConnections(config: config, map: map)
    defer { nodes.close() }
    var lines = ["COPYING SHARD  TO     DONE MB / TOTAL MB   RECORDS / TOTAL       MB/S   ETA"]
    func number(_ value: RESPValue) -> Int64 { if case .integer(let n) = value { n } else { -1 } }
    for node in joining.sorted(by: { $0.rawValue < $1.rawValue }) {
        guard case .array(let shards) = try await nodes.call(node, ["COPYPROGRESS"]) else { continue }
        for case .array(let fields) in shards where fields.count == 6 {
            let (shard, bytes, records, milliseconds, totalRecords, totalBytes) =
                (number(fields[0]), number(fields[1]), number(fields[2]), number(fields[3]), number(fields[4]), number(fields[5]))
            let rate = Double(bytes) / 1e6 / max(Double(milliseconds) / 1000, 0.001)
            let eta = totalBytes >= 0 && rate > 0 ? String(format: "%.0f s", max(Double(totalBytes - bytes) / 1e6 / rate, 0)) : "-"
            let total = totalBytes >= 0 ? String(format: "%.1f", Double(totalBytes) / 1e6) : "?"
            let recordTotal = totalRecords >= 0 ? String(totalRecords) : "?"
            lines.append(
                "        " + String(shard).padding(toLength: 7, withPad: " ", startingAt: 0)
                    + node.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
                    + (String(format: "%.1f", Double(bytes) / 1e6) + " / " + total).padding(toLength: 21, withPad: " ", startingAt: 0)
                    + "\(records) / \(recordTotal)".padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(format: "%6.1f", rate) + "   " + eta)
        }
    }
    return lines.count > 1
        ? (lines + ["(log catch-up counts every change replayed, so done may pass the total)"]).joined(separator: "\n") : ""
}

/// Connections to the map's nodes as the cluster's internal user, opened on first use.
final class InternalConnections {
    private let map: ClusterMap
    private let secret: String
    private var open: [NodeID: RESPConnection] = [:]

    /// Connections to the nodes of `map`, with the internal secret of the cluster.json at `config`.
    init(config: String, map: ClusterMap) throws {
        guard let secret = try ClusterConfig.load(path: config).internalSecret else {
            throw ValidationError("\(config) has no internalSecret")
        }
        self.map = map
        self.secret = secret
    }

    /// Sends one command to `node` and returns its reply.
    func call(_ node: NodeID, _ arguments: [String]) async throws -> RESPValue {
        if open[node] == nil {
            guard let address = map.node(node) else { throw ValidationError("\(node) is not in the map") }
            let connection = try await RESPConnection.connect(
                host: address.host, port: Int(address.dataPort), node: node, group: MultiThreadedEventLoopGroup.singleton,
                timeout: .seconds(2))
            _ = try await connection.send(["AUTH", "@internal", secret], deadline: .now + .seconds(5))
            open[node] = connection
        }
        return try await open[node]!.send(arguments, deadline: .now + .seconds(30))
    }

    /// Closes every connection.
    func close() {
        for connection in open.values { connection.close() }
    }
}

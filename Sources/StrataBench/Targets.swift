import NIOCore
import NIOPosix
import StrataClient
import StrataCluster
import StrataWire

/// What `strata bench` drives: Strata through the embedded client, or any
/// RESP server (the Strata gateway, Redis) over the same plain RESP path.
public protocol BenchTarget: Sendable {
    /// The name in reports.
    var name: String { get }
    /// Reads one key.
    func read(_ key: String, client: Int) async throws
    /// Writes one key (update or insert).
    func write(_ key: String, _ value: [UInt8], client: Int) async throws
    /// Reads `keys` in one request (YCSB's short scan, over consecutive key numbers: the store is hashed, not ordered).
    func readMany(_ keys: [String], client: Int) async throws
}

/// Strata through `StrataClient` (with or without its near-cache).
public struct ClientTarget: BenchTarget {
    /// The name in reports.
    public let name: String
    let client: StrataClient

    /// A target that uses `client`.
    public init(name: String, client: StrataClient) {
        self.name = name
        self.client = client
    }

    public func read(_ key: String, client index: Int) async throws { _ = try await client.get(StrataKey(key)) }
    public func write(_ key: String, _ value: [UInt8], client index: Int) async throws { try await client.set(StrataKey(key), value) }
    public func readMany(_ keys: [String], client index: Int) async throws { _ = try await client.multiGet(keys.map { StrataKey($0) }) }
}

/// Any RESP server, one connection per bench client (as `redis-benchmark -c N`).
public final class RESPTarget: BenchTarget {
    /// The name in reports.
    public let name: String
    private let connections: [RESPConnection]
    private let timeout: Duration

    /// Opens `clients` connections to `host:port`.
    public init(name: String, host: String, port: Int, clients: Int, timeout: Duration = .seconds(5)) async throws {
        self.name = name
        self.timeout = timeout
        var connections: [RESPConnection] = []
        for _ in 0..<max(clients, 1) {
            connections.append(try await RESPConnection.connect(
                host: host, port: port, node: NodeID("\(host):\(port)"), group: MultiThreadedEventLoopGroup.singleton,
                timeout: timeout))
        }
        self.connections = connections
    }

    private func call(_ client: Int, _ arguments: [String], value: [UInt8]? = nil) async throws {
        var buffers = arguments.map { ByteBuffer(string: $0) }
        if let value { buffers.append(ByteBuffer(bytes: value)) }
        let reply = try await connections[client % connections.count].send(buffers, deadline: .now + timeout)
        if case .error(let message) = reply { throw StrataError(.invalidArgument, String(buffer: message)) }
    }

    public func read(_ key: String, client: Int) async throws { try await call(client, ["GET", key]) }
    public func write(_ key: String, _ value: [UInt8], client: Int) async throws { try await call(client, ["SET", key], value: value) }
    public func readMany(_ keys: [String], client: Int) async throws { try await call(client, ["MGET"] + keys) }

    /// Closes the connections.
    public func close() { for connection in connections { connection.close() } }
}

import Foundation
import NIOCore
import ServiceLifecycle
// The near-cache's types (CachePolicy, CacheStatistics, Loaded) are part of this API.
@_exported import StrataCache
import StrataCluster
import StrataWire
import Synchronization

/// Per-request settings; anything left `nil` uses the client's configuration.
public struct RequestOptions: Sendable {
    /// How long the request may take, every attempt and backoff included.
    public var timeout: Duration?
    /// Where a read goes.
    public var readPolicy: ReadPolicy?
    /// A read-your-writes session: reads see this session's writes.
    public var session: StrataSession?
    /// When a write is acknowledged.
    public var acks: ClusterConfig.Acks?

    /// Options overriding the client's configuration where given.
    public init(
        timeout: Duration? = nil, readPolicy: ReadPolicy? = nil, session: StrataSession? = nil,
        acks: ClusterConfig.Acks? = nil
    ) {
        self.timeout = timeout
        self.readPolicy = readPolicy
        self.session = session
        self.acks = acks
    }
}

/// Read-your-writes: remembers the version of each shard this session wrote;
/// a replica serving the session's reads must have applied it (it waits
/// briefly, or the read goes to the primary).
public final class StrataSession: Sendable {
    private let tokens = Mutex<[ShardID: UInt64]>([:])
    /// Reads that went to the primary because a replica was behind (for tests and metrics).
    let redirects = Atomic<Int>(0)

    /// An empty session.
    public init() {}

    /// The highest version this session wrote in `shard`.
    public func token(for shard: ShardID) -> UInt64? { tokens.withLock { $0[shard] } }

    /// Notes a write of `shard` at `version`.
    public func note(shard: ShardID, version: UInt64) {
        tokens.withLock { $0[shard] = max($0[shard] ?? 0, version) }
    }

    /// Reads this session sent to the primary because a replica had not caught up.
    public var primaryFallbacks: Int { redirects.load(ordering: .relaxed) }
}

/// A value and its version (the shard sequence number of its last write).
public struct Versioned: Sendable, Hashable {
    /// The value's bytes.
    public var value: [UInt8]
    /// Its version, for `compareAndSet(expectedVersion:)`.
    public var version: UInt64

    /// A value at a version.
    public init(value: [UInt8], version: UInt64) {
        self.value = value
        self.version = version
    }
}

/// When `set` writes.
public enum SetCondition: Sendable, Hashable {
    /// Always.
    case always
    /// Only if the key does not exist (`NX`).
    case ifAbsent
    /// Only if the key exists (`XX`).
    case ifPresent
}

/// Strata's embedded client: shard-aware routing straight to the right node,
/// reads spread over replicas, retries, circuit breakers and read-your-writes
/// built in. A `Sendable` value: copy it freely; all copies share connections.
///
/// Run it as a service (`run()` keeps the cluster map current and closes the
/// connections when it ends):
///
/// ```swift
/// let client = try StrataClient(configuration: .init(clusterConfigPath: "cluster.json"))
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await client.run() }
///     try await client.set("greeting", "hello", ttl: .seconds(60))
///     print(try await client.getString("greeting") ?? "missing")
///     group.cancelAll()
/// }
/// ```
public struct StrataClient: Sendable, Service {
    let engine: ClientEngine

    /// A client for `configuration`. Nothing connects until the first request or `run()`.
    public init(configuration: StrataClientConfiguration) throws {
        engine = try ClientEngine(configuration: configuration)
    }

    /// Follows the coordinator's map updates until cancelled or a graceful shutdown, then closes every connection.
    public func run() async throws {
        let view = engine.view
        let client = self
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await view.follow() }
                if let cache = client.engine.nearCache {
                    // Other clients' writes: drop what the near-cache holds of older versions.
                    group.addTask {
                        await ChangeFeedFollower(client: client).run(
                            changes: { changes in
                                for change in changes { cache.invalidate(CacheKey(change.key), olderThan: change.version) }
                            },
                            gap: { shard in
                                let map = view.cached
                                cache.invalidateAll { key in map.map { client.shard(of: key.bytes, in: $0) == shard } ?? true }
                            })
                    }
                }
            }
        }
        engine.shutdown()
    }

    /// The near-cache's counters (`nil` without a near-cache).
    public var nearCacheStatistics: CacheStatistics? { engine.nearCache?.statistics }

    /// A read through the near-cache: GETVER (and PTTL, so no entry outlives the key) on a miss.
    private func cachedRead(_ key: [UInt8], _ options: RequestOptions) async throws -> Loaded<[UInt8]>? {
        guard let cache = engine.nearCache, options.session == nil else { return nil }
        let client = self
        return try await cache.getVersioned(CacheKey(key)) { key in try await client.loadForCache(key.bytes, options) }
    }

    /// Loads `key` for a cache: its value, version and remaining TTL.
    public func loadForCache(_ key: [UInt8], _ options: RequestOptions = .init()) async throws -> Loaded<[UInt8]> {
        let versioned = try await run(Self.buffers([Array("GETVER".utf8), key]), key: key, write: false, options)
        guard case .array(let parts) = versioned, parts.count == 2, case .bulkString(let value) = parts[0],
            case .integer(let version) = parts[1]
        else { return Loaded(value: nil, version: 0) }
        let ttl = try await run(Self.buffers([Array("PTTL".utf8), key]), key: key, write: false, options)
        let expiresIn: Duration? = if case .integer(let ms) = ttl, ms >= 0 { .milliseconds(ms) } else { nil }
        return Loaded(value: Array(value.readableBytesView), version: UInt64(bitPattern: version), expiresIn: expiresIn)
    }



    /// The executor of the event loop that owns this client's connections. Running a
    /// latency-critical loop on it — `withTaskExecutorPreference(client.preferredExecutor) { … }` —
    /// keeps each request and its reply on one thread (no hand-off between the
    /// caller's thread and the loop), which roughly halves a round trip's overhead.
    public var preferredExecutor: any TaskExecutor { engine.executor }

    /// What the client has done so far: attempts, retries, redirects, hedges, per-node attempts and breaker states.
    public var statistics: Statistics {
        let nodes = engine.attemptsPerNode
        return Statistics(
            attempts: engine.attempts.load(ordering: .relaxed), retries: engine.retries.load(ordering: .relaxed),
            redirects: engine.redirects.load(ordering: .relaxed), hedges: engine.hedges.load(ordering: .relaxed),
            mapFetches: engine.view.fetchCount, attemptsPerNode: nodes,
            breakers: Dictionary(uniqueKeysWithValues: nodes.keys.map { ($0, engine.breakerState($0)) }))
    }

    /// Counters of a client's activity, for metrics and tests.
    public struct Statistics: Sendable {
        /// Requests sent to nodes, first attempts and retries.
        public var attempts: Int
        /// Retries (after retryable failures).
        public var retries: Int
        /// `MOVED` redirects followed.
        public var redirects: Int
        /// Second requests of hedged reads.
        public var hedges: Int
        /// Cluster map fetches on demand (pushes not counted).
        public var mapFetches: Int
        /// Attempts per node.
        public var attemptsPerNode: [NodeID: Int]
        /// Each contacted node's circuit breaker.
        public var breakers: [NodeID: CircuitBreaker.State]
    }

    // MARK: Keys and values

    private func hash(_ key: [UInt8]) -> UInt64 {
        PlacementKey.hash(tenant: engine.tenant, key: key, placement: engine.configuration.placement)
    }

    private func run(_ arguments: [ByteBuffer], key: [UInt8], write: Bool, _ options: RequestOptions) async throws -> RESPValue {
        let (reply, version) = try await engine.executeVersioned(
            Operation(arguments: arguments, hash: hash(key), isWrite: write, options: options))
        if write, let cache = engine.nearCache {
            // A plain SET's value is known; any other write drops the cached copy.
            if arguments.count == 3, arguments[0].readableBytesView.elementsEqual("SET".utf8), let version {
                cache.put(CacheKey(key), value: Array(arguments[2].readableBytesView), version: version)
            } else {
                cache.invalidate(CacheKey(key))
            }
        }
        return reply
    }

    private static func buffers(_ parts: [[UInt8]]) -> [ByteBuffer] { parts.map { ByteBuffer(bytes: $0) } }

    /// The value of `key`, or `nil` when it does not exist.
    public func get(_ key: StrataKey, options: RequestOptions = .init()) async throws -> [UInt8]? {
        let key = key.bytes
        if let cached = try await cachedRead(key, options) { return cached.value }
        switch try await run(Self.buffers([Array("GET".utf8), key]), key: key, write: false, options) {
        case .bulkString(let value): return Array(value.readableBytesView)
        case .null: return nil
        case let other: throw StrataError(.invalidArgument, "unexpected reply to GET: \(other)")
        }
    }

    /// The value of `key` as UTF-8 text, or `nil` when it does not exist.
    public func getString(_ key: StrataKey, options: RequestOptions = .init()) async throws -> String? {
        try await get(key, options: options).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The value of `key` with its version, or `nil` when it does not exist.
    public func getWithVersion(_ key: StrataKey, options: RequestOptions = .init()) async throws -> Versioned? {
        let key = key.bytes
        if let cached = try await cachedRead(key, options) {
            return cached.value.map { Versioned(value: $0, version: cached.version) }
        }
        switch try await run(Self.buffers([Array("GETVER".utf8), key]), key: key, write: false, options) {
        case .array(let parts) where parts.count == 2:
            guard case .bulkString(let value) = parts[0], case .integer(let version) = parts[1] else { fallthrough }
            return Versioned(value: Array(value.readableBytesView), version: UInt64(bitPattern: version))
        case .null: return nil
        case let other: throw StrataError(.invalidArgument, "unexpected reply to GETVER: \(other)")
        }
    }

    /// Sets `key` to `value`, optionally expiring after `ttl` and only under `condition`.
    /// - Returns: whether it was written (`false` when the condition did not hold).
    @discardableResult
    public func set(
        _ key: StrataKey, _ value: some Sequence<UInt8>, ttl: Duration? = nil, condition: SetCondition = .always,
        options: RequestOptions = .init()
    ) async throws -> Bool {
        let key = key.bytes
        var parts: [[UInt8]] = [Array("SET".utf8), key, Array(value)]
        if let ttl { parts += [Array("PX".utf8), Array(String(max(Int64(ttl / .milliseconds(1)), 1)).utf8)] }
        switch condition {
        case .always: break
        case .ifAbsent: parts.append(Array("NX".utf8))
        case .ifPresent: parts.append(Array("XX".utf8))
        }
        switch try await run(Self.buffers(parts), key: key, write: true, options) {
        case .simpleString: return true
        case .null: return false
        case let other: throw StrataError(.invalidArgument, "unexpected reply to SET: \(other)")
        }
    }

    /// Sets `key` to the UTF-8 bytes of `value`.
    @discardableResult
    public func set(
        _ key: StrataKey, _ value: String, ttl: Duration? = nil, condition: SetCondition = .always,
        options: RequestOptions = .init()
    ) async throws -> Bool {
        try await set(key, Array(value.utf8), ttl: ttl, condition: condition, options: options)
    }

    /// Writes `value` only if `key` is still at `expectedVersion` (0: only if it does not exist).
    /// - Returns: the new version.
    /// - Throws: `StrataError` `versionConflict` (with `currentVersion`) when another write came first.
    @discardableResult
    public func compareAndSet(
        _ key: StrataKey, _ value: some Sequence<UInt8>, expectedVersion: UInt64, options: RequestOptions = .init()
    ) async throws -> UInt64 {
        let session = options.session ?? StrataSession()
        var options = options
        options.session = session
        let keyBytes = key.bytes
        let reply = try await run(
            Self.buffers([Array("SET".utf8), keyBytes, Array(value), Array("IFVERSION".utf8), Array(String(expectedVersion).utf8)]),
            key: keyBytes, write: true, options)
        guard case .simpleString = reply else { throw StrataError(.invalidArgument, "unexpected reply to SET IFVERSION: \(reply)") }
        let map = try await engine.view.current()
        return session.token(for: map.shard(forHash: hash(keyBytes)).id) ?? 0
    }

    /// Deletes `key`. - Returns: whether it existed.
    @discardableResult
    public func delete(_ key: StrataKey, options: RequestOptions = .init()) async throws -> Bool {
        let key = key.bytes
        guard case .integer(let removed) = try await run(Self.buffers([Array("DEL".utf8), key]), key: key, write: true, options) else {
            throw StrataError(.invalidArgument, "unexpected reply to DEL")
        }
        return removed > 0
    }

    /// Adds `amount` to the integer at `key` (missing counts as 0), applied once even when retried.
    /// - Returns: the new value.
    @discardableResult
    public func increment(_ key: StrataKey, by amount: Int64 = 1, options: RequestOptions = .init()) async throws -> Int64 {
        let key = key.bytes
        let reply = try await run(
            Self.buffers([Array("INCRBY".utf8), key, Array(String(amount).utf8)]), key: key, write: true, options)
        guard case .integer(let value) = reply else { throw StrataError(.invalidArgument, "unexpected reply to INCRBY: \(reply)") }
        return value
    }

    /// Makes `key` expire after `ttl`. - Returns: whether the key exists.
    @discardableResult
    public func expire(_ key: StrataKey, after ttl: Duration, options: RequestOptions = .init()) async throws -> Bool {
        let key = key.bytes
        let reply = try await run(
            Self.buffers([Array("PEXPIRE".utf8), key, Array(String(max(Int64(ttl / .milliseconds(1)), 1)).utf8)]),
            key: key, write: true, options)
        guard case .integer(let set) = reply else { throw StrataError(.invalidArgument, "unexpected reply to PEXPIRE: \(reply)") }
        return set == 1
    }

    // MARK: Several keys

    /// Groups key indexes by shard.
    private func byShard(_ keys: [[UInt8]]) async throws -> [(hash: UInt64, indexes: [Int])] {
        let map = try await engine.view.current()
        var groups: [ShardID: (UInt64, [Int])] = [:]
        for (index, key) in keys.enumerated() {
            let hash = hash(key)
            groups[map.shard(forHash: hash).id, default: (hash, [])].1.append(index)
        }
        return groups.values.map { ($0.0, $0.1) }
    }

    /// The values of `keys`, in order (`nil` for missing ones): one `MGET` per shard, all shards in parallel.
    public func multiGet(_ keys: [StrataKey], options: RequestOptions = .init()) async throws -> [[UInt8]?] {
        let keys = keys.map(\.bytes)
        var values = [[UInt8]?](repeating: nil, count: keys.count)
        try await withThrowingTaskGroup(of: ([Int], RESPValue).self) { group in
            for (hash, indexes) in try await byShard(keys) {
                let arguments = Self.buffers([Array("MGET".utf8)] + indexes.map { keys[$0] })
                group.addTask {
                    (indexes, try await engine.execute(Operation(arguments: arguments, hash: hash, isWrite: false, options: options)))
                }
            }
            for try await (indexes, reply) in group {
                guard case .array(let items) = reply, items.count == indexes.count else {
                    throw StrataError(.invalidArgument, "unexpected reply to MGET: \(reply)")
                }
                for (index, item) in zip(indexes, items) {
                    if case .bulkString(let value) = item { values[index] = Array(value.readableBytesView) }
                }
            }
        }
        return values
    }

    /// Sets every pair: one `MSET` per shard (each applied atomically on its shard), all shards in parallel.
    public func multiSet(_ pairs: [(key: StrataKey, value: [UInt8])], options: RequestOptions = .init()) async throws {
        let keys = pairs.map(\.key.bytes)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (hash, indexes) in try await byShard(keys) {
                let arguments = Self.buffers([Array("MSET".utf8)] + indexes.flatMap { [keys[$0], pairs[$0].value] })
                group.addTask {
                    _ = try await engine.execute(Operation(arguments: arguments, hash: hash, isWrite: true, options: options))
                    for index in indexes { engine.nearCache?.invalidate(CacheKey(keys[index])) }
                }
            }
            try await group.waitForAll()
        }
    }

    // MARK: Scan

    /// Every key of the tenant matching `pattern` (a Redis glob), shard by shard:
    /// each node is scanned for the keys of the shards it leads. A key written or
    /// moved during the scan may be missed or seen twice, as with Redis `SCAN`.
    public func scan(matching pattern: StrataKey = "*", batch: Int = 256) -> AsyncThrowingStream<StrataKey, Error> {
        let engine = self.engine
        let client = self
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let map = try await engine.view.current()
                    for node in map.nodes where !map.shards(primaryOn: node.id).isEmpty {
                        var cursor = "0"
                        repeat {
                            let arguments = [ByteBuffer(string: "SCAN"), ByteBuffer(string: cursor), ByteBuffer(string: "MATCH"), ByteBuffer(bytes: pattern.bytes), ByteBuffer(string: "COUNT"), ByteBuffer(string: String(batch))]
                            let reply = try await engine.scanPage(arguments, on: node)
                            guard case .array(let parts) = reply, parts.count == 2, case .bulkString(let next) = parts[0],
                                case .array(let keys) = parts[1]
                            else { throw StrataError(.invalidArgument, "unexpected reply to SCAN: \(reply)", node: node.id) }
                            cursor = String(buffer: next)
                            for case .bulkString(let key) in keys {
                                let bytes = Array(key.readableBytesView)
                                // Only the keys this node leads: each key once, from its primary.
                                if map.shard(forHash: client.hash(bytes)).primary == node.id {
                                    continuation.yield(StrataKey(bytes))
                                }
                            }
                        } while cursor != "0" && !Task.isCancelled
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension ClientEngine {
    /// One `SCAN` page from `node` (no routing: the cursor belongs to that node).
    func scanPage(_ arguments: [ByteBuffer], on node: ClusterNode) async throws -> RESPValue {
        try await nodeCommand(arguments, on: node, deadline: .now + configuration.requestTimeout)
    }
}

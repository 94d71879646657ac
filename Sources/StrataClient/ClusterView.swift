import Foundation
import NIOCore
import StrataCluster
import StrataWire
import Synchronization

/// The client's copy of the cluster map: fetched on first use, kept current by
/// the coordinator's pushes (`CLUSTER SUBSCRIBE`) while `run()` runs, and
/// refreshed on demand after a `MOVED` — at most one fetch in flight and at
/// most one per `minRefreshInterval`, so a burst of redirects never turns
/// into a hot loop of refreshes.
final class ClusterView: Sendable {
    private struct State {
        var map: ClusterMap?
        var lastFetch: ContinuousClock.Instant?
        var fetching: Task<ClusterMap, Error>?
        var fetches = 0
    }

    private let source: StrataClientConfiguration.MapSource
    private let group: EventLoopGroup
    private let timeout: Duration
    private let state = Mutex(State())
    /// The least time between two on-demand fetches.
    let minRefreshInterval: Duration = .milliseconds(100)

    init(source: StrataClientConfiguration.MapSource, group: EventLoopGroup, timeout: Duration) throws {
        self.source = source
        self.group = group
        self.timeout = timeout
        if case .standaloneNode(let host, let port) = source {
            // A standalone node owns the whole ring, as `strata node --standalone` maps it.
            let node = ClusterNode(id: "standalone", host: host, dataPort: UInt16(clamping: port))
            let map = try ClusterMap.bootstrap(nodes: [node], shardCount: 64, replicationFactor: 1, vnodes: 16)
            state.withLock { $0.map = map }
        }
    }

    /// The current map, if any, without fetching.
    var cached: ClusterMap? { state.withLock { $0.map } }

    /// Map fetches so far (for tests and metrics).
    var fetchCount: Int { state.withLock { $0.fetches } }

    /// The current map, fetching it first if there is none yet.
    func current() async throws -> ClusterMap {
        if let map = state.withLock({ $0.map }) { return map }
        return try await refresh(newerThan: 0)
    }

    /// The map with an epoch above `epoch`, if one can be had: fetches unless the
    /// current map is already newer, a fetch is running (it is shared), or the
    /// last fetch was too recent (then the current map is returned).
    @discardableResult
    func refresh(newerThan epoch: UInt64) async throws -> ClusterMap {
        enum Step {
            case done(ClusterMap)
            case await(Task<ClusterMap, Error>)
        }
        let step = state.withLock { state -> Step in
            if let map = state.map, map.epoch > epoch { return .done(map) }
            if let fetching = state.fetching { return .await(fetching) }
            if let map = state.map, let last = state.lastFetch, ContinuousClock.now - last < minRefreshInterval {
                return .done(map)
            }
            guard case .coordinator(let host, let port) = source else {
                return .done(state.map!)
            }
            let task = Task { try await self.fetch(host: host, port: port) }
            state.fetching = task
            state.lastFetch = .now
            state.fetches += 1
            return .await(task)
        }
        switch step {
        case .done(let map): return map
        case .await(let task):
            do {
                let map = try await task.value
                state.withLock { $0.fetching = nil }
                return install(map)
            } catch {
                state.withLock { $0.fetching = nil }
                throw error
            }
        }
    }

    /// Keeps `map` if it is newer than the current one; returns the current one.
    @discardableResult
    func install(_ map: ClusterMap) -> ClusterMap {
        state.withLock { state in
            if state.map == nil || map.epoch > state.map!.epoch { state.map = map }
            return state.map!
        }
    }

    private func fetch(host: String, port: Int) async throws -> ClusterMap {
        let connection = try await RESPConnection.connect(
            host: host, port: port, node: "coordinator", group: group, timeout: timeout)
        defer { connection.close() }
        let reply = try await connection.send([ByteBuffer(string: "CLUSTER"), ByteBuffer(string: "MAP")], deadline: .now + timeout)
        return try Self.decodeMap(reply)
    }

    static func decodeMap(_ reply: RESPValue) throws -> ClusterMap {
        let json: ByteBuffer
        switch reply {
        case .bulkString(let bytes): json = bytes
        case .array(let items) where items.count == 2:
            guard case .bulkString(let bytes) = items[1] else { fallthrough }
            json = bytes
        default:
            throw StrataError(.unavailable, "the coordinator sent no cluster map: \(reply)")
        }
        do {
            return try ClusterMap(jsonData: Data(json.readableBytesView))
        } catch {
            throw StrataError(.unavailable, "the coordinator's cluster map does not decode: \(error)")
        }
    }

    /// Follows the coordinator's map pushes until cancelled, reconnecting after failures (`MapPushes`).
    func follow() async {
        guard case .coordinator(let host, let port) = source else {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            return
        }
        await MapPushes.follow(host: host, port: port, group: group, timeout: timeout, maxPause: .seconds(2)) { install($0) }
    }
}

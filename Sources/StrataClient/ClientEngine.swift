import NIOCore
import NIOPosix
import StrataCache
import StrataCluster
import StrataWire
import Synchronization

/// One request as the engine runs it: the command, where it goes, and how.
struct Operation: Sendable {
    /// The command and its arguments (a write's are wrapped in `REQID` by the engine).
    var arguments: [ByteBuffer]
    /// The key's placement hash; the shard and its replicas come from it.
    var hash: UInt64
    /// Whether it writes (goes to the primary, carries a request id).
    var isWrite: Bool
    var options: RequestOptions
    /// Commands sent just before `arguments` on the same connection, in one
    /// write (a transaction's `MULTI` and queued commands); only the reply to
    /// `arguments` is returned.
    var preamble: [[ByteBuffer]] = []
    /// Whether a write carries a request id, so a retry applies it once. A
    /// transaction does not: it is sent once, and sent again only after a
    /// `MOVED`, which says nothing ran.
    var deduplicated = true
}

/// The machinery behind `StrataClient`: map, pools, routing, retries, breakers.
final class ClientEngine: Sendable {
    let configuration: StrataClientConfiguration
    let view: ClusterView
    let tenant: [UInt8]
    /// The one event loop every connection of this client uses.
    private let loop: EventLoop
    /// Runs tasks on that loop (see `StrataClient.preferredExecutor`).
    let executor: EventLoopExecutor
    private let pools = Mutex<[PoolKey: NodePool]>([:])
    private let breakers = Mutex<[NodeID: CircuitBreaker]>([:])
    private let budget: Mutex<RetryBudget>
    private let turn = Atomic<Int>(0)
    private let latencies = Mutex(LatencyWindow())
    private let requestPrefix: String
    private let requestCounter = Atomic<UInt64>(0)
    /// Attempts sent (first tries and retries), for tests and metrics.
    let attempts = Atomic<Int>(0)
    /// Retries sent.
    let retries = Atomic<Int>(0)
    /// Second requests sent by hedged reads.
    let hedges = Atomic<Int>(0)
    /// `MOVED` redirects followed.
    let redirects = Atomic<Int>(0)
    /// The near-cache, when configured.
    let nearCache: StrataCache<CacheKey, [UInt8], ContinuousClock>?
    /// Attempts per node.
    private let attemptsByNode = Mutex<[NodeID: Int]>([:])

    /// Attempts sent to each node so far.
    var attemptsPerNode: [NodeID: Int] { attemptsByNode.withLock { $0 } }

    private struct PoolKey: Hashable {
        let node: NodeID
        let acks: ClusterConfig.Acks?
    }

    init(configuration: StrataClientConfiguration) throws {
        self.configuration = configuration
        loop = MultiThreadedEventLoopGroup.singleton.next()
        executor = EventLoopExecutor(loop)
        view = try ClusterView(source: configuration.source, group: loop, timeout: configuration.connectTimeout)
        tenant = Array((configuration.tenant ?? "default").utf8)
        budget = Mutex(RetryBudget(
            ratio: configuration.retryRatio, floor: configuration.retryFloor, window: configuration.retryWindow))
        var generator = SystemRandomNumberGenerator()
        requestPrefix = String(generator.next(), radix: 36)
        nearCache = configuration.nearCache.map { near in
            StrataCache(maxBytes: near.maxBytes, policy: near.policy, clock: ContinuousClock()) { key, value in
                key.count + (value?.count ?? 0) + 64
            }
        }
    }

    func shutdown() {
        let all = pools.withLock { pools in
            defer { pools.removeAll() }
            return Array(pools.values)
        }
        for pool in all { pool.shutdown() }
    }

    // MARK: Pools and breakers

    private func pool(for node: ClusterNode, acks: ClusterConfig.Acks?) -> NodePool {
        let key = PoolKey(node: node.id, acks: acks)
        return pools.withLock { pools in
            if let pool = pools[key] { return pool }
            var setup: [[ByteBuffer]] = []
            if let tenant = configuration.tenant, let secret = configuration.secret {
                setup.append(["AUTH", tenant, secret].map { ByteBuffer(string: $0) })
            }
            // Replica reads need READONLY; it changes nothing for reads and writes on a primary.
            // (Internal connections, used to follow change feeds, only replicate.)
            if configuration.tenant != "@internal" { setup.append([ByteBuffer(string: "READONLY")]) }
            if configuration.protocolVersion == .resp3 { setup.append(["HELLO", "3"].map { ByteBuffer(string: $0) }) }
            if let acks {
                setup.append(["CLIENT", "ACKS", acks == .all ? "ALL" : "LEADER"].map { ByteBuffer(string: $0) })
            }
            let address = configuration.addressOverrides[node.id]
                ?? .init(host: node.host, port: Int(node.dataPort))
            let pool = NodePool(
                node: node.id, host: address.host, port: address.port, group: loop, setup: setup,
                size: configuration.connectionsPerNode, maxWaiters: configuration.maxWaitersPerNode,
                connectTimeout: configuration.connectTimeout)
            pools[key] = pool
            return pool
        }
    }

    /// Requests in flight to `node` from this client.
    func outstanding(_ node: NodeID) -> Int {
        pools.withLock { pools in pools.filter { $0.key.node == node }.values.reduce(0) { $0 + $1.outstanding } }
    }

    /// The state of `node`'s breaker.
    func breakerState(_ node: NodeID) -> CircuitBreaker.State {
        breakers.withLock { $0[node]?.state ?? .closed(failures: 0) }
    }

    private func breakerAllows(_ node: NodeID, take: Bool) -> Bool {
        let now = ContinuousClock.now
        return breakers.withLock { breakers in
            var breaker = breakers[node] ?? CircuitBreaker(
                failureThreshold: configuration.breakerFailureThreshold, coolDown: configuration.breakerCoolDown)
            defer { breakers[node] = breaker }
            return take ? breaker.allow(at: now) : breaker.wouldAllow(at: now)
        }
    }

    private func recordOutcome(_ node: NodeID, failed: Bool) {
        let now = ContinuousClock.now
        breakers.withLock { breakers in
            var breaker = breakers[node] ?? CircuitBreaker(
                failureThreshold: configuration.breakerFailureThreshold, coolDown: configuration.breakerCoolDown)
            if failed { breaker.recordFailure(at: now) } else { breaker.recordSuccess() }
            breakers[node] = breaker
        }
    }

    // MARK: Running a request

    /// Runs `operation` with routing, redirects, retries and the breakers; returns the reply
    /// (for a write, the command's own reply, unwrapped from `REQID`).
    func execute(_ operation: Operation) async throws -> RESPValue {
        try await executeVersioned(operation).reply
    }

    /// `execute`, with the version a write got (from its `REQID` answer; `nil` for reads or no write).
    func executeVersioned(_ operation: Operation) async throws -> (reply: RESPValue, version: UInt64?) {
        let deadline = ContinuousClock.now + (operation.options.timeout ?? configuration.requestTimeout)
        var operation = operation
        if operation.isWrite && operation.deduplicated {
            // One id for every attempt: the primary applies it once.
            let id = requestPrefix + "-" + String(requestCounter.add(1, ordering: .relaxed).newValue, radix: 36)
            operation.arguments = [ByteBuffer(string: "REQID"), ByteBuffer(string: id)] + operation.arguments
        }
        budget.withLock { $0.recordRequest(at: .now) }
        var attempt = 0
        var handovers = 0
        var redirects = 0
        var failedNodes: Set<NodeID> = []
        // Where a MOVED said to go, when the map could not say better.
        var direct: NodeID?
        // The nodes that answered MOVED since the last map refresh: one answering
        // again means two nodes point at each other (their maps disagree for a
        // moment after a failover), and following them would only go round.
        var redirectedBy: Set<NodeID> = []
        var generator = SystemRandomNumberGenerator()
        while true {
            let map = try await view.current()
            let shard = map.shard(forHash: operation.hash)
            let failure: StrataError
            do {
                var targets = try self.targets(for: operation, shard: shard, map: map, avoiding: failedNodes)
                if let direct, let node = map.node(direct) { targets = [node] + targets.filter { $0.id != direct } }
                let (reply, node) = try await send(operation, shard: shard, map: map, targets: targets, deadline: deadline)
                if case .error(let message) = reply {
                    let text = String(buffer: message)
                    if text.hasPrefix("MOVED ") {
                        // MOVED <shard> <host:port> <shard epoch>.
                        let parts = text.split(separator: " ")
                        let movedEpoch = parts.count >= 4 ? UInt64(parts[3]) ?? 0 : 0
                        if movedEpoch < shard.epoch {
                            // The node is behind our map: it points at a copy older than our own view.
                            // Never follow it; ask the map's node again after a pause, as for TRYAGAIN.
                            direct = nil
                            throw StrataError(
                                .unavailable, "\(node) is behind shard \(shard.id)'s epoch \(shard.epoch): \(text)",
                                shard: shard.id, isHandover: true)
                        }
                        if !redirectedBy.insert(node).inserted {
                            // A loop: fetch the map, and try again after a pause, as for TRYAGAIN.
                            (redirectedBy, redirects, direct) = ([], 0, nil)
                            _ = try? await view.refresh(newerThan: map.epoch)
                            throw StrataError(
                                .unavailable, "MOVED loop for shard \(shard.id) (\(text)): the nodes' maps disagree",
                                shard: shard.id, isHandover: true)
                        }
                        redirects += 1
                        self.redirects.add(1, ordering: .relaxed)
                        guard redirects <= configuration.maxRedirects else {
                            throw StrataError(
                                .movedExhausted, "still redirected after \(redirects - 1) redirects: \(text)",
                                node: node, shard: shard.id)
                        }
                        // A newer epoch than ours means our map is stale: refresh it once (shared,
                        // rate-limited). Otherwise, or if the refresh brought nothing newer, go where
                        // the node says.
                        var refreshed = map
                        if movedEpoch > shard.epoch {
                            refreshed = (try? await view.refresh(newerThan: map.epoch)) ?? map
                        }
                        if (refreshed.shard(shard.id)?.epoch ?? 0) <= shard.epoch, parts.count >= 3 {
                            direct = refreshed.nodes.first { "\($0.host):\($0.dataPort)" == parts[2] }?.id
                        } else {
                            direct = nil
                        }
                        continue
                    }
                    throw StrataError.fromReply(text, node: node, shard: shard.id)
                }
                return try unwrap(reply, operation: operation, node: node, shard: shard.id)
            } catch let error as StrataError where error.isRetryable && (operation.deduplicated || !operation.isWrite) {
                failure = error
                if let node = error.node, error.code != .busy { failedNodes.insert(node) }
            }
            // A shard changing hands (TRYAGAIN, a node behind the map, a MOVED loop) is waited out
            // until the deadline, as Redis Cluster clients wait out TRYAGAIN: nothing failed.
            if failure.isHandover {
                handovers += 1
                guard handovers <= Self.maxHandoverRetries, ContinuousClock.now < deadline else { throw failure }
            } else {
                attempt += 1
                guard attempt < configuration.maxAttempts, ContinuousClock.now < deadline else { throw failure }
            }
            guard budget.withLock({ $0.tryRetry(at: .now) }) else {
                var exhausted = failure
                exhausted.message += " (not retried: the retry budget is spent)"
                throw exhausted
            }
            retries.add(1, ordering: .relaxed)
            let pause = min(configuration.backoff.delay(attempt: max(attempt - 1, 0) + handovers, using: &generator), deadline - .now)
            if pause > .zero { try await Task.sleep(for: pause) }
        }
    }

    /// Sends one command to `node` itself (no routing, no retry), e.g. a `SCAN` page.
    func nodeCommand(_ arguments: [ByteBuffer], on node: ClusterNode, deadline: ContinuousClock.Instant) async throws -> RESPValue {
        let reply = try await pool(for: node, acks: nil).send([arguments], deadline: deadline)[0]
        if case .error(let message) = reply { throw StrataError.fromReply(String(buffer: message), node: node.id, shard: nil) }
        return reply
    }

    /// How many times one request waits out a shard changing hands before it fails.
    static let maxHandoverRetries = 12

    /// The nodes to ask, in order: the primary for writes; for reads the policy's order.
    private func targets(
        for operation: Operation, shard: ShardAssignment, map: ClusterMap, avoiding failed: Set<NodeID>
    ) throws -> [ClusterNode] {
        guard let primary = shard.primary, let primaryNode = map.node(primary) else {
            throw StrataError(.unavailable, "shard \(shard.id) has no primary in map epoch \(map.epoch)", shard: shard.id)
        }
        let policy = operation.options.readPolicy ?? configuration.readPolicy
        if operation.isWrite || policy == .primary {
            return [primaryNode]
        }
        // Serving replicas: up and in sync (a replica out of sync may be far behind).
        let serving = shard.replicas.filter { id in
            map.node(id)?.state != .down && (id == primary || shard.inSync.contains(id))
        }
        let candidates = serving.compactMap { id -> ReadCandidate? in
            guard let node = map.node(id) else { return nil }
            return ReadCandidate(
                node: id, zone: node.zone, weight: node.weight, outstanding: outstanding(id),
                available: !failed.contains(id) && breakerAllows(id, take: false))
        }
        let order = ReadRouter.order(
            candidates, policy: policy, zone: configuration.zone, turn: turn.add(1, ordering: .relaxed).oldValue,
            random: Double.random(in: 0..<1))
        return order.compactMap { map.node($0) }
    }

    /// Sends to the first target whose breaker lets it through (hedging reads when
    /// configured); returns the reply and the node that gave it.
    private func send(
        _ operation: Operation, shard: ShardAssignment, map: ClusterMap, targets: [ClusterNode],
        deadline: ContinuousClock.Instant
    ) async throws -> (RESPValue, NodeID) {
        guard let index = targets.firstIndex(where: { breakerAllows($0.id, take: true) }) else {
            let names = targets.map(\.id.rawValue).joined(separator: ", ")
            throw StrataError(
                .unavailable, "every node that could serve the request has an open circuit breaker (\(names))",
                node: targets.first?.id, shard: shard.id)
        }
        let first = targets[index]
        let rest = targets[(index + 1)...].filter { breakerAllows($0.id, take: false) }
        if !operation.isWrite, let floor = configuration.hedgeAfterAtLeast, let second = rest.first {
            let delay = max(floor, latencies.withLock { $0.percentile(0.95) } ?? floor)
            return try await hedged(operation, shard: shard, map: map, first: first, second: second, after: delay, deadline: deadline)
        }
        return (try await attempt(operation, shard: shard, map: map, node: first, deadline: deadline), first.id)
    }

    /// One attempt on one node, feeding its breaker; reads within a session go through the
    /// read-your-writes check on replicas.
    private func attempt(
        _ operation: Operation, shard: ShardAssignment, map: ClusterMap, node: ClusterNode,
        deadline: ContinuousClock.Instant
    ) async throws -> RESPValue {
        attempts.add(1, ordering: .relaxed)
        attemptsByNode.withLock { $0[node.id, default: 0] += 1 }
        let pool = pool(for: node, acks: operation.isWrite ? operation.options.acks ?? configuration.acks : nil)
        let started = ContinuousClock.now
        do {
            var reply: RESPValue
            if !operation.isWrite, node.id != shard.primary, let session = operation.options.session,
                let token = session.token(for: shard.id)
            {
                // Read your writes: the replica waits briefly for the token; if still behind, ask the primary.
                let wait = Int(configuration.readYourWritesWait / .milliseconds(1))
                let replies = try await pool.send(
                    [["WAITSEQ", String(shard.id.rawValue), String(token), String(wait)].map { ByteBuffer(string: $0) },
                     operation.arguments], deadline: deadline)
                if case .integer(let position) = replies[0], position >= 0, UInt64(position) >= token {
                    reply = replies[1]
                } else if let primary = shard.primary.flatMap({ map.node($0) }) {
                    session.redirects.add(1, ordering: .relaxed)
                    reply = try await self.pool(for: primary, acks: nil).send([operation.arguments], deadline: deadline)[0]
                } else {
                    throw StrataError(.unavailable, "replica behind the session and no primary", node: node.id, shard: shard.id)
                }
            } else {
                reply = try await pool.send(operation.preamble + [operation.arguments], deadline: deadline).last!
            }
            recordOutcome(node.id, failed: false)
            if !operation.isWrite { latencies.withLock { $0.add(ContinuousClock.now - started) } }
            return reply
        } catch var error as StrataError {
            if error.code == .timeout || error.code == .unavailable { recordOutcome(node.id, failed: true) }
            error.node = error.node ?? node.id
            error.shard = shard.id
            throw error
        }
    }

    /// A hedged read: `first` now, `second` too if `first` has not answered after `delay`; the first answer wins.
    private func hedged(
        _ operation: Operation, shard: ShardAssignment, map: ClusterMap, first: ClusterNode, second: ClusterNode,
        after delay: Duration, deadline: ContinuousClock.Instant
    ) async throws -> (RESPValue, NodeID) {
        let race = HedgeRace()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(RESPValue, NodeID), Error>) in
            race.continuation = continuation
            Task {
                do {
                    let reply = try await self.attempt(operation, shard: shard, map: map, node: first, deadline: deadline)
                    race.finish(.success((reply, first.id)))
                } catch {
                    race.finish(.failure(error))
                }
            }
            Task {
                try? await Task.sleep(for: delay)
                guard race.startSecond(), self.breakerAllows(second.id, take: true) else {
                    race.finish(.failure(StrataError(.unavailable, "hedge not sent", node: second.id)), second: true, sent: false)
                    return
                }
                self.hedges.add(1, ordering: .relaxed)
                do {
                    let reply = try await self.attempt(operation, shard: shard, map: map, node: second, deadline: deadline)
                    race.finish(.success((reply, second.id)), second: true)
                } catch {
                    race.finish(.failure(error), second: true)
                }
            }
        }
    }

    /// A write's `REQID` answer `[reply, shard, version]`: notes the version in the session, returns the reply and version.
    private func unwrap(_ reply: RESPValue, operation: Operation, node: NodeID, shard: ShardID) throws
        -> (reply: RESPValue, version: UInt64?)
    {
        guard operation.isWrite, operation.deduplicated else { return (reply, nil) }
        guard case .array(let parts) = reply, parts.count == 3, case .integer(let writtenShard) = parts[1],
            case .integer(let version) = parts[2]
        else {
            throw StrataError(.unavailable, "unexpected answer to a write: \(reply)", node: node, shard: shard)
        }
        if writtenShard >= 0, let session = operation.options.session {
            session.note(shard: ShardID(UInt32(writtenShard)), version: UInt64(version))
        }
        if case .error(let message) = parts[0] {
            throw StrataError.fromReply(String(buffer: message), node: node, shard: shard)
        }
        return (parts[0], writtenShard >= 0 ? UInt64(version) : nil)
    }
}

/// The two requests of a hedged read: the first success wins; it fails only when
/// every request sent failed.
private final class HedgeRace: @unchecked Sendable {
    private struct State {
        var done = false
        var secondState: SecondState = .pending
        var firstFailure: Error?
        var secondFailed = false
    }

    private enum SecondState { case pending, sent, skipped }

    private let state = Mutex(State())
    /// Set once, before either request starts.
    nonisolated(unsafe) var continuation: CheckedContinuation<(RESPValue, NodeID), Error>?

    /// Whether the second request should go (the first has not answered yet).
    func startSecond() -> Bool {
        state.withLock { state in
            guard !state.done else { return false }
            state.secondState = .sent
            return true
        }
    }

    func finish(_ result: Result<(RESPValue, NodeID), Error>, second: Bool = false, sent: Bool = true) {
        let resume: Result<(RESPValue, NodeID), Error>? = state.withLock { state in
            guard !state.done else { return nil }
            switch result {
            case .success:
                state.done = true
                return result
            case .failure(let error):
                if second {
                    if sent { state.secondFailed = true } else { state.secondState = .skipped }
                } else {
                    state.firstFailure = error
                }
                let secondOver = state.secondState == .skipped || state.secondFailed
                guard let first = state.firstFailure, secondOver else { return nil }
                state.done = true
                return .failure(state.secondFailed ? error : first)
            }
        }
        if let resume { continuation?.resume(with: resume) }
    }
}

/// Recent read latencies, for the hedging delay (the 95th percentile of the last 1,024).
struct LatencyWindow: Sendable {
    private var samples: [Duration] = []
    private var next = 0
    private var cached: Duration?
    private var sinceCache = 0

    mutating func add(_ sample: Duration) {
        if samples.count < 1024 {
            samples.append(sample)
        } else {
            samples[next] = sample
            next = (next + 1) % samples.count
        }
        sinceCache += 1
    }

    /// The `p` quantile, recomputed every 64 samples; `nil` with fewer than 20.
    mutating func percentile(_ p: Double) -> Duration? {
        guard samples.count >= 20 else { return nil }
        if cached == nil || sinceCache >= 64 {
            let sorted = samples.sorted()
            cached = sorted[min(Int(Double(sorted.count) * p), sorted.count - 1)]
            sinceCache = 0
        }
        return cached
    }
}

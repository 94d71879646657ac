import NIOCore
import StrataCluster
import StrataWire
import Synchronization

/// The pool's bookkeeping as a pure state machine (in the style of
/// swift-nio's and async-http-client's): events in, actions out; the
/// `NodePool` performs the actions (connect, resume waiters) outside the lock.
struct PoolStateMachine<Connection: AnyObject, Waiter> {
    enum Slot {
        case empty
        case connecting
        case ready(Connection)
    }

    /// What the caller of `lease` must do.
    enum LeaseAction {
        /// Use this connection (and, if `connectSlot` is set, open that slot in the background).
        case use(Connection, connectSlot: Int?)
        /// Wait (the waiter was queued); if `connectSlot` is set, open that slot.
        case wait(connectSlot: Int?)
        /// Refuse: too many requests are already waiting for a connection.
        case fail
    }

    private(set) var slots: [Slot]
    private var waiters: [(id: Int, waiter: Waiter)] = []
    private var nextWaiterID = 0
    let maxWaiters: Int

    init(size: Int, maxWaiters: Int) {
        slots = Array(repeating: .empty, count: max(size, 1))
        self.maxWaiters = maxWaiters
    }

    /// Picks a ready connection (the least busy by `load`), queuing `waiter` when none is ready.
    mutating func lease(waiter: Waiter, load: (Connection) -> Int, isUsable: (Connection) -> Bool) -> LeaseAction {
        // Drop connections that closed.
        for index in slots.indices {
            if case .ready(let connection) = slots[index], !isUsable(connection) { slots[index] = .empty }
        }
        let ready = slots.compactMap { slot -> Connection? in
            if case .ready(let connection) = slot { return connection }
            return nil
        }
        let connecting = slots.contains { if case .connecting = $0 { true } else { false } }
        let empty = slots.firstIndex { if case .empty = $0 { true } else { false } }
        if let best = ready.min(by: { load($0) < load($1) }) {
            // Grow while every open connection is busy and no other connect is under way.
            var grow: Int?
            if load(best) > 0, !connecting, let empty {
                slots[empty] = .connecting
                grow = empty
            }
            return .use(best, connectSlot: grow)
        }
        guard waiters.count < maxWaiters else { return .fail }
        waiters.append((nextWaiterID, waiter))
        nextWaiterID += 1
        if !connecting, let empty {
            slots[empty] = .connecting
            return .wait(connectSlot: empty)
        }
        return .wait(connectSlot: nil)
    }

    /// A slot's connection is up: it serves every waiter.
    mutating func connected(slot: Int, _ connection: Connection) -> [Waiter] {
        slots[slot] = .ready(connection)
        defer { waiters.removeAll() }
        return waiters.map(\.waiter)
    }

    /// A slot's connect failed: the waiters fail with it (no other connect is under way to serve them).
    mutating func connectFailed(slot: Int) -> [Waiter] {
        slots[slot] = .empty
        let stillConnecting = slots.contains { if case .connecting = $0 { true } else { false } }
        guard !stillConnecting else { return [] }
        defer { waiters.removeAll() }
        return waiters.map(\.waiter)
    }

    /// Empties every slot (the pool shuts down) and returns the open connections and the waiters.
    mutating func shutdown() -> ([Connection], [Waiter]) {
        let open = slots.compactMap { slot -> Connection? in
            if case .ready(let connection) = slot { return connection }
            return nil
        }
        slots = slots.map { _ in .empty }
        defer { waiters.removeAll() }
        return (open, waiters.map(\.waiter))
    }
}

/// Connections to one node for one connection setup (tenant, acks), pipelined:
/// each request goes to the open connection with the fewest requests in
/// flight; more connections open (up to `size`) while all are busy.
final class NodePool: Sendable {
    typealias Waiter = CheckedContinuation<RESPConnection, Error>

    let node: NodeID
    private let host: String
    private let port: Int
    private let group: EventLoopGroup
    private let setup: [[ByteBuffer]]
    private let connectTimeout: Duration
    private let state: Mutex<PoolStateMachine<RESPConnection, Waiter>>
    private let inFlight = Atomic<Int>(0)

    init(
        node: NodeID, host: String, port: Int, group: EventLoopGroup, setup: [[ByteBuffer]], size: Int,
        maxWaiters: Int, connectTimeout: Duration
    ) {
        self.node = node
        self.host = host
        self.port = port
        self.group = group
        self.setup = setup
        self.connectTimeout = connectTimeout
        state = Mutex(PoolStateMachine(size: size, maxWaiters: maxWaiters))
    }

    /// Requests in flight to this node through this pool.
    var outstanding: Int { inFlight.load(ordering: .relaxed) }

    /// Sends `commands` pipelined on one connection and returns their replies.
    func send(_ commands: [[ByteBuffer]], deadline: ContinuousClock.Instant) async throws -> [RESPValue] {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        let connection = try await lease()
        if commands.count == 1 { return [try await connection.send(commands[0], deadline: deadline)] }
        return try await connection.send(pipelined: commands, deadline: deadline)
    }

    private func lease() async throws -> RESPConnection {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let action = state.withLock {
                $0.lease(waiter: waiter, load: { $0.inFlight }, isUsable: { $0.isActive })
            }
            switch action {
            case .use(let connection, let grow):
                waiter.resume(returning: connection)
                if let grow { open(slot: grow) }
            case .wait(let slot):
                if let slot { open(slot: slot) }
            case .fail:
                waiter.resume(throwing: StrataError(.busy, "too many requests waiting for a connection", node: node))
            }
        }
    }

    private func open(slot: Int) {
        Task {
            do {
                let connection = try await RESPConnection.connect(
                    host: host, port: port, node: node, group: group, timeout: connectTimeout)
                do {
                    if !setup.isEmpty {
                        let replies = try await connection.send(pipelined: setup, deadline: .now + connectTimeout)
                        for reply in replies {
                            if case .error(let message) = reply {
                                throw StrataError.fromReply(String(buffer: message), node: node, shard: nil)
                            }
                        }
                    }
                } catch {
                    connection.close()
                    throw error
                }
                let waiters = state.withLock { $0.connected(slot: slot, connection) }
                for waiter in waiters { waiter.resume(returning: connection) }
            } catch {
                let waiters = state.withLock { $0.connectFailed(slot: slot) }
                let failure = error as? StrataError ?? StrataError(.unavailable, "\(error)", node: node)
                for waiter in waiters { waiter.resume(throwing: failure) }
            }
        }
    }

    /// Closes every connection; waiting requests fail.
    func shutdown() {
        let (connections, waiters) = state.withLock { $0.shutdown() }
        for connection in connections { connection.close() }
        for waiter in waiters {
            waiter.resume(throwing: StrataError(.unavailable, "the client is shutting down", node: node))
        }
    }
}

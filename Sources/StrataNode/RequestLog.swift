import StrataCluster
import Synchronization

/// The primary's memory of recent client request ids (`REQID`), so a write
/// the client retried after a lost reply is applied once: a repeated id gets
/// the first attempt's reply instead of running again.
///
/// Entries are keyed by tenant and id, kept for `window` and at most
/// `capacity` of them (oldest dropped first). They live in memory on the
/// node that applied the write: a retry that reaches another primary after a
/// failover runs again.
final class RequestLog: Sendable {
    /// A tenant-scoped request id.
    struct Key: Hashable, Sendable {
        let tenant: [UInt8]
        let id: [UInt8]
    }

    /// What the first attempt answered, and where it wrote.
    struct Outcome: Sendable {
        /// The encoded `REQID` reply (`[reply, shard, version]`).
        let reply: [UInt8]
        /// The shard it wrote, if it wrote.
        let shard: ShardID?
        let at: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Key: Outcome] = [:]
        var order: [(Key, ContinuousClock.Instant)] = []
        var head = 0
    }

    private let state = Mutex(State())
    /// How long an id is remembered.
    let window: Duration
    /// How many ids are remembered at most.
    let capacity: Int

    init(window: Duration = .seconds(120), capacity: Int = 200_000) {
        self.window = window
        self.capacity = capacity
    }

    /// The first attempt's outcome for `key`, if remembered.
    func outcome(for key: Key) -> Outcome? {
        state.withLock { $0.entries[key] }
    }

    /// Remembers the outcomes of a committed group's requests.
    func remember(_ outcomes: [Key: Outcome]) {
        guard !outcomes.isEmpty else { return }
        let now = ContinuousClock.now
        state.withLock { state in
            for (key, outcome) in outcomes {
                state.entries[key] = outcome
                state.order.append((key, outcome.at))
            }
            // Drop expired and excess ids, oldest first.
            while state.head < state.order.count {
                let (key, at) = state.order[state.head]
                guard now - at > window || state.order.count - state.head > capacity else { break }
                if state.entries[key]?.at == at { state.entries[key] = nil }
                state.head += 1
            }
            if state.head > 4096 && state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            }
        }
    }

    /// How many ids are remembered now.
    var count: Int { state.withLock { $0.entries.count } }
}

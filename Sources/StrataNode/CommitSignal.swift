import NIOCore
import StrataCluster
import Synchronization

/// Followers' fetches held at this primary while it has nothing new for them
/// (`REPLFETCH … WAIT ms`): a fetch waits here until a group touching one of
/// its shards commits, the map changes, or its time is up, and then runs.
/// Idle replicas so cost nothing between writes instead of polling, and a
/// write reaches them as soon as it commits.
final class CommitSignal: Sendable {
    private struct Waiter: Sendable {
        let shards: Set<ShardID>
        let promise: EventLoopPromise<Void>
        /// Its time limit, cancelled when something else wakes it first.
        var timeout: Scheduled<Void>?

        func wake() {
            timeout?.cancel()
            promise.succeed()
        }
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// A fetch waiting for `shards`; its future succeeds when one of them
    /// commits, on ``wakeAll()``, or after `limit`. ``cancel(_:)`` forgets it.
    /// - Returns: The waiter's id and its future.
    func wait(for shards: Set<ShardID>, on eventLoop: EventLoop, atMost limit: TimeAmount) -> (UInt64, EventLoopFuture<Void>) {
        let promise = eventLoop.makePromise(of: Void.self)
        let id = state.withLock { state in
            state.nextID += 1
            state.waiters[state.nextID] = Waiter(shards: shards, promise: promise)
            return state.nextID
        }
        let timeout = eventLoop.scheduleTask(in: limit) { self.fire(id) }
        let waiting = state.withLock { state in
            state.waiters[id]?.timeout = timeout
            return state.waiters[id] != nil
        }
        if !waiting { timeout.cancel() }
        return (id, promise.futureResult)
    }

    /// Wakes the waiter `id` now (no-op when it was woken already).
    func cancel(_ id: UInt64) { fire(id) }

    /// A group that wrote `shards` committed: wakes the waiters on any of them.
    /// - Complexity: O(*w*) in the number of waiting fetches (one per follower and primary).
    func committed(_ shards: Set<ShardID>) {
        let woken = state.withLock { state -> [Waiter] in
            guard !state.waiters.isEmpty else { return [] }
            let ids = state.waiters.filter { !$0.value.shards.isDisjoint(with: shards) }.map(\.key)
            return ids.compactMap { state.waiters.removeValue(forKey: $0) }
        }
        for waiter in woken { waiter.wake() }
    }

    /// Wakes every waiter (a new map: the fetches must see it).
    func wakeAll() {
        let woken = state.withLock { state -> [Waiter] in
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.wake() }
    }

    private func fire(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.wake()
    }
}

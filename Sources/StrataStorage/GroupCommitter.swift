import Foundation

/// Makes writers share fsyncs: each writer, after its (unsynced) write returned,
/// waits until an fsync that started after that write has finished. One waiter
/// at a time leads: it waits `window` for more writers, then syncs for everyone
/// who arrived before the sync began.
final class GroupCommitter: Sendable {
    private struct State {
        var lastTicket: UInt64 = 0
        var syncedThrough: UInt64 = 0
        var syncing = false
        var failedThrough: UInt64 = 0
        var failure: StorageError?
    }

    private let window: Duration
    private let condition = NSCondition()
    // Guarded by `condition`.
    private nonisolated(unsafe) var state = State()

    init(window: Duration) {
        self.window = window
    }

    func awaitSync(_ sync: () throws(StorageError) -> Void) throws(StorageError) {
        condition.lock()
        state.lastTicket += 1
        let ticket = state.lastTicket
        while state.syncedThrough < ticket {
            if state.failedThrough >= ticket, let failure = state.failure {
                condition.unlock()
                throw failure
            }
            if state.syncing {
                condition.wait()
                continue
            }
            state.syncing = true
            condition.unlock()
            if window > .zero {
                Thread.sleep(forTimeInterval: window / .seconds(1))
            }
            condition.lock()
            let target = state.lastTicket
            condition.unlock()
            var failure: StorageError?
            do {
                try sync()
            } catch {
                failure = error
            }
            condition.lock()
            state.syncing = false
            if let failure {
                state.failure = failure
                state.failedThrough = max(state.failedThrough, target)
            } else {
                state.syncedThrough = max(state.syncedThrough, target)
            }
            condition.broadcast()
        }
        condition.unlock()
    }
}

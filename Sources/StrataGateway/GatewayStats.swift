import Synchronization

/// The gateway's own counters (the caches count theirs).
final class GatewayStats: Sendable {
    /// Commands answered.
    let commands = Atomic<Int>(0)
    /// Commands answered from memory on the event loop.
    let servedFromMemory = Atomic<Int>(0)
    /// Writes forwarded.
    let writes = Atomic<Int>(0)
    /// Connections open.
    let connections = Atomic<Int>(0)
    /// Change-feed entries applied.
    let feedChanges = Atomic<Int>(0)
    /// Change-feed gaps (shards whose cached entries were dropped).
    let feedGaps = Atomic<Int>(0)
}

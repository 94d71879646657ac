import Synchronization

/// What `/health`, `/ready` and `INFO` say about a node, decided from facts
/// gathered when asked. Unhealthy (HTTP 503 on `/health`, with the reasons):
/// the lease was held and is lost, the writer has been on one group too long,
/// RocksDB reports a background error, or the data directory's disk is
/// (nearly) full. Not ready (503 on `/ready`, for load balancers): unhealthy,
/// or a cluster node that has not yet had a lease.
struct NodeHealth: Equatable, Sendable {
    /// The facts health is decided from.
    struct Facts: Sendable {
        /// Whether the node belongs to a cluster (has a coordinator).
        var clustered: Bool
        /// Whether it holds a lease now.
        var hasLease: Bool
        /// Whether it has ever held one since it started.
        var hadLease: Bool
        /// How long the writer has been on its current group (`nil`: idle).
        var writerBusyFor: Duration?
        /// RocksDB's count of background errors (`rocksdb.background-errors`).
        var backgroundErrors: UInt64
        /// Free bytes on the data directory's file system (`nil`: unknown).
        var freeDiskBytes: UInt64?
    }

    /// A group this long on the writer means it is stuck.
    static let writerStallLimit: Duration = .seconds(10)
    /// Less free disk than this is full: RocksDB cannot flush or compact.
    static let minimumFreeDiskBytes: UInt64 = 64 << 20

    /// Why the node is unhealthy; empty when it is healthy.
    let problems: [String]
    /// Why it is not ready beyond its problems; empty when it is.
    let notReady: [String]

    /// The verdict on `facts`.
    init(_ facts: Facts) {
        var problems: [String] = []
        if facts.clustered, facts.hadLease, !facts.hasLease {
            problems.append("lease lost: the coordinator has not answered a heartbeat in time")
        }
        if let busy = facts.writerBusyFor, busy >= Self.writerStallLimit {
            problems.append("writer stuck on one group for \(busy.components.seconds) s")
        }
        if facts.backgroundErrors > 0 {
            problems.append("RocksDB reports \(facts.backgroundErrors) background error(s)")
        }
        if let free = facts.freeDiskBytes, free < Self.minimumFreeDiskBytes {
            problems.append("disk full: \(free >> 20) MiB free in the data directory")
        }
        self.problems = problems
        notReady = facts.clustered && !facts.hadLease ? ["no lease yet: waiting for the coordinator"] : []
    }

    /// Nothing is wrong.
    var isHealthy: Bool { problems.isEmpty }
    /// Healthy and able to serve.
    var isReady: Bool { problems.isEmpty && notReady.isEmpty }

    /// `/health`'s body: `ok`, or `unhealthy: ` and the reasons.
    var healthText: String { isHealthy ? "ok\n" : "unhealthy: " + problems.joined(separator: "; ") + "\n" }
    /// `/ready`'s body: `ready`, or `not ready: ` and the reasons.
    var readyText: String { isReady ? "ready\n" : "not ready: " + (problems + notReady).joined(separator: "; ") + "\n" }
}

/// Where `INFO` gets the node's health: the server installs how to gather it
/// once its parts (link, writer, database) exist.
final class HealthProbe: Sendable {
    private let probe = Mutex<(@Sendable () -> NodeHealth)?>(nil)

    /// Sets how the health is gathered.
    func install(_ gather: @escaping @Sendable () -> NodeHealth) { probe.withLock { $0 = gather } }

    /// The health now, or `nil` before the server installed its probe.
    var current: NodeHealth? { probe.withLock { $0 }?() }
}

import Synchronization

/// A monotonically increasing counter, safe to bump from any thread.
final class AtomicCounter: Sendable {
    private let value = Atomic<UInt64>(0)
    func add(_ amount: UInt64) { value.add(amount, ordering: .relaxed) }
    var current: UInt64 { value.load(ordering: .relaxed) }
}

/// A gauge that goes up and down, safe from any thread.
final class AtomicGauge: Sendable {
    private let value = Atomic<Int64>(0)
    func add(_ amount: Int64) { value.add(amount, ordering: .relaxed) }
    var current: Int64 { value.load(ordering: .relaxed) }
}

/// The node's counters, shown by INFO and exported on `/metrics`.
final class NodeStats: Sendable {
    let commands = AtomicCounter()
    let errors = AtomicCounter()
    let reads = AtomicCounter()
    let readHits = AtomicCounter()
    let writes = AtomicCounter()
    let authFailures = AtomicCounter()
    let connectionsAccepted = AtomicCounter()
    let connectionsRejected = AtomicCounter()
    let protocolErrors = AtomicCounter()
    let idleClosed = AtomicCounter()
    let outputOverflowClosed = AtomicCounter()
    let connectedClients = AtomicGauge()
    /// Bytes of shard data taken in by copies not yet in sync (snapshot pages and log entries): a move's transfer.
    let copiedBytes = AtomicCounter()
    /// Records taken in by snapshot pages and changes by log entries, for copies not yet in sync.
    let copiedRecords = AtomicCounter()

    func countRead(hit: Bool) {
        reads.add(1)
        if hit { readHits.add(1) }
    }

    /// Every counter with its Prometheus name (`NodeMetrics` exports them).
    var counters: [(name: String, value: UInt64)] {
        [
            ("strata_commands_total", commands.current),
            ("strata_command_errors_total", errors.current),
            ("strata_reads_total", reads.current),
            ("strata_read_hits_total", readHits.current),
            ("strata_writes_total", writes.current),
            ("strata_auth_failures_total", authFailures.current),
            ("strata_connections_accepted_total", connectionsAccepted.current),
            ("strata_connections_rejected_total", connectionsRejected.current),
            ("strata_protocol_errors_total", protocolErrors.current),
            ("strata_idle_closed_total", idleClosed.current),
            ("strata_output_overflow_closed_total", outputOverflowClosed.current),
            ("strata_copy_bytes_total", copiedBytes.current),
            ("strata_copy_records_total", copiedRecords.current),
        ]
    }
}

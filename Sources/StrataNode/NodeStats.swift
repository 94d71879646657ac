import Synchronization

/// A monotonically increasing counter, safe to bump from any thread.
final class Counter: Sendable {
    private let value = Atomic<UInt64>(0)
    func add(_ amount: UInt64) { value.add(amount, ordering: .relaxed) }
    var current: UInt64 { value.load(ordering: .relaxed) }
}

/// A gauge that goes up and down, safe from any thread.
final class Gauge: Sendable {
    private let value = Atomic<Int64>(0)
    func add(_ amount: Int64) { value.add(amount, ordering: .relaxed) }
    var current: Int64 { value.load(ordering: .relaxed) }
}

/// The node's counters, shown by INFO and exported on `/metrics`.
final class NodeStats: Sendable {
    let commands = Counter()
    let errors = Counter()
    let reads = Counter()
    let readHits = Counter()
    let writes = Counter()
    let authFailures = Counter()
    let connectionsAccepted = Counter()
    let connectionsRejected = Counter()
    let protocolErrors = Counter()
    let idleClosed = Counter()
    let outputOverflowClosed = Counter()
    let connectedClients = Gauge()

    func countRead(hit: Bool) {
        reads.add(1)
        if hit { readHits.add(1) }
    }

    /// Prometheus text exposition of every counter.
    func prometheusText() -> String {
        let counters: [(String, String, UInt64)] = [
            ("strata_commands_total", "Commands executed.", commands.current),
            ("strata_command_errors_total", "Commands answered with an error.", errors.current),
            ("strata_reads_total", "Key reads.", reads.current),
            ("strata_read_hits_total", "Key reads that found a live record.", readHits.current),
            ("strata_writes_total", "Key writes.", writes.current),
            ("strata_auth_failures_total", "Failed AUTH attempts.", authFailures.current),
            ("strata_connections_accepted_total", "Connections accepted.", connectionsAccepted.current),
            ("strata_connections_rejected_total", "Connections refused at the client limit.", connectionsRejected.current),
            ("strata_protocol_errors_total", "Connections closed for malformed input or a broken limit.", protocolErrors.current),
            ("strata_idle_closed_total", "Connections closed by the idle timeout.", idleClosed.current),
            ("strata_output_overflow_closed_total", "Connections closed for exceeding the output buffer cap.", outputOverflowClosed.current),
        ]
        var text = ""
        for (name, help, value) in counters {
            text += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
        }
        text += "# HELP strata_connected_clients Open client connections.\n# TYPE strata_connected_clients gauge\nstrata_connected_clients \(connectedClients.current)\n"
        return text
    }
}

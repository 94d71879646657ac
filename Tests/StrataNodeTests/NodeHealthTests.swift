import Testing
@testable import StrataNode

/// `/health` and `/ready` decided from facts, without a node.
@Suite("Node health")
struct NodeHealthTests {
    static let fine = NodeHealth.Facts(
        clustered: true, hasLease: true, hadLease: true, writerBusyFor: nil, backgroundErrors: 0, freeDiskBytes: 10 << 30)

    @Test("a leased cluster node with an idle writer, no errors and free disk is healthy and ready")
    func healthy() {
        let health = NodeHealth(Self.fine)
        #expect(health.isHealthy && health.isReady)
        #expect(health.healthText == "ok\n" && health.readyText == "ready\n")
    }

    @Test("each problem makes the node unhealthy and not ready, with its reason")
    func problems() {
        var lost = Self.fine
        lost.hasLease = false
        var stuck = Self.fine
        stuck.writerBusyFor = .seconds(12)
        var errors = Self.fine
        errors.backgroundErrors = 2
        var full = Self.fine
        full.freeDiskBytes = 10 << 20
        for (facts, reason) in [(lost, "lease lost"), (stuck, "writer stuck"), (errors, "background error"), (full, "disk full")] {
            let health = NodeHealth(facts)
            #expect(!health.isHealthy && !health.isReady, "\(reason)")
            #expect(health.healthText.hasPrefix("unhealthy: ") && health.healthText.contains(reason))
            #expect(health.readyText.contains(reason))
        }
    }

    @Test("a busy writer under the limit is fine; a node before its first lease is healthy but not ready; a standalone node needs none")
    func boundaries() {
        var busy = Self.fine
        busy.writerBusyFor = .seconds(2)
        #expect(NodeHealth(busy).isHealthy)
        var starting = Self.fine
        starting.hasLease = false
        starting.hadLease = false
        #expect(NodeHealth(starting).isHealthy && !NodeHealth(starting).isReady)
        #expect(NodeHealth(starting).readyText.contains("no lease yet"))
        var standalone = starting
        standalone.clustered = false
        #expect(NodeHealth(standalone).isReady)
    }
}

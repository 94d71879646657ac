import StrataCluster
import Testing

@testable import StrataClient

@Suite("Client resilience pieces")
struct ResilienceTests {
    @Test("the breaker opens after the threshold, refuses during the cool-down, lets one probe through, and closes or re-opens on its outcome")
    func breaker() {
        let start = ContinuousClock.Instant.now
        var breaker = CircuitBreaker(failureThreshold: 3, coolDown: .seconds(2))
        do { let allowed = breaker.allow(at: start); #expect(allowed) }
        breaker.recordFailure(at: start)
        breaker.recordFailure(at: start)
        #expect(breaker.state == .closed(failures: 2))
        breaker.recordSuccess()
        #expect(breaker.state == .closed(failures: 0))
        for _ in 0..<3 { breaker.recordFailure(at: start) }
        #expect(breaker.state == .open(until: start + .seconds(2)))
        do { let allowed = breaker.allow(at: start + .seconds(1)); #expect(!allowed) }
        // Cool-down over: exactly one probe.
        do { let allowed = breaker.allow(at: start + .seconds(2)); #expect(allowed) }
        do { let allowed = breaker.allow(at: start + .seconds(2)); #expect(!allowed) }
        breaker.recordFailure(at: start + .seconds(2))
        #expect(breaker.state == .open(until: start + .seconds(4)))
        do { let allowed = breaker.allow(at: start + .seconds(4)); #expect(allowed) }
        breaker.recordSuccess()
        #expect(breaker.state == .closed(failures: 0))
    }

    @Test("the retry budget allows ratio × requests + floor retries per window, and recovers when the window slides")
    func retryBudget() {
        let start = ContinuousClock.Instant.now
        var budget = RetryBudget(ratio: 0.1, floor: 5, window: .seconds(10))
        for _ in 0..<100 { budget.recordRequest(at: start) }
        var allowed = 0
        for _ in 0..<100 where budget.tryRetry(at: start) { allowed += 1 }
        #expect(allowed == 15)
        // After the window, the old requests and retries no longer count: only the floor is left.
        var later = 0
        for _ in 0..<100 where budget.tryRetry(at: start + .seconds(11)) { later += 1 }
        #expect(later == 5)
    }

    @Test("backoff: full jitter below a bound that doubles up to the cap")
    func backoff() {
        let backoff = Backoff(base: .milliseconds(10), cap: .milliseconds(100))
        var generator = SystemRandomNumberGenerator()
        for attempt in 0..<10 {
            let bound = min(Duration.milliseconds(10) * (1 << attempt), .milliseconds(100))
            var longest = Duration.zero
            for _ in 0..<200 {
                let delay = backoff.delay(attempt: attempt, using: &generator)
                #expect(delay >= .zero && delay < bound)
                longest = max(longest, delay)
            }
            // Jitter spreads over the whole range, not just its bottom.
            #expect(longest > bound / 2)
        }
    }

    static func candidates(outstanding: [Int] = [0, 0, 0], available: [Bool] = [true, true, true]) -> [ReadCandidate] {
        ["n1", "n2", "n3"].enumerated().map { index, id in
            ReadCandidate(
                node: NodeID(id), zone: "z\(index + 1)", weight: index + 1, outstanding: outstanding[index],
                available: available[index])
        }
    }

    @Test("read router: round-robin rotates, least-outstanding prefers idle nodes, zone affinity stays in zone, weights bias, open breakers go last")
    func router() {
        var firsts: [NodeID: Int] = [:]
        for turn in 0..<300 {
            firsts[ReadRouter.order(Self.candidates(), policy: .roundRobin, zone: nil, turn: turn, random: 0)[0], default: 0] += 1
        }
        #expect(firsts == ["n1": 100, "n2": 100, "n3": 100])

        let busy = Self.candidates(outstanding: [5, 0, 9])
        #expect(ReadRouter.order(busy, policy: .leastOutstanding, zone: nil, turn: 7, random: 0) == ["n2", "n1", "n3"])

        for turn in 0..<10 {
            #expect(ReadRouter.order(Self.candidates(), policy: .zoneAffinity, zone: "z3", turn: turn, random: 0).first == "n3")
        }
        // Weights 1, 2, 3: random points map to nodes in proportion.
        #expect(ReadRouter.order(Self.candidates(), policy: .weighted([:]), zone: nil, turn: 0, random: 0.1).first == "n1")
        #expect(ReadRouter.order(Self.candidates(), policy: .weighted([:]), zone: nil, turn: 0, random: 0.3).first == "n2")
        #expect(ReadRouter.order(Self.candidates(), policy: .weighted([:]), zone: nil, turn: 0, random: 0.9).first == "n3")
        #expect(ReadRouter.order(Self.candidates(), policy: .weighted(["n1": 0, "n2": 0]), zone: nil, turn: 0, random: 0.01).first == "n3")

        let broken = Self.candidates(available: [false, true, true])
        for turn in 0..<6 {
            #expect(ReadRouter.order(broken, policy: .roundRobin, zone: nil, turn: turn, random: 0).last == "n1")
        }
    }

    final class Box {}

    @Test("pool state machine: waiters queue while connecting, all get the connection, overflow fails, a failed connect fails them")
    func poolStateMachine() {
        var machine = PoolStateMachine<Box, Int>(size: 2, maxWaiters: 2)
        guard case .wait(let slot?) = machine.lease(waiter: 1, load: { _ in 0 }, isUsable: { _ in true }) else {
            Issue.record("first lease should connect")
            return
        }
        guard case .wait(nil) = machine.lease(waiter: 2, load: { _ in 0 }, isUsable: { _ in true }) else {
            Issue.record("second lease should wait without a second connect")
            return
        }
        guard case .fail = machine.lease(waiter: 3, load: { _ in 0 }, isUsable: { _ in true }) else {
            Issue.record("third lease should overflow")
            return
        }
        let connection = Box()
        #expect(machine.connected(slot: slot, connection) == [1, 2])
        // Ready and idle: used directly; busy: used while a second connection opens.
        guard case .use(let used, nil) = machine.lease(waiter: 4, load: { _ in 0 }, isUsable: { _ in true }), used === connection else {
            Issue.record("an idle connection should be used")
            return
        }
        guard case .use(_, let grow?) = machine.lease(waiter: 5, load: { _ in 3 }, isUsable: { _ in true }) else {
            Issue.record("a busy connection should make the pool grow")
            return
        }
        #expect(machine.connectFailed(slot: grow).isEmpty)
        // A closed connection is dropped; the waiter queues and a connect starts; its failure fails the waiter.
        guard case .wait(let again?) = machine.lease(waiter: 6, load: { _ in 0 }, isUsable: { _ in false }) else {
            Issue.record("a closed connection should be replaced")
            return
        }
        #expect(machine.connectFailed(slot: again) == [6])
    }
}

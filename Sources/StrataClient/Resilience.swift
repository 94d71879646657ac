import Synchronization

/// A circuit breaker for one node: `closed` lets requests through and counts
/// consecutive failures; at `failureThreshold` it opens and refuses requests
/// for `coolDown`; then it is half-open: one probe request goes through, and
/// its outcome closes or re-opens the breaker.
///
/// A pure state machine: time comes in as arguments, so tests drive it with any instants.
public struct CircuitBreaker: Sendable, Hashable {
    /// The breaker's state.
    public enum State: Sendable, Hashable {
        /// Requests flow; `failures` consecutive ones failed.
        case closed(failures: Int)
        /// Requests are refused until `until`.
        case open(until: ContinuousClock.Instant)
        /// One probe is allowed (`probing` once it was handed out).
        case halfOpen(probing: Bool)
    }

    /// Consecutive failures that open the breaker.
    public var failureThreshold: Int
    /// How long the breaker stays open before a probe.
    public var coolDown: Duration
    /// The current state.
    public private(set) var state: State = .closed(failures: 0)

    /// A closed breaker.
    public init(failureThreshold: Int = 5, coolDown: Duration = .seconds(2)) {
        self.failureThreshold = failureThreshold
        self.coolDown = coolDown
    }

    /// Whether a request may go to the node at `now`; in half-open state the first caller gets the probe.
    public mutating func allow(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen(probing: true)
            return true
        case .halfOpen(let probing):
            if probing { return false }
            state = .halfOpen(probing: true)
            return true
        }
    }

    /// Whether a request would be allowed at `now`, without taking the probe.
    public func wouldAllow(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until): return now >= until
        case .halfOpen(let probing): return !probing
        }
    }

    /// Records a successful request: the breaker closes.
    public mutating func recordSuccess() {
        state = .closed(failures: 0)
    }

    /// Records a failed request (connection failure or timeout) at `now`.
    public mutating func recordFailure(at now: ContinuousClock.Instant) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= failureThreshold ? .open(until: now + coolDown) : .closed(failures: failures + 1)
        case .halfOpen:
            state = .open(until: now + coolDown)
        case .open:
            break
        }
    }
}

/// Caps retries at a fraction of requests over a sliding window, plus a small
/// floor, so a failing cluster is not hit by a retry storm (as in Finagle and gRPC).
///
/// The window is split into buckets; a retry is allowed while
/// `retries < ratio × requests + floor` over the window.
public struct RetryBudget: Sendable {
    /// Allowed retries per request, over the window (0.1: one retry per ten requests).
    public var ratio: Double
    /// Retries always allowed per window, so a quiet client can still retry.
    public var floor: Int
    /// The window's length.
    public let window: Duration
    private var buckets: [(start: ContinuousClock.Instant, requests: Int, retries: Int)] = []
    private let bucketLength: Duration

    /// A budget of `ratio` retries per request plus `floor` per `window`.
    public init(ratio: Double = 0.1, floor: Int = 10, window: Duration = .seconds(10)) {
        self.ratio = ratio
        self.floor = floor
        self.window = window
        bucketLength = window / 10
    }

    private mutating func bucket(at now: ContinuousClock.Instant) -> Int {
        buckets.removeAll { now - $0.start >= window }
        if let last = buckets.indices.last, now - buckets[last].start < bucketLength { return last }
        buckets.append((now, 0, 0))
        return buckets.count - 1
    }

    /// Counts a first attempt.
    public mutating func recordRequest(at now: ContinuousClock.Instant) {
        let index = bucket(at: now)
        buckets[index].requests += 1
    }

    /// Takes a retry from the budget if one is left; `false` means do not retry.
    public mutating func tryRetry(at now: ContinuousClock.Instant) -> Bool {
        let index = bucket(at: now)
        let requests = buckets.reduce(0) { $0 + $1.requests }
        let retries = buckets.reduce(0) { $0 + $1.retries }
        guard Double(retries) < ratio * Double(requests) + Double(floor) else { return false }
        buckets[index].retries += 1
        return true
    }
}

/// Capped exponential backoff with full jitter: the pause before retry `n`
/// (from 0) is uniform in `0 ..< min(cap, base × 2ⁿ)`.
public struct Backoff: Sendable, Hashable {
    /// The first retry's upper bound.
    public var base: Duration
    /// The largest upper bound.
    public var cap: Duration

    /// Backoff from `base`, doubling up to `cap`.
    public init(base: Duration = .milliseconds(10), cap: Duration = .seconds(1)) {
        self.base = base
        self.cap = cap
    }

    /// The pause before retry `attempt` (0-based), drawn with `generator`.
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let bound = min(cap, base * (1 << min(attempt, 30)))
        let nanoseconds = Int64(bound / .nanoseconds(1))
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0..<nanoseconds, using: &generator))
    }
}

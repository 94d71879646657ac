import StrataCluster

/// Where reads go, per client and overridable per request.
public enum ReadPolicy: Sendable, Hashable {
    /// Always the shard's primary: the latest acknowledged value.
    case primary
    /// Each read to the next of the shard's serving replicas (primary included), in turn.
    case roundRobin
    /// The serving replica with the fewest requests in flight from this client.
    case leastOutstanding
    /// Replicas in the client's zone first (round-robin among them), others only when none is usable.
    case zoneAffinity
    /// Replicas chosen at random in proportion to their weight (the map's node weight unless given here).
    case weighted([NodeID: Int])
}

/// A replica that may serve a read, as the router sees it.
struct ReadCandidate: Sendable, Hashable {
    let node: NodeID
    let zone: String
    let weight: Int
    let outstanding: Int
    /// Whether its circuit breaker lets a request through now.
    let available: Bool
}

/// Orders a shard's replicas for a read: the first is asked, the rest are the
/// fallbacks for retries and hedges. Pure: the caller passes the turn counter
/// and a random number.
enum ReadRouter {
    static func order(
        _ candidates: [ReadCandidate], policy: ReadPolicy, zone: String?, turn: Int, random: Double
    ) -> [NodeID] {
        // Nodes whose breaker is open go last: tried only when nothing else is left.
        let usable = candidates.filter(\.available)
        let rest = candidates.filter { !$0.available }.map(\.node)
        guard !usable.isEmpty else { return rest }
        let ordered: [NodeID]
        switch policy {
        case .primary:
            ordered = usable.map(\.node)
        case .roundRobin:
            ordered = rotated(usable.map(\.node), by: turn)
        case .leastOutstanding:
            // Ties are broken by turn, so equal nodes share the load.
            let start = rotated(usable, by: turn)
            ordered = start.enumerated().sorted { ($0.element.outstanding, $0.offset) < ($1.element.outstanding, $1.offset) }
                .map(\.element.node)
        case .zoneAffinity:
            let local = usable.filter { $0.zone == zone }.map(\.node)
            let remote = usable.filter { $0.zone != zone }.map(\.node)
            ordered = rotated(local, by: turn) + rotated(remote, by: turn)
        case .weighted(let overrides):
            let weights = usable.map { max(overrides[$0.node] ?? $0.weight, 0) }
            let total = weights.reduce(0, +)
            guard total > 0 else {
                ordered = rotated(usable.map(\.node), by: turn)
                break
            }
            var point = random * Double(total)
            var chosen = usable.count - 1
            for (index, weight) in weights.enumerated() {
                if point < Double(weight) {
                    chosen = index
                    break
                }
                point -= Double(weight)
            }
            ordered = [usable[chosen].node] + usable.enumerated().filter { $0.offset != chosen }.map(\.element.node)
        }
        return ordered + rest
    }

    private static func rotated<T>(_ items: [T], by turn: Int) -> [T] {
        guard !items.isEmpty else { return items }
        let offset = ((turn % items.count) + items.count) % items.count
        return Array(items[offset...] + items[..<offset])
    }
}

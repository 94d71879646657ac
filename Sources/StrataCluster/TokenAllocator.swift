/// Chooses the ring tokens of a node that joins, so the ring stays balanced.
///
/// Hash tokens alone spread a node's share of the ring by about 1/√tokens
/// (6 % at 256 vnodes), so among 100 nodes the fullest holds about 20 % more
/// than the mean. Instead, each of the newcomer's tokens is picked greedily
/// from a few candidates — positions inside arcs of the most loaded members
/// and uniformly random positions, drawn from a generator seeded by the
/// node's id — as the one that most lowers Σ share² / weight over the replica
/// shares at the map's replication factor, which is least when shares are
/// proportional to weights. Random candidates keep the tokens from lining up
/// in patterns that would skew the shares of the second and third replicas.
///
/// Existing tokens never move, so a join still moves replicas only onto the
/// newcomer. The result depends only on the existing tokens and the
/// newcomer's id, zone, weight and the parameters: the same ring and node
/// always give the same tokens.
public enum TokenAllocator {
    /// Candidates per token taken inside arcs of the most loaded members.
    static let donorCandidates = 8
    /// Candidates per token drawn uniformly from the hash space.
    static let randomCandidates = 8

    /// The tokens `newcomer` gets when it joins a ring of `existing` members.
    ///
    /// - Parameters:
    ///   - newcomer: The joining node; its `tokens` are ignored.
    ///   - existing: The ring's members (their stored or hash tokens); weight-0 ones and `newcomer` itself are skipped.
    ///   - vnodes: Tokens per unit of weight; the newcomer gets `vnodes × weight`.
    ///   - replicationFactor: The replication factor whose replica shares are balanced.
    /// - Returns: The newcomer's tokens, ascending; its hash tokens while the ring has no more
    ///   members than `replicationFactor` (every node then holds every position).
    /// - Complexity: O(V × C × (M log M + W × R)) for V new tokens, C candidates, M members,
    ///   and R ring arcs whose replica sets a candidate changes (about the replication factor),
    ///   each found by a walk of W tokens; plus O(T × W) to measure the ring of T tokens once.
    public static func tokens(
        for newcomer: HashRing.Member, joining existing: [HashRing.Member], vnodes: Int, replicationFactor: Int
    ) -> [UInt64] {
        precondition(vnodes >= 1 && replicationFactor >= 1, "vnodes and replicationFactor must be at least 1")
        let count = newcomer.weight * vnodes
        guard count > 0 else { return [] }
        var others = existing.filter { $0.weight > 0 && $0.id != newcomer.id }
        for index in others.indices { others[index].tokens = others[index].resolvedTokens(vnodes: vnodes) }
        // With no more nodes than replicas every node holds every position, whatever the tokens.
        guard others.count(where: { !$0.tokens.isEmpty }) >= replicationFactor else {
            return HashRing.tokens(of: newcomer.id, count: count).sorted()
        }
        var placeholder = newcomer
        placeholder.tokens = []
        let ring = HashRing(placed: others + [placeholder], vnodes: vnodes)
        var search = Search(
            ring: ring, newcomer: Int32(ring.members.firstIndex { $0.id == newcomer.id }!),
            replicationFactor: replicationFactor)

        var seed = Array(newcomer.id.rawValue.utf8)
        seed.append(contentsOf: "#tokens".utf8)
        var generator = SplitMix64(seed: XXHash64.hash(seed))
        var taken = Set(ring.tokens)
        var chosen: [UInt64] = []
        chosen.reserveCapacity(count)
        while chosen.count < count {
            let donors = search.mostLoaded(donorCandidates)
            var best: (cost: Double, token: UInt64)?
            for candidate in 0..<(donorCandidates + randomCandidates) {
                var position = generator.next()
                if candidate < donorCandidates && !donors.isEmpty {
                    let arcs = search.arcsOf[Int(donors[candidate % donors.count])]
                    let end = arcs[Int(generator.next() % UInt64(arcs.count))]
                    let start = ring.tokens[end == 0 ? ring.tokens.count - 1 : end - 1]
                    let length = ring.tokens[end] &- start
                    guard length >= 2 else { continue }
                    position = start &+ 1 &+ position % (length - 1)
                }
                guard !taken.contains(position) else { continue }
                let cost = search.cost(ofInserting: position)
                if best == nil || cost < best!.cost { best = (cost, position) }
            }
            // Every candidate may collide with a token only in theory; then take a fresh random one.
            let token = best?.token ?? generator.next()
            guard taken.insert(token).inserted else { continue }
            search.insert(token)
            chosen.append(token)
        }
        return chosen.sorted()
    }

    /// Gives tokens to every node of `nodes` that has weight but none stored,
    /// letting them join one by one in id order.
    ///
    /// - Parameters:
    ///   - nodes: The nodes, sorted by id.
    ///   - vnodes: Tokens per unit of weight.
    ///   - replicationFactor: The replication factor whose replica shares are balanced.
    /// - Returns: `nodes` with tokens.
    static func assigningTokens(to nodes: [ClusterNode], vnodes: Int, replicationFactor: Int) -> [ClusterNode] {
        var members = nodes.filter { $0.weight > 0 && !$0.tokens.isEmpty }.map(\.ringMember)
        return nodes.map { node in
            guard node.weight > 0, node.tokens.isEmpty else { return node }
            var placed = node
            placed.tokens = tokens(
                for: node.ringMember, joining: members, vnodes: vnodes, replicationFactor: replicationFactor)
            members.append(placed.ringMember)
            return placed
        }
    }

    /// The shares of a ring while tokens of one newcomer are added to it.
    ///
    /// The newcomer's picks so far are kept in a small sorted `picks` array
    /// beside the ring (inserting each into the ring's arrays would cost O(T)
    /// per token); walks run over the merge of both, so every estimate is exact.
    struct Search {
        let ring: HashRing
        let newcomer: Int32
        let replicationFactor: Int
        let weights: [Double]
        /// Each member's replica share of the hash space with the picks so far.
        var shares: [Double]
        /// `arcsOf[m]`: the indices of the ring tokens `members[m]` owns.
        let arcsOf: [[Int]]
        /// The newcomer's tokens chosen so far, ascending.
        private var picks: [UInt64] = []
        private var oldWalker: HashRing.Walker
        private var newWalker: HashRing.Walker
        /// Per-member change of the candidate being weighed, and the members it touches.
        private var change: [Double]
        private var touched: [Int32] = []

        init(ring: HashRing, newcomer: Int32, replicationFactor: Int) {
            self.ring = ring
            self.newcomer = newcomer
            self.replicationFactor = replicationFactor
            weights = ring.members.map { Double($0.weight) }
            shares = ring.shares(replicationFactor: replicationFactor)
            var arcsOf = [[Int]](repeating: [], count: ring.members.count)
            for (index, owner) in ring.owners.enumerated() { arcsOf[Int(owner)].append(index) }
            self.arcsOf = arcsOf
            oldWalker = HashRing.Walker(ring: ring)
            newWalker = HashRing.Walker(ring: ring)
            change = [Double](repeating: 0, count: ring.members.count)
        }

        /// Up to `count` members holding tokens, most loaded (share per weight) first.
        func mostLoaded(_ count: Int) -> [Int32] {
            let holders = ring.members.indices.filter { Int32($0) != newcomer && !arcsOf[$0].isEmpty }
            return holders.sorted { shares[$0] / weights[$0] > shares[$1] / weights[$1] }.prefix(count).map(Int32.init)
        }

        /// The change of Σ share² / weight if a newcomer token were inserted at `position`.
        mutating func cost(ofInserting position: UInt64) -> Double {
            computeChange(position)
            var cost = 0.0
            for member in touched {
                let index = Int(member)
                let before = shares[index]
                let after = before + change[index]
                cost += (after * after - before * before) / weights[index]
            }
            return cost
        }

        /// Adds a newcomer token at `position`, updating `shares`.
        mutating func insert(_ position: UInt64) {
            computeChange(position)
            for member in touched { shares[Int(member)] += change[Int(member)] }
            picks.insert(position, at: lowerBound(picks, position))
        }

        /// Fills `change` and `touched` for a newcomer token at `position`.
        ///
        /// The token takes over the walk of (its predecessor, position]; walks
        /// starting further back change only while they now reach the newcomer
        /// in time to select it, so the scan backwards stops at the first
        /// unchanged one.
        private mutating func computeChange(_ position: UInt64) {
            for member in touched { change[Int(member)] = 0 }
            touched.removeAll(keepingCapacity: true)
            let elements = ring.tokens.count + picks.count

            var end = predecessor(of: position)
            Search.walk(&oldWalker, ring: ring, picks: picks, newcomer: newcomer, replicationFactor: replicationFactor, from: position, candidate: nil)
            Search.walk(&newWalker, ring: ring, picks: picks, newcomer: newcomer, replicationFactor: replicationFactor, from: position, candidate: position)
            record(amount: Double(position &- end) / 0x1p64)
            for _ in 0..<elements {
                Search.walk(&oldWalker, ring: ring, picks: picks, newcomer: newcomer, replicationFactor: replicationFactor, from: end, candidate: nil)
                Search.walk(&newWalker, ring: ring, picks: picks, newcomer: newcomer, replicationFactor: replicationFactor, from: end, candidate: position)
                guard !sameMembers(oldWalker.selection, newWalker.selection) else { break }
                let start = predecessor(of: end)
                record(amount: Double(end &- start) / 0x1p64)
                end = start
            }
        }

        /// The closest ring token or pick strictly before `value`, clockwise.
        private func predecessor(of value: UInt64) -> UInt64 {
            let tokens = ring.tokens
            let index = ring.firstTokenIndex(atOrAfter: value)
            var best = tokens[index == 0 ? tokens.count - 1 : index - 1]
            if !picks.isEmpty {
                let pickIndex = lowerBound(picks, value)
                let pick = picks[pickIndex == 0 ? picks.count - 1 : pickIndex - 1]
                if pick != value && (best == value || value &- pick < value &- best) { best = pick }
            }
            return best
        }

        /// Walks clockwise from `value` (inclusive) over the ring tokens, the picks and `candidate`.
        ///
        /// Static, so passing a walker stored in `self` as `inout` does not copy `self`.
        private static func walk(
            _ walker: inout HashRing.Walker, ring: HashRing, picks: [UInt64], newcomer: Int32, replicationFactor: Int,
            from value: UInt64, candidate: UInt64?
        ) {
            let tokens = ring.tokens
            let owners = ring.owners
            var tokenIndex = ring.firstTokenIndex(atOrAfter: value)
            var tokensLeft = tokens.count
            var pickIndex = lowerBound(picks, value)
            if pickIndex == picks.count { pickIndex = 0 }
            var picksLeft = picks.count
            var candidateLeft = candidate != nil
            let included: Int32? = picks.isEmpty && candidate == nil ? nil : newcomer
            walker.walk(
                replicationFactor: replicationFactor, steps: tokensLeft + picksLeft + (candidateLeft ? 1 : 0),
                including: included
            ) {
                // The next element is the one at the least clockwise distance from `value`.
                let tokenDistance = tokensLeft > 0 ? tokens[tokenIndex] &- value : UInt64.max
                let pickDistance = picksLeft > 0 ? picks[pickIndex] &- value : UInt64.max
                let candidateDistance = candidateLeft ? candidate! &- value : UInt64.max
                if candidateLeft && candidateDistance <= tokenDistance && candidateDistance <= pickDistance {
                    candidateLeft = false
                    return newcomer
                }
                if picksLeft > 0 && (tokensLeft == 0 || pickDistance < tokenDistance) {
                    picksLeft -= 1
                    pickIndex = pickIndex + 1 == picks.count ? 0 : pickIndex + 1
                    return newcomer
                }
                tokensLeft -= 1
                let owner = owners[tokenIndex]
                tokenIndex = tokenIndex + 1 == tokens.count ? 0 : tokenIndex + 1
                return owner
            }
        }

        /// Moves `amount` of share from the old walk's selection to the new walk's.
        private mutating func record(amount: Double) {
            for member in oldWalker.selection { add(member, -amount) }
            for member in newWalker.selection { add(member, amount) }
        }

        private mutating func add(_ member: Int32, _ amount: Double) {
            if change[Int(member)] == 0 && !touched.contains(member) { touched.append(member) }
            change[Int(member)] += amount
        }
    }
}

/// Whether two small lists of distinct members hold the same members.
private func sameMembers(_ lhs: [Int32], _ rhs: [Int32]) -> Bool {
    lhs.count == rhs.count && lhs.allSatisfy { rhs.contains($0) }
}

/// The first index of a sorted array whose element is not below `value`.
private func lowerBound(_ sorted: [UInt64], _ value: UInt64) -> Int {
    var low = 0
    var high = sorted.count
    while low < high {
        let mid = (low + high) / 2
        if sorted[mid] < value { low = mid + 1 } else { high = mid }
    }
    return low
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, seeded generator, so
/// token choice (and anything else that must be reproducible) is deterministic.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

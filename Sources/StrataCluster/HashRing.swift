/// The consistent-hash ring that places shards on nodes.
///
/// Each member owns about `vnodes × weight` tokens. A member's tokens are the
/// ones the cluster map stores for it (chosen by `TokenAllocator` when it
/// joined, to balance the ring); a member without stored tokens uses its hash
/// tokens, `XXHash64.hash(utf8(id) ++ "#" ++ decimal(i))`. Adding a node only
/// inserts tokens, which is why an addition moves replicas only onto the new node.
///
/// The replica set of a position is found by walking clockwise from the first
/// token at or after it: the first `replicationFactor` distinct nodes, preferring
/// distinct zones (nodes whose zone is already represented are skipped; if the
/// ring has fewer zones than the replication factor, the remaining slots are
/// filled with the skipped nodes in clockwise order). The selected nodes are
/// returned in clockwise order, so the first one — the primary — is always the
/// owner of the first token reached.
public struct HashRing: Sendable {
    /// A node as the ring sees it.
    public struct Member: Hashable, Sendable {
        /// The node's id; its tokens derive from it.
        public var id: NodeID
        /// The failure domain the node lives in (rack, availability zone).
        public var zone: String
        /// Relative capacity: the node owns about `vnodes × weight` tokens. Weight 0 places nothing on it.
        public var weight: Int
        /// The node's tokens; empty means its hash tokens (`HashRing.tokens(of:count:)`, `vnodes × weight` of them).
        public var tokens: [UInt64]

        /// Creates a member.
        /// - Parameters:
        ///   - id: The node's id.
        ///   - zone: Its failure domain.
        ///   - weight: Its relative capacity, at least 0.
        ///   - tokens: Its tokens, or empty for its hash tokens.
        public init(id: NodeID, zone: String, weight: Int = 1, tokens: [UInt64] = []) {
            self.id = id
            self.zone = zone
            self.weight = weight
            self.tokens = tokens
        }

        /// The tokens this member owns on a ring of `vnodes` tokens per unit of weight.
        func resolvedTokens(vnodes: Int) -> [UInt64] {
            tokens.isEmpty ? HashRing.tokens(of: id, count: weight * vnodes) : tokens
        }
    }

    /// Tokens per unit of weight.
    public let vnodes: Int
    /// The members that own at least one token, sorted by id.
    public let members: [Member]
    /// All tokens, ascending.
    let tokens: [UInt64]
    /// `owners[i]` is the index in `members` of the node owning `tokens[i]`.
    let owners: [Int32]
    /// `memberZones[m]` is the zone index of `members[m]`.
    let memberZones: [Int32]
    /// The number of distinct zones among `members`.
    let zoneCount: Int
    /// How many members own at least one token (all of them, except while `TokenAllocator` places a newcomer).
    let memberCountWithTokens: Int
    /// The number of distinct zones among members that own tokens.
    let zoneCountWithTokens: Int
    /// `hasTokens[m]`: whether `members[m]` owns at least one token.
    let hasTokens: [Bool]
    /// `zoneHasTokens[z]`: whether a member of zone `z` owns at least one token.
    let zoneHasTokens: [Bool]

    /// Builds a ring.
    ///
    /// Members of weight 0 are left out. Tokens that collide (vanishingly rare)
    /// are ordered by node id so the ring stays deterministic.
    ///
    /// - Parameters:
    ///   - members: The nodes to place shards on, in any order; ids must be distinct.
    ///   - vnodes: Tokens per unit of weight, at least 1.
    /// - Complexity: O(T log T) where T = `vnodes × Σ weight`.
    public init(members: some Sequence<Member>, vnodes: Int) {
        precondition(vnodes >= 1, "vnodes must be at least 1")
        let all = Array(members)
        precondition(all.allSatisfy { $0.weight >= 0 }, "weights must not be negative")
        self.init(
            placed: all.filter { $0.weight > 0 }.map { member in
                var resolved = member
                resolved.tokens = member.resolvedTokens(vnodes: vnodes)
                return resolved
            },
            vnodes: vnodes)
    }

    /// A ring of members whose `tokens` are final (a member may have none yet: it owns nothing).
    init(placed: [Member], vnodes: Int) {
        let placed = placed.sorted { $0.id < $1.id }
        for (previous, next) in zip(placed, placed.dropFirst()) {
            precondition(previous.id != next.id, "duplicate ring member \(next.id)")
        }

        var zoneIndex: [String: Int32] = [:]
        var zones: [Int32] = []
        zones.reserveCapacity(placed.count)
        for member in placed {
            let next = Int32(zoneIndex.count)
            zones.append(zoneIndex[member.zone, default: next])
            zoneIndex[member.zone] = zones.last!
        }

        var pairs: [(token: UInt64, owner: Int32)] = []
        pairs.reserveCapacity(placed.reduce(0) { $0 + $1.tokens.count })
        for (index, member) in placed.enumerated() {
            for token in member.tokens { pairs.append((token, Int32(index))) }
        }
        pairs.sort { $0.token != $1.token ? $0.token < $1.token : $0.owner < $1.owner }

        self.vnodes = vnodes
        self.members = placed
        self.tokens = pairs.map(\.token)
        self.owners = pairs.map(\.owner)
        self.memberZones = zones
        self.zoneCount = zoneIndex.count
        self.hasTokens = placed.map { !$0.tokens.isEmpty }
        self.memberCountWithTokens = hasTokens.count { $0 }
        var zoneHasTokens = [Bool](repeating: false, count: zoneIndex.count)
        for (zone, owns) in zip(zones, hasTokens) where owns { zoneHasTokens[Int(zone)] = true }
        self.zoneHasTokens = zoneHasTokens
        self.zoneCountWithTokens = zoneHasTokens.count { $0 }
    }

    /// The first `count` tokens of a node: `XXHash64.hash(utf8(id) ++ "#" ++ decimal(i))` for `i` in `0..<count`.
    ///
    /// - Parameters:
    ///   - id: The node's id.
    ///   - count: How many tokens.
    /// - Returns: The tokens, in index order (not sorted).
    /// - Complexity: O(count × length of the id).
    public static func tokens(of id: NodeID, count: Int) -> [UInt64] {
        var input = Array(id.rawValue.utf8)
        input.append(UInt8(ascii: "#"))
        let prefixLength = input.count
        return (0..<max(count, 0)).map { index in
            input.removeSubrange(prefixLength...)
            input.append(contentsOf: String(index).utf8)
            return XXHash64.hash(input)
        }
    }

    /// The total number of tokens on the ring.
    /// - Complexity: O(1).
    public var tokenCount: Int { tokens.count }

    /// The replica set for a position of the hash space (a shard's start).
    ///
    /// - Parameters:
    ///   - token: The position; the walk starts at the first token at or after it, wrapping at 2^64.
    ///   - replicationFactor: How many distinct nodes to return, at least 1.
    /// - Returns: Up to `replicationFactor` distinct node ids in clockwise order,
    ///   primary first; fewer only if the ring has fewer members; empty for an empty ring.
    /// - Complexity: O(log T + W + M), where W is the number of tokens walked
    ///   (about `replicationFactor` when zones are balanced) and M the member count.
    public func replicaSet(forToken token: UInt64, replicationFactor: Int) -> [NodeID] {
        var walker = Walker(ring: self)
        return walker.replicas(from: firstTokenIndex(atOrAfter: token), replicationFactor: replicationFactor)
            .map { members[Int($0)].id }
    }

    /// The fraction of the hash space each member holds a replica of.
    ///
    /// This is the balance of the ring itself: the shards-per-node a layout
    /// with infinitely many shards would show. Each node's fractions sum to
    /// `replicationFactor` over all members (fewer if there are fewer members).
    ///
    /// - Parameter replicationFactor: Replicas per position, at least 1.
    /// - Returns: Every member's share in `0...1`.
    /// - Complexity: O(T × W + M) for T tokens and walks of W tokens.
    public func ownership(replicationFactor: Int) -> [NodeID: Double] {
        Dictionary(uniqueKeysWithValues: zip(members.map(\.id), shares(replicationFactor: replicationFactor)))
    }

    /// `ownership(replicationFactor:)` by member index.
    func shares(replicationFactor: Int) -> [Double] {
        var shares = [Double](repeating: 0, count: members.count)
        var walker = Walker(ring: self)
        for index in tokens.indices {
            // Token `index` is the first token at or after every position in (previous token, token].
            walker.walk(from: index, replicationFactor: replicationFactor)
            for member in walker.selection { shares[Int(member)] += arcLength(endingAt: index) }
        }
        if tokens.count > 0, tokens[0] == tokens[tokens.count - 1] {
            // One distinct token position: the wrap-around arc is the whole ring, not 0.
            walker.walk(from: 0, replicationFactor: replicationFactor)
            for member in walker.selection { shares[Int(member)] = 1 }
        }
        return shares
    }

    /// The fraction of the hash space in (previous token, token `index`], wrapping at 2^64.
    func arcLength(endingAt index: Int) -> Double {
        let previous = index == 0 ? tokens[tokens.count - 1] : tokens[index - 1]
        return Double(tokens[index] &- previous) / 0x1p64
    }

    /// The index of the first token at or after `position`, wrapping to 0.
    func firstTokenIndex(atOrAfter position: UInt64) -> Int {
        var low = 0
        var high = tokens.count
        while low < high {
            let mid = (low + high) / 2
            if tokens[mid] < position { low = mid + 1 } else { high = mid }
        }
        return low == tokens.count ? 0 : low
    }

    /// The clockwise walk, with scratch space reused across many walks of one ring.
    struct Walker {
        let ring: HashRing
        private var seenMember: [Bool]
        private var seenZone: [Bool]
        /// Distinct members met by the last walk, clockwise.
        private var order: [Int32] = []
        /// Whether `order[i]` was picked as its zone's preferred node.
        private var preferred: [Bool] = []
        /// The last walk's replica set: member indices, clockwise, primary first.
        private(set) var selection: [Int32] = []

        init(ring: HashRing) {
            self.ring = ring
            seenMember = Array(repeating: false, count: ring.members.count)
            seenZone = Array(repeating: false, count: ring.zoneCount)
        }

        /// Member indices of the replica set starting at token `start`, clockwise.
        mutating func replicas(from start: Int, replicationFactor: Int) -> [Int32] {
            walk(from: start, replicationFactor: replicationFactor)
            return selection
        }

        /// Computes `selection` for the walk starting at token `start`.
        mutating func walk(from start: Int, replicationFactor: Int) {
            let count = ring.tokens.count
            let owners = ring.owners
            var index = start
            walk(replicationFactor: replicationFactor, steps: count, including: nil) {
                let member = owners[index]
                index += 1
                if index == count { index = 0 }
                return member
            }
        }

        /// Computes `selection` for a walk over any clockwise sequence of `steps`
        /// token owners, produced one by one by `next`.
        ///
        /// `TokenAllocator` uses it to walk the ring as it would be with tokens
        /// it is still choosing; `including` names a member that owns no ring
        /// token but appears in that sequence.
        mutating func walk(replicationFactor: Int, steps: Int, including extra: Int32?, next: () -> Int32) {
            precondition(replicationFactor >= 1, "replicationFactor must be at least 1")
            selection.removeAll(keepingCapacity: true)
            guard steps > 0 else { return }
            // Only members that own a token (or the included one) can be met on the walk.
            var memberCount = ring.memberCountWithTokens
            var zoneCount = ring.zoneCountWithTokens
            if let extra, !ring.hasTokens[Int(extra)] {
                memberCount += 1
                if !ring.zoneHasTokens[Int(ring.memberZones[Int(extra)])] { zoneCount += 1 }
            }
            let wanted = min(replicationFactor, memberCount)
            let zonesWanted = min(replicationFactor, zoneCount)

            // Distinct nodes in clockwise order, until the first `zonesWanted` zones
            // each have a node and there are enough nodes to fill the remaining slots.
            order.removeAll(keepingCapacity: true)
            var zonesSeen = 0
            for _ in 0..<steps {
                let member = next()
                if !seenMember[Int(member)] {
                    seenMember[Int(member)] = true
                    order.append(member)
                    let zone = Int(ring.memberZones[Int(member)])
                    if !seenZone[zone] {
                        seenZone[zone] = true
                        zonesSeen += 1
                    }
                    if zonesSeen == zonesWanted && order.count >= wanted { break }
                }
            }
            for member in order {
                seenMember[Int(member)] = false
                seenZone[Int(ring.memberZones[Int(member)])] = false
            }

            // The first node of each zone is preferred; the others fill what is left, clockwise.
            preferred.removeAll(keepingCapacity: true)
            var preferredCount = 0
            for member in order {
                let zone = Int(ring.memberZones[Int(member)])
                let isPreferred = preferredCount < zonesWanted && !seenZone[zone]
                if isPreferred {
                    seenZone[zone] = true
                    preferredCount += 1
                }
                preferred.append(isPreferred)
            }
            for member in order { seenZone[Int(ring.memberZones[Int(member)])] = false }

            var fillers = wanted - preferredCount
            for (position, member) in order.enumerated() {
                if preferred[position] {
                    selection.append(member)
                } else if fillers > 0 {
                    selection.append(member)
                    fillers -= 1
                }
            }
        }
    }
}

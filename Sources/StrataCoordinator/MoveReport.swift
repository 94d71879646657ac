import StrataCluster

/// The moves a map shows in progress, read from the map alone: a shard whose
/// replicas differ from its ring-order set is moving (`CoordinatorCore.keepingLeavingCopies`),
/// one led by another node than its ring-order first is waiting to be handed back, and one
/// whose replicas are in place but not all in sync is catching up (a split's new half, a node back).
public enum MoveReport {
    /// One shard on the move.
    public struct Move: Hashable, Sendable {
        /// Where a move stands.
        public enum Phase: String, Sendable {
            /// A new copy is catching up (a snapshot, then the log) before it joins the in-sync set.
            case copying = "copying"
            /// Every new copy is in sync; the leaving primary hands the shard over (planned failover).
            case handingOver = "handing over"
            /// Every new copy is in sync; the old copies are dropped on the coordinator's next pass.
            case dropping = "dropping old copies"
            /// Replicas are where the ring wants them; leadership goes back to the ring-order first node once it caught up.
            case leadership = "leadership returning"
            /// Replicas are where the ring wants them and lead as it wants; some are still copying it
            /// (the new half of a split, a replica back from a failure) before they join the in-sync set.
            case catchingUp = "catching up"
        }

        /// The shard.
        public var shard: ShardID
        /// Copies that are leaving it.
        public var from: [NodeID]
        /// Where it goes: its ring-order replicas (for `.leadership`, the node to lead it).
        public var to: [NodeID]
        /// Where it stands.
        public var phase: Phase
    }

    /// The moves in progress in `map`, by shard.
    public static func moves(in map: ClusterMap) -> [Move] {
        let ring = Placement.ringOrder(of: map)
        return map.shards.compactMap { shard -> Move? in
            guard let target = ring[shard.id], let primary = shard.primary else { return nil }
            let leaving = shard.replicas.filter { !target.contains($0) }
            if !leaving.isEmpty {
                let joining = target.filter { !shard.inSync.contains($0) }
                let phase: Move.Phase = !joining.isEmpty ? .copying : target.contains(primary) ? .dropping : .handingOver
                return Move(shard: shard.id, from: leaving, to: target, phase: phase)
            }
            if let first = target.first, first != primary, map.node(first)?.state == .up {
                return Move(shard: shard.id, from: [primary], to: [first], phase: .leadership)
            }
            let copying = shard.replicas.filter { !shard.inSync.contains($0) && map.node($0)?.state == .up }
            if !copying.isEmpty {
                return Move(shard: shard.id, from: [primary], to: copying, phase: .catchingUp)
            }
            return nil
        }
    }

    /// A table of `moves(in:)`, or a line saying there are none.
    public static func render(_ map: ClusterMap) -> String {
        let moves = moves(in: map)
        guard !moves.isEmpty else { return "map epoch \(map.epoch): no moves in progress" }
        var lines = ["map epoch \(map.epoch): \(moves.count) shards moving", ""]
        lines.append("SHARD  FROM          TO            PHASE")
        for move in moves {
            let from = move.from.map(\.rawValue).joined(separator: ",")
            let to = move.to.map(\.rawValue).joined(separator: ",")
            lines.append(
                String(move.shard.rawValue).padding(toLength: 7, withPad: " ", startingAt: 0)
                    + from.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + to.padding(toLength: 14, withPad: " ", startingAt: 0) + move.phase.rawValue)
        }
        return lines.joined(separator: "\n")
    }
}

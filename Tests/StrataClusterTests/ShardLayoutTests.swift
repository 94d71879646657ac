import Testing
import StrataCluster

/// The model: a linear scan for the entry containing `hash`.
private func modelShard(_ layout: ShardLayout, _ hash: UInt64) -> ShardID {
    let matches = layout.entries.filter { $0.range.contains(hash) }
    precondition(matches.count == 1, "hash \(hash) is in \(matches.count) shards")
    return matches[0].id
}

/// Hashes worth probing: both ends of the space and each side of every boundary.
private func boundaryHashes(_ layout: ShardLayout) -> [UInt64] {
    var hashes: [UInt64] = [0, 1, .max - 1, .max, 1 << 63, (1 << 63) - 1]
    for entry in layout.entries {
        hashes += [entry.range.start, entry.range.last]
        if entry.range.start > 0 { hashes.append(entry.range.start - 1) }
        if let end = entry.range.endExclusive { hashes.append(end) }
    }
    return hashes
}

@Suite("Shard layout")
struct ShardLayoutTests {
    @Test("uniform layouts tile the space in equal ranges", arguments: [1, 2, 3, 7, 64, 100, 4096])
    func uniform(count: Int) throws {
        let layout = ShardLayout.uniform(count: count)
        #expect(layout.count == count)
        #expect(layout.entries.map(\.id) == (0..<count).map { ShardID(UInt32($0)) })
        #expect(layout.entries.first!.range.start == 0)
        #expect(layout.entries.last!.range.last == .max)
        #expect(layout.entries.last!.range.endExclusive == nil)
        for (previous, next) in zip(layout.entries, layout.entries.dropFirst()) {
            #expect(previous.range.endExclusive == next.range.start)
        }
        let widths = layout.entries.map { $0.range.last - $0.range.start }
        #expect(widths.max()! - widths.min()! <= 1)
        // Re-validating through the checked initializer accepts it.
        #expect(try ShardLayout(layout.entries.reversed()) == layout)
    }

    @Test("the default layout has 64 shards of 2^58 hashes")
    func defaultLayout() {
        let layout = ShardLayout.uniform()
        #expect(layout.count == 64)
        #expect(layout.entries[1].range.start == 1 << 58)
        #expect(layout.shard(forHash: (1 << 58) - 1) == ShardID(0))
        #expect(layout.shard(forHash: 1 << 58) == ShardID(1))
        #expect(layout.shard(forHash: .max) == ShardID(63))
    }

    @Test("every hash maps to exactly the shard whose range contains it", arguments: [1, 3, 64, 1000])
    func lookup(count: Int) {
        let layout = ShardLayout.uniform(count: count)
        var generator = SeededGenerator(seed: UInt64(count))
        let hashes = boundaryHashes(layout) + (0..<2000).map { _ in generator.next() }
        for hash in hashes {
            let id = layout.shard(forHash: hash)
            #expect(id == modelShard(layout, hash))
            #expect(layout.range(of: id)!.contains(hash))
        }
    }

    @Test("split halves a range and gives the upper half a new id")
    func split() throws {
        var layout = ShardLayout.uniform(count: 2)
        let newID = try layout.split(ShardID(1))
        #expect(newID == ShardID(2))
        #expect(layout.range(of: ShardID(1)) == (try ShardRange(start: 1 << 63, last: (1 << 63) | ((1 << 62) - 1))))
        #expect(layout.range(of: ShardID(2)) == (try ShardRange(start: (1 << 63) | (1 << 62), last: .max)))
        #expect(layout.shard(forHash: .max) == ShardID(2))
        #expect(layout.shard(forHash: (1 << 63) | ((1 << 62) - 1)) == ShardID(1))

        var whole = ShardLayout.uniform(count: 1)
        try whole.split(ShardID(0))
        #expect(whole.entries.map(\.range.start) == [0, 1 << 63])
    }

    @Test("random splits keep the layout a tiling and lookups right")
    func randomSplits() throws {
        var generator = SeededGenerator(seed: 99)
        var layout = ShardLayout.uniform(count: 4)
        for _ in 0..<300 {
            let victim = layout.entries.randomElement(using: &generator)!
            let newID = try layout.split(victim.id)
            let lower = try #require(layout.range(of: victim.id))
            let upper = try #require(layout.range(of: newID))
            #expect(lower.start == victim.range.start && upper.last == victim.range.last)
            #expect(lower.endExclusive == upper.start)
            #expect((upper.last - upper.start) <= (lower.last - lower.start))
        }
        #expect(layout.count == 304)
        #expect(Set(layout.entries.map(\.id)).count == 304)
        #expect(try ShardLayout(layout.entries.shuffled(using: &generator)) == layout)
        for hash in boundaryHashes(layout) + (0..<2000).map({ _ in generator.next() }) {
            #expect(layout.shard(forHash: hash) == modelShard(layout, hash))
        }
    }

    @Test("splitting errors")
    func splitErrors() throws {
        var layout = try ShardLayout([
            .init(id: ShardID(0), range: ShardRange(start: 0, last: 0)),
            .init(id: ShardID(1), range: ShardRange(start: 1, last: .max)),
        ])
        #expect(throws: ClusterError(.unsplittableShard, "shard 0 covers a single hash value")) {
            try layout.split(ShardID(0))
        }
        #expect { try layout.split(ShardID(9)) } throws: { ($0 as? ClusterError)?.code == .unknownShard }
    }

    @Test("layouts with gaps, overlaps or repeated ids are rejected")
    func invalidLayouts() throws {
        let gap: [ShardLayout.Entry] = [
            .init(id: ShardID(0), range: try ShardRange(start: 0, last: 10)),
            .init(id: ShardID(1), range: try ShardRange(start: 12, last: .max)),
        ]
        let overlap: [ShardLayout.Entry] = [
            .init(id: ShardID(0), range: try ShardRange(start: 0, last: 10)),
            .init(id: ShardID(1), range: try ShardRange(start: 10, last: .max)),
        ]
        let short: [ShardLayout.Entry] = [.init(id: ShardID(0), range: try ShardRange(start: 0, last: .max - 1))]
        let repeated: [ShardLayout.Entry] = [
            .init(id: ShardID(0), range: try ShardRange(start: 0, last: 10)),
            .init(id: ShardID(0), range: try ShardRange(start: 11, last: .max)),
        ]
        for entries in [gap, overlap, short, []] {
            #expect { try ShardLayout(entries) } throws: { ($0 as? ClusterError)?.code == .invalidLayout }
        }
        #expect { try ShardLayout(repeated) } throws: { ($0 as? ClusterError)?.code == .unknownShard }
        #expect { try ShardRange(start: 5, last: 4) } throws: { ($0 as? ClusterError)?.code == .invalidLayout }
    }
}

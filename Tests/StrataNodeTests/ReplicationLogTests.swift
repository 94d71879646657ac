import Foundation
import StrataCluster
import StrataStorage
import Testing

@testable import StrataNode

@Suite("Replication log")
struct ReplicationLogTests {
    private func openKeyspace(_ directory: String, retention: UInt64) throws -> (Database, Keyspace) {
        var options = StorageOptions()
        options.columnFamilies = Keyspace.families
        let database = try Database(path: directory, options: options)
        let keyspace = try Keyspace(
            database: database, shards: [ShardID(1), ShardID(2)], cacheBytes: 1 << 20, logRetention: retention)
        return (database, keyspace)
    }

    /// Keyspaces opened in one temporary directory; `close()` closes them and removes it.
    private final class Scratch {
        let directory = NSTemporaryDirectory() + "strata-log-\(UUID().uuidString)"
        private var databases: [Database] = []

        init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }

        /// A keyspace (shards 1 and 2) in its own database under the directory.
        func keyspace(_ name: String, retention: UInt64 = 1000) throws -> Keyspace {
            var options = StorageOptions()
            options.columnFamilies = Keyspace.families
            let database = try Database(path: directory + "/" + name, options: options)
            databases.append(database)
            return try Keyspace(database: database, shards: [ShardID(1), ShardID(2)], cacheBytes: 1 << 20, logRetention: retention)
        }

        func close() {
            for database in databases { database.close() }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    private func key(_ name: String, hash: UInt64) -> DataKey {
        DataKey(hash: hash, tenant: Array("t".utf8), key: Array(name.utf8))
    }

    /// Two keys of shard 1 (`a` sorts first), for the restaging tests.
    private var a: RecordAddress { RecordAddress(shard: ShardID(1), dataKey: key("a", hash: 10)) }
    private var b: RecordAddress { RecordAddress(shard: ShardID(1), dataKey: key("b", hash: 12)) }

    @Test("dropping a shard deletes its records, log and positions and nothing of the others; it comes back empty")
    func dropShard() throws {
        let scratch = try Scratch()
        defer { scratch.close() }
        let keyspace = try scratch.keyspace("db")
        let c = RecordAddress(shard: ShardID(2), dataKey: key("c", hash: 20))
        let group = keyspace.beginGroup(epochs: { _ in 1 })
        _ = try group.stage(a, current: nil, .put(value: [1], expiresAt: nil, flags: 0))
        _ = try group.stage(b, current: nil, .put(value: [2], expiresAt: nil, flags: 0))
        _ = try group.stage(c, current: nil, .put(value: [3], expiresAt: nil, flags: 0))
        try keyspace.commit(group)
        #expect(try keyspace.read(a, now: 0) != nil)

        try keyspace.drop(ShardID(1), hashes: 0...15)
        try keyspace.compactDropped([(ShardID(1), 0...15)])
        #expect(keyspace.knownShards == [ShardID(2)])
        #expect(try keyspace.read(a, now: 0) == nil)
        #expect(try keyspace.read(b, now: 0) == nil)
        #expect(try keyspace.read(c, now: 0)?.value == [3], "the other shard keeps its data")
        #expect(try keyspace.logEntries(ShardID(1), after: 0, limit: 10, maxBytes: 1 << 20) == nil)
        guard case .entries(let kept)? = try keyspace.logEntries(ShardID(2), after: 0, limit: 10, maxBytes: 1 << 20) else {
            Issue.record("shard 2 lost its log"); return
        }
        #expect(kept.count == 1)
        // Given back, the shard starts from nothing.
        try keyspace.adopt(shards: [ShardID(1), ShardID(2)])
        #expect(keyspace.lastVersion(of: ShardID(1)) == 0)
        #expect(try keyspace.read(a, now: 0) == nil)
    }

    @Test("a split shard starts at its parent's sequence number with its log trimmed there (a follower needs a snapshot), once; a follower applies only the parent's current range of its older entries")
    func splitShard() throws {
        let scratch = try Scratch()
        defer { scratch.close() }
        let primary = try scratch.keyspace("primary")
        let follower = try scratch.keyspace("follower")
        let low = RecordAddress(shard: ShardID(1), dataKey: key("low", hash: 10))
        let high = RecordAddress(shard: ShardID(1), dataKey: key("high", hash: 60))
        let group = primary.beginGroup(epochs: { _ in 1 })
        _ = try group.stage(low, current: nil, .put(value: [1], expiresAt: nil, flags: 0))
        _ = try group.stage(high, current: nil, .put(value: [2], expiresAt: nil, flags: 0))
        try primary.commit(group)
        #expect(primary.lastVersion(of: ShardID(1)) == 2)

        // Shard 1 ([0, 99]) splits: 1 keeps [0, 49], 3 takes [50, 99].
        let node = ClusterNode(id: "n1", host: "127.0.0.1", dataPort: 1)
        let map = try ClusterMap(
            epoch: 2, nodes: [node],
            shards: [
                ShardAssignment(id: ShardID(1), range: try ShardRange(start: 0, last: 49), replicas: ["n1"], epoch: 2, inSync: ["n1"]),
                ShardAssignment(
                    id: ShardID(3), range: try ShardRange(start: 50, last: 99), replicas: ["n1"], epoch: 2, inSync: ["n1"],
                    placement: 0, parent: ShardID(1)),
                ShardAssignment(id: ShardID(2), range: try ShardRange(start: 100, last: .max), replicas: ["n1"], epoch: 1, inSync: ["n1"]),
            ],
            replicationFactor: 1, vnodes: 1)
        let topology = NodeTopology(map: map, localNode: "n1")
        try primary.adopt(shards: topology.localShards)
        #expect(try primary.startSplits(in: topology).map(\.sequence) == [2])
        #expect(primary.lastVersion(of: ShardID(3)) == 2)
        #expect(try primary.startSplits(in: topology).isEmpty, "started once")
        guard case .trimmed? = try primary.logEntries(ShardID(3), after: 0, limit: 10, maxBytes: 1 << 20) else {
            Issue.record("a follower of the new shard starts from a snapshot"); return
        }
        let moved = RecordAddress(shard: ShardID(3), dataKey: high.dataKey)
        let next = primary.beginGroup(epochs: { _ in 2 })
        _ = try next.stage(moved, current: try next.read(moved, now: 0), .put(value: [3], expiresAt: nil, flags: 0))
        try primary.commit(next)
        #expect(try primary.read(moved, now: 0) == Record(value: [3], version: 3), "versions go on from the parent's")
        guard case .entries(let entries)? = try primary.logEntries(ShardID(3), after: 2, limit: 10, maxBytes: 1 << 20) else {
            Issue.record("the new shard's own entries follow"); return
        }
        #expect(entries.map(\.sequence) == [3])

        // A follower goes on from the parent's log once it applied it up to the split point (2).
        let split = try #require(map.shard(ShardID(3)))
        try follower.adopt(shards: topology.localShards)
        #expect(follower.splitStart(of: split, at: 2) == .waitForParent)
        guard case .entries(let parent)? = try primary.logEntries(ShardID(1), after: 0, limit: 10, maxBytes: 1 << 20) else {
            Issue.record("the parent keeps its log"); return
        }
        let applying = follower.beginGroup()
        #expect(applying.apply(try LogEntry(sequence: parent[0].sequence, payload: parent[0].payload), to: ShardID(1)))
        try follower.commit(applying)
        #expect(follower.splitStart(of: split, at: 2) == .fromParent)
        try follower.start(ShardID(3), at: 2, epoch: 2)
        #expect(try follower.read(moved, now: 0)?.value == [2], "the new half's writes came with the parent's log")
        #expect(follower.splitStart(of: split, at: 2) == .snapshot, "started: no longer unstarted")
        guard case .entries(let own)? = try primary.logEntries(ShardID(3), after: 2, epoch: 2, limit: 10, maxBytes: 1 << 20) else {
            Issue.record("the follower's position checks against the primary's entry there"); return
        }
        #expect(own.map(\.sequence) == [3])
        // A follower whose copy of the parent came from a snapshot at the split point or later copies the new half too.
        let late = try scratch.keyspace("late")
        try late.adopt(shards: topology.localShards)
        try late.installSnapshot(ShardID(1), hashes: 0...49, sequence: 2, epoch: 2, records: [])
        #expect(late.splitStart(of: split, at: 2) == .snapshot)
        #expect(late.splitStart(of: try #require(map.shard(ShardID(2))), at: 2) == .snapshot, "not a split shard")
    }

    @Test("a write's request id rides in its shard's log entry to the follower, whose own entry keeps it; other shards' entries carry none")
    func requestIDsInEntries() throws {
        let scratch = try Scratch()
        defer { scratch.close() }
        let primary = try scratch.keyspace("primary")
        let follower = try scratch.keyspace("follower")
        let c = RecordAddress(shard: ShardID(2), dataKey: key("c", hash: 20))
        let group = primary.beginGroup(epochs: { _ in 1 })
        _ = try group.stage(a, current: nil, .put(value: [1], expiresAt: nil, flags: 0))
        group.noteRequest(Array("req-1".utf8), shard: ShardID(1))
        _ = try group.stage(b, current: nil, .put(value: [2], expiresAt: nil, flags: 0))
        group.noteRequest(Array("req-2".utf8), shard: ShardID(1))
        _ = try group.stage(c, current: nil, .put(value: [3], expiresAt: nil, flags: 0))
        try primary.commit(group)

        guard case .entries(let one)? = try primary.logEntries(ShardID(1), after: 0, limit: 10, maxBytes: 1 << 20),
            case .entries(let two)? = try primary.logEntries(ShardID(2), after: 0, limit: 10, maxBytes: 1 << 20)
        else { Issue.record("no entries"); return }
        let entry = try LogEntry(sequence: one[0].sequence, payload: one[0].payload)
        #expect(entry.requestIDs == [Array("req-1".utf8), Array("req-2".utf8)])
        #expect(entry.changes.map(\.key) == [a.dataKey, b.dataKey], "the ids do not disturb the changes")
        #expect(try LogEntry(sequence: two[0].sequence, payload: two[0].payload).requestIDs.isEmpty)

        let applied = follower.beginGroup()
        #expect(applied.apply(entry, to: ShardID(1)))
        try follower.commit(applied)
        guard case .entries(let copied)? = try follower.logEntries(ShardID(1), after: 0, limit: 10, maxBytes: 1 << 20) else {
            Issue.record("no entries on the follower"); return
        }
        #expect(try LogEntry(sequence: copied[0].sequence, payload: copied[0].payload).requestIDs == entry.requestIDs)
    }

    @Test("every commit writes one entry per shard, in the same batch; a follower's keyspace applies them to the same state")
    func commitAndApply() throws {
        let scratch = try Scratch()
        defer { scratch.close() }
        let primary = try scratch.keyspace("primary")
        let follower = try scratch.keyspace("follower")

        // Group 1: two keys of shard 1, one of shard 2. Group 2: overwrite one, delete another.
        let a = RecordAddress(shard: ShardID(1), dataKey: key("a", hash: 10))
        let b = RecordAddress(shard: ShardID(1), dataKey: key("b", hash: 11))
        let c = RecordAddress(shard: ShardID(2), dataKey: key("c", hash: 20))
        let first = primary.beginGroup(epochs: { _ in 7 })
        _ = try first.stage(a, current: nil, .put(value: [1], expiresAt: nil, flags: 0))
        _ = try first.stage(b, current: nil, .put(value: [2], expiresAt: nil, flags: 0))
        _ = try first.stage(c, current: nil, .put(value: [3], expiresAt: nil, flags: 0))
        try primary.commit(first)
        let second = primary.beginGroup(epochs: { _ in 7 })
        _ = try second.stage(a, current: try second.read(a, now: 0), .put(value: [4], expiresAt: nil, flags: 0))
        _ = try second.stage(b, current: try second.read(b, now: 0), .delete)
        try primary.commit(second)
        #expect(primary.lastVersion(of: ShardID(1)) == 4)

        guard case .entries(let entries)? = try primary.logEntries(ShardID(1), after: 0, limit: 100, maxBytes: 1 << 20)
        else { Issue.record("no entries"); return }
        #expect(entries.map(\.sequence) == [2, 4])
        let decoded = try entries.map { try LogEntry(sequence: $0.sequence, payload: $0.payload) }
        #expect(decoded[1].changes.count == 2)
        #expect(decoded[1].changes.first { $0.key == b.dataKey }.map { $0.record == nil } == true)
        guard case .entries(let later)? = try primary.logEntries(ShardID(1), after: 2, limit: 100, maxBytes: 1 << 20)
        else { Issue.record("no entries"); return }
        #expect(later.map(\.sequence) == [4])

        let group = follower.beginGroup()
        for entry in decoded { #expect(group.apply(entry, to: ShardID(1))) }
        #expect(!group.apply(decoded[0], to: ShardID(1)), "an old entry is not applied twice")
        try follower.commit(group)
        #expect(follower.lastVersion(of: ShardID(1)) == 4)
        #expect(try follower.read(a, now: 0) == Record(value: [4], version: 3), "records keep the primary's versions")
        #expect(try follower.read(b, now: 0) == nil)
        // A follower whose entry at its position has another epoch diverged; one with the same epoch follows.
        #expect(decoded[1].epoch == 7)
        guard case .diverged? = try primary.logEntries(ShardID(1), after: 2, epoch: 6, limit: 10, maxBytes: 1 << 20) else {
            Issue.record("expected diverged"); return
        }
        guard case .entries? = try primary.logEntries(ShardID(1), after: 2, epoch: 7, limit: 10, maxBytes: 1 << 20) else {
            Issue.record("expected entries"); return
        }
        guard case .ahead? = try primary.logEntries(ShardID(1), after: 9, limit: 10, maxBytes: 1 << 20) else {
            Issue.record("expected ahead"); return
        }
        #expect(follower.position(of: ShardID(1))! == (4, 7), "followers keep the primary's epochs")
        // The follower logs what it applied, under the primary's sequence numbers.
        guard case .entries(let mirrored)? = try follower.logEntries(ShardID(1), after: 0, limit: 100, maxBytes: 1 << 20)
        else { Issue.record("no entries"); return }
        #expect(mirrored.map(\.sequence) == [4])
    }

    @Test("a key staged twice in a group: reads in the group see the newest, the commit writes it once with the last version")
    func restagedKey() throws {
        let scratch = try Scratch()
        defer { scratch.close() }
        let keyspace = try scratch.keyspace("db", retention: 100)
        let group = keyspace.beginGroup()
        #expect(try group.stage(a, current: nil, .put(value: [1], expiresAt: nil, flags: 0)) == 1)
        #expect(try group.stage(b, current: nil, .put(value: [9], expiresAt: nil, flags: 0)) == 2)
        #expect(try group.stage(a, current: try group.read(a, now: 0), .put(value: [2], expiresAt: nil, flags: 0)) == 3)
        #expect(try group.read(a, now: 0) == Record(value: [2], version: 3))
        #expect(try group.stage(b, current: try group.read(b, now: 0), .delete) == 4)
        #expect(try group.read(b, now: 0) == nil)
        try keyspace.commit(group)
        #expect(try keyspace.read(a, now: 0) == Record(value: [2], version: 3))
        #expect(try keyspace.read(b, now: 0) == nil)
        guard case .entries(let entries)? = try keyspace.logEntries(ShardID(1), after: 0, limit: 10, maxBytes: 1 << 20)
        else { Issue.record("no entries"); return }
        let changes = try LogEntry(sequence: entries[0].sequence, payload: entries[0].payload).changes
        #expect(changes.map(\.key) == [a.dataKey, b.dataKey], "each key once, in key order")
        #expect(changes.map(\.record) == [Record(value: [2], version: 3), nil])
    }

    @Test("keys staged again without reads in between (an unindexed group): the last staging wins, before and after the first read")
    func blindRestaging() throws {
        let scratch = try Scratch()
        defer { scratch.close() }
        let keyspace = try scratch.keyspace("db", retention: 100)
        let c = RecordAddress(shard: ShardID(2), dataKey: key("c", hash: 11))
        let group = keyspace.beginGroup()
        // Blind writes: a three times, b twice, interleaved with c.
        _ = try group.stage(a, current: nil, .put(value: [1], expiresAt: nil, flags: 0))
        _ = try group.stage(b, current: nil, .put(value: [5], expiresAt: nil, flags: 0))
        _ = try group.stage(a, current: nil, .put(value: [2], expiresAt: nil, flags: 0))
        _ = try group.stage(c, current: nil, .put(value: [7], expiresAt: nil, flags: 0))
        _ = try group.stage(a, current: nil, .put(value: [3], expiresAt: nil, flags: 0))
        // The first read indexes the group: it sees the last staging of each key.
        #expect(try group.read(a, now: 0) == Record(value: [3], version: 4))
        #expect(try group.read(b, now: 0) == Record(value: [5], version: 2))
        // Staged after indexing: replaces in place.
        _ = try group.stage(b, current: try group.read(b, now: 0), .put(value: [6], expiresAt: nil, flags: 0))
        #expect(try group.read(b, now: 0) == Record(value: [6], version: 5))
        try keyspace.commit(group)
        #expect(try keyspace.read(a, now: 0) == Record(value: [3], version: 4))
        #expect(try keyspace.read(b, now: 0) == Record(value: [6], version: 5))
        #expect(try keyspace.read(c, now: 0) == Record(value: [7], version: 1))
        guard case .entries(let entries)? = try keyspace.logEntries(ShardID(1), after: 0, limit: 10, maxBytes: 1 << 20)
        else { Issue.record("no entries"); return }
        #expect(entries.map(\.sequence) == [5])
        let changes = try LogEntry(sequence: entries[0].sequence, payload: entries[0].payload).changes
        #expect(changes.map(\.key) == [a.dataKey, b.dataKey], "each key once, in key order")
        #expect(changes.map(\.record) == [Record(value: [3], version: 4), Record(value: [6], version: 5)])
        // Without any read: the later of two blind writes is the one committed.
        let blind = keyspace.beginGroup()
        _ = try blind.stage(c, current: nil, .put(value: [8], expiresAt: nil, flags: 0))
        _ = try blind.stage(c, current: nil, .put(value: [9], expiresAt: nil, flags: 0))
        try keyspace.commit(blind)
        #expect(try keyspace.read(c, now: 0) == Record(value: [9], version: 3))
        guard case .entries(let cEntries)? = try keyspace.logEntries(ShardID(2), after: 1, limit: 10, maxBytes: 1 << 20)
        else { Issue.record("no entries"); return }
        #expect(try cEntries.map { try LogEntry(sequence: $0.sequence, payload: $0.payload).changes.map(\.record) } == [[Record(value: [9], version: 3)]])
    }

    @Test("the log keeps about `retention` entries per shard; a follower behind the trim point is told to take a snapshot")
    func trimming() throws {
        let directory = NSTemporaryDirectory() + "strata-log-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (database, keyspace) = try openKeyspace(directory, retention: 8)
        for index in 0..<40 {
            let group = keyspace.beginGroup()
            let address = RecordAddress(shard: ShardID(1), dataKey: key("k\(index)", hash: 10))
            _ = try group.stage(address, current: nil, .put(value: [UInt8(index)], expiresAt: nil, flags: 0))
            try keyspace.commit(group)
        }
        guard case .trimmed? = try keyspace.logEntries(ShardID(1), after: 5, limit: 100, maxBytes: 1 << 20) else {
            Issue.record("expected trimmed"); return
        }
        guard case .entries(let recent)? = try keyspace.logEntries(ShardID(1), after: 35, limit: 100, maxBytes: 1 << 20)
        else { Issue.record("expected entries"); return }
        #expect(recent.map(\.sequence) == [36, 37, 38, 39, 40])
        database.close()
        // The trim point survives a restart.
        let (reopened, again) = try openKeyspace(directory, retention: 8)
        defer { reopened.close() }
        guard case .trimmed? = try again.logEntries(ShardID(1), after: 5, limit: 100, maxBytes: 1 << 20) else {
            Issue.record("expected trimmed after reopen"); return
        }
        // Sequence numbers come back from the newest log entry: trimmed, never written, installed from a snapshot.
        #expect(again.lastVersion(of: ShardID(1)) == 40)
        #expect(again.lastVersion(of: ShardID(2)) == 0)
        try again.installSnapshot(ShardID(2), hashes: 0...UInt64.max / 2, sequence: 77, epoch: 3, records: [])
        reopened.close()
        let (third, afterSnapshot) = try openKeyspace(directory, retention: 8)
        defer { third.close() }
        #expect(afterSnapshot.position(of: ShardID(2))! == (77, 3))
        #expect(afterSnapshot.lastVersion(of: ShardID(1)) == 40)
        let group = afterSnapshot.beginGroup()
        let address = RecordAddress(shard: ShardID(2), dataKey: key("next", hash: 20))
        #expect(try group.stage(address, current: nil, .put(value: [1], expiresAt: nil, flags: 0)) == 78)
    }
}

/// The identity of a shard. Ids are never reused: a split gives the upper half a new id.
public struct ShardID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The numeric id.
    public var rawValue: UInt32

    /// Creates a shard id.
    /// - Parameter rawValue: The numeric id.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Creates a shard id.
    /// - Parameter rawValue: The numeric id.
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// Orders by numeric id.
    public static func < (lhs: ShardID, rhs: ShardID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Decodes from a bare JSON number.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt32.self)
    }

    /// Encodes as a bare JSON number.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The decimal id, as `-MOVED` replies print it.
    public var description: String { String(rawValue) }
}

/// A non-empty, contiguous range of the 64-bit hash space: `start...last`, both inclusive.
///
/// Inclusive bounds represent the last shard (which ends at 2^64, one past
/// `UInt64.max`) without a flag or an optional, and make an empty range
/// unrepresentable. `endExclusive` gives the half-open form storage range scans want.
///
/// In JSON a range is `{"start": "<16 hex digits>", "last": "<16 hex digits>"}`:
/// hexadecimal strings because many JSON tools (`jq`, JavaScript) round
/// integers above 2^53.
public struct ShardRange: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The first hash value in the range.
    public let start: UInt64
    /// The last hash value in the range (inclusive).
    public let last: UInt64

    /// The whole hash space, `0...UInt64.max`.
    public static let full = ShardRange(unchecked: 0, last: .max)

    /// Creates `start...last`.
    /// - Parameters:
    ///   - start: The first hash value.
    ///   - last: The last hash value, inclusive.
    /// - Throws: `ClusterError.invalidLayout` if `last < start`.
    public init(start: UInt64, last: UInt64) throws(ClusterError) {
        guard start <= last else {
            throw ClusterError(.invalidLayout, "range start \(hex(start)) is after its last value \(hex(last))")
        }
        self.init(unchecked: start, last: last)
    }

    init(unchecked start: UInt64, last: UInt64) {
        self.start = start
        self.last = last
    }

    /// The exclusive upper bound, or `nil` when the range runs to the end of the space (2^64).
    public var endExclusive: UInt64? { last == .max ? nil : last + 1 }

    /// Whether `hash` lies in the range.
    /// - Complexity: O(1).
    public func contains(_ hash: UInt64) -> Bool { start <= hash && hash <= last }

    /// The two halves of the range: `start...mid` and `mid+1...last`, the
    /// lower one never smaller than the upper, or `nil` if the range holds a single value.
    /// - Complexity: O(1).
    public var halves: (lower: ShardRange, upper: ShardRange)? {
        guard start < last else { return nil }
        let mid = start + (last - start) / 2
        return (ShardRange(unchecked: start, last: mid), ShardRange(unchecked: mid + 1, last: last))
    }

    /// `[start, last]` in fixed-width hex.
    public var description: String { "[\(hex(start)), \(hex(last))]" }

    private enum CodingKeys: String, CodingKey { case start, last }

    /// Decodes `{"start": hex, "last": hex}`; rejects malformed hex and `last < start`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func value(_ key: CodingKeys) throws -> UInt64 {
            let text = try container.decode(String.self, forKey: key)
            guard !text.isEmpty, text.count <= 16, let value = UInt64(text, radix: 16) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "expected up to 16 hex digits, got \"\(text)\"")
            }
            return value
        }
        let start = try value(.start)
        let last = try value(.last)
        guard start <= last else {
            throw DecodingError.dataCorruptedError(
                forKey: .last, in: container, debugDescription: "range last \(hex(last)) is before start \(hex(start))")
        }
        self.init(unchecked: start, last: last)
    }

    /// Encodes `{"start": hex, "last": hex}` with 16 lowercase hex digits each.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(hex(start), forKey: .start)
        try container.encode(hex(last), forKey: .last)
    }
}

/// 16 lowercase hex digits, zero padded.
func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// The cut of the 64-bit hash space into shards: contiguous ranges that cover
/// every hash value exactly once.
///
/// Entries are kept sorted by `range.start`, which makes `shard(forHash:)` a
/// binary search.
public struct ShardLayout: Hashable, Sendable {
    /// One shard of the layout.
    public struct Entry: Hashable, Sendable {
        /// The shard's id.
        public var id: ShardID
        /// The hash values it covers.
        public var range: ShardRange

        /// Creates an entry.
        /// - Parameters:
        ///   - id: The shard's id.
        ///   - range: The hash values it covers.
        public init(id: ShardID, range: ShardRange) {
            self.id = id
            self.range = range
        }
    }

    /// The shards, sorted by `range.start`; they tile `0...UInt64.max`.
    public private(set) var entries: [Entry]

    /// The default number of shards at bootstrap.
    public static let defaultShardCount = 64

    /// Creates a layout from shards in any order.
    ///
    /// - Parameter entries: The shards; their ranges must tile the hash space
    ///   exactly and their ids must be distinct.
    /// - Throws: `ClusterError.invalidLayout` for a gap, an overlap or no
    ///   entries; `ClusterError.unknownShard` for a repeated id.
    /// - Complexity: O(n log n) in the number of shards.
    public init(_ entries: [Entry]) throws(ClusterError) {
        let sorted = entries.sorted { $0.range.start < $1.range.start }
        guard let first = sorted.first else { throw ClusterError(.invalidLayout, "a layout needs at least one shard") }
        guard first.range.start == 0 else {
            throw ClusterError(.invalidLayout, "no shard covers hash 0000000000000000")
        }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.range.endExclusive != next.range.start {
            throw ClusterError(.invalidLayout, "shard \(previous.id) \(previous.range) does not end where shard \(next.id) \(next.range) starts")
        }
        guard sorted.last!.range.last == .max else {
            throw ClusterError(.invalidLayout, "no shard covers hash ffffffffffffffff")
        }
        guard Set(sorted.map(\.id)).count == sorted.count else {
            throw ClusterError(.unknownShard, "shard ids are not unique")
        }
        self.entries = sorted
    }

    /// `count` shards of equal width (to within one hash value), ids `0..<count` in hash order.
    ///
    /// Shard `i` starts at ⌊i · 2^64 / count⌋.
    ///
    /// - Parameter count: The number of shards, at least 1.
    /// - Returns: The layout.
    /// - Complexity: O(count).
    public static func uniform(count: Int = defaultShardCount) -> ShardLayout {
        precondition(count >= 1, "a layout needs at least one shard")
        let divisor = UInt64(count)
        let starts = (0..<count).map { index in
            divisor.dividingFullWidth((high: UInt64(index), low: 0)).quotient
        }
        let entries = starts.indices.map { index in
            let last = index + 1 < starts.count ? starts[index + 1] - 1 : UInt64.max
            return Entry(id: ShardID(UInt32(index)), range: ShardRange(unchecked: starts[index], last: last))
        }
        return ShardLayout(sortedEntries: entries)
    }

    init(sortedEntries: [Entry]) {
        entries = sortedEntries
    }

    /// The number of shards.
    /// - Complexity: O(1).
    public var count: Int { entries.count }

    /// The index in `entries` of the shard that contains `hash`.
    /// - Complexity: O(log n) in the number of shards.
    public func entryIndex(forHash hash: UInt64) -> Int {
        // Last entry whose start is <= hash; entry 0 starts at 0, so one always exists.
        var low = 0
        var high = entries.count
        while high - low > 1 {
            let mid = (low + high) / 2
            if entries[mid].range.start <= hash { low = mid } else { high = mid }
        }
        return low
    }

    /// The shard that contains `hash`. Every hash value has exactly one.
    /// - Complexity: O(log n) in the number of shards.
    public func shard(forHash hash: UInt64) -> ShardID {
        entries[entryIndex(forHash: hash)].id
    }

    /// The range of a shard, or `nil` if the layout has no such shard.
    /// - Complexity: O(n) in the number of shards.
    public func range(of id: ShardID) -> ShardRange? {
        entries.first { $0.id == id }?.range
    }

    /// Splits a shard into two halves of its range.
    ///
    /// The lower half keeps `id`; the upper half gets one more than the largest
    /// id in the layout, so ids are never reused (a client holding an older map
    /// cannot confuse the two).
    ///
    /// - Parameter id: The shard to split.
    /// - Returns: The id of the new upper half.
    /// - Throws: `ClusterError.unknownShard` if `id` is not in the layout;
    ///   `ClusterError.unsplittableShard` if it covers a single hash value or
    ///   the layout already uses id `UInt32.max`.
    /// - Complexity: O(n) in the number of shards.
    @discardableResult
    public mutating func split(_ id: ShardID) throws(ClusterError) -> ShardID {
        guard let index = entries.firstIndex(where: { $0.id == id }) else {
            throw ClusterError(.unknownShard, "shard \(id) is not in the layout")
        }
        guard let (lower, upper) = entries[index].range.halves else {
            throw ClusterError(.unsplittableShard, "shard \(id) covers a single hash value")
        }
        let largest = entries.map(\.id.rawValue).max()!
        guard largest < .max else {
            throw ClusterError(.unsplittableShard, "no shard id left after \(largest)")
        }
        let newID = ShardID(largest + 1)
        entries[index].range = lower
        entries.insert(Entry(id: newID, range: upper), at: index + 1)
        return newID
    }
}

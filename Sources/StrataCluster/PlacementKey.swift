/// How a tenant's keys are spread over shards.
public enum TenantPlacement: String, Hashable, Sendable, Codable, CaseIterable {
    /// Each key (or hash tag) hashes on its own: the tenant's keys spread over all shards.
    case spread
    /// The tenant hashes alone, so all its keys share one shard (locality for small tenants).
    case colocate
}

/// The bytes a record is placed by, and their hash.
///
/// The placement key is `tenant ++ 0x00 ++ hashtag(key)` for `.spread` tenants and
/// `tenant ++ 0x00` for `.colocate` tenants. The `0x00` separator keeps
/// `("ab", "c")` and `("a", "bc")` apart for the common case of tenants without
/// a NUL byte. Everything is binary safe: no `String` conversions.
public enum PlacementKey {
    /// The hash tag of a key, by Redis Cluster's rule.
    ///
    /// If the key contains a `{`, and a `}` follows the first `{` with at least
    /// one byte between them, the tag is the bytes between that first `{` and the
    /// first `}` after it; otherwise the tag is the whole key. So
    /// `{user1000}.following` → `user1000`, `foo{}{bar}` → the whole key,
    /// `foo{{bar}}zap` → `{bar`, `foo{bar}{zap}` → `bar`.
    ///
    /// - Parameter key: The user key, any bytes.
    /// - Returns: A slice of `key`.
    /// - Complexity: O(n) in the key length; no allocation.
    @inlinable
    public static func hashtag(_ key: [UInt8]) -> ArraySlice<UInt8> {
        key[hashtagRange(key)]
    }

    /// The index range of `hashtag(key)` within `key`.
    @inlinable
    static func hashtagRange(_ key: [UInt8]) -> Range<Int> {
        key.withUnsafeBytes { hashtagRange($0) }
    }

    /// The index range of the hash tag within the key bytes `bytes`.
    @inlinable
    static func hashtagRange(_ bytes: UnsafeRawBufferPointer) -> Range<Int> {
        var open = 0
        while open < bytes.count && bytes[open] != UInt8(ascii: "{") { open += 1 }
        var close = open + 1
        while close < bytes.count && bytes[close] != UInt8(ascii: "}") { close += 1 }
        // No `{`, no `}` after it, or nothing between them: the whole key.
        guard close < bytes.count, close > open + 1 else { return 0..<bytes.count }
        return (open + 1)..<close
    }

    /// The placement key of a record.
    ///
    /// - Parameters:
    ///   - tenant: The tenant's identity bytes.
    ///   - key: The user key bytes.
    ///   - placement: The tenant's placement policy.
    /// - Returns: `tenant ++ 0x00 ++ hashtag(key)` (`.spread`) or `tenant ++ 0x00` (`.colocate`).
    /// - Complexity: O(n) in the tenant plus key length.
    public static func bytes(tenant: [UInt8], key: [UInt8], placement: TenantPlacement = .spread) -> [UInt8] {
        var result: [UInt8] = []
        let tag: ArraySlice<UInt8> = placement == .spread ? hashtag(key) : []
        result.reserveCapacity(tenant.count + 1 + tag.count)
        result.append(contentsOf: tenant)
        result.append(0)
        result.append(contentsOf: tag)
        return result
    }

    /// The placement hash of a record: xxHash64 (seed 0) of its placement key.
    ///
    /// Equal to `XXHash64.hash(bytes(tenant:key:placement:))`, computed in a
    /// stack buffer when the key is small.
    ///
    /// - Parameters:
    ///   - tenant: The tenant's identity bytes.
    ///   - key: The user key bytes.
    ///   - placement: The tenant's placement policy.
    /// - Returns: The 64-bit position of the record in the hash space.
    /// - Complexity: O(n) in the tenant plus key length.
    public static func hash(tenant: [UInt8], key: [UInt8], placement: TenantPlacement = .spread) -> UInt64 {
        key.withUnsafeBytes { hash(tenant: tenant, key: $0, placement: placement) }
    }

    /// The placement hash of a record whose key bytes are in `key`; equal to
    /// `hash(tenant:key:placement:)` of the same bytes as an array.
    public static func hash(tenant: [UInt8], key: UnsafeRawBufferPointer, placement: TenantPlacement = .spread) -> UInt64 {
        let tag = placement == .spread ? UnsafeRawBufferPointer(rebasing: key[hashtagRange(key)]) : UnsafeRawBufferPointer(start: nil, count: 0)
        let count = tenant.count + 1 + tag.count
        return withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { buffer in
            tenant.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: buffer[0..<tenant.count]).copyMemory(from: $0)
            }
            buffer[tenant.count] = 0
            UnsafeMutableRawBufferPointer(rebasing: buffer[(tenant.count + 1)...]).copyMemory(from: tag)
            return XXHash64.hash(UnsafeRawBufferPointer(buffer))
        }
    }
}

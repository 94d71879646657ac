import Foundation

/// A stored record: value bytes with the version of the write that produced
/// them, an optional expiry and flags.
///
/// Encoded envelope (big-endian): `format (1) | version (8) | expiresAt ms (8, 0 = never) | flags (1) | value`.
public struct Record: Sendable, Equatable {
    /// The only envelope format this version writes and reads.
    public static let format: UInt8 = 1
    /// Size of the envelope header before the value bytes.
    public static let headerSize = 18

    /// The value bytes.
    public var value: [UInt8]
    /// The shard sequence number of the write that produced this record.
    public var version: UInt64
    /// Expiry in milliseconds since the Unix epoch, or `nil` for never.
    public var expiresAt: Int64?
    /// Flags reserved for the data model (for example the value's type).
    public var flags: UInt8

    /// Creates a record.
    public init(value: [UInt8], version: UInt64, expiresAt: Int64? = nil, flags: UInt8 = 0) {
        self.value = value
        self.version = version
        self.expiresAt = expiresAt
        self.flags = flags
    }

    /// Whether the record is expired at `now` (milliseconds since the Unix epoch).
    public func isExpired(at now: Int64) -> Bool {
        if let expiresAt { return expiresAt <= now }
        return false
    }

    /// The encoded envelope.
    /// - Complexity: O(value size).
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encodedCount)
        append(to: &bytes)
        return bytes
    }

    /// The size of the encoded envelope.
    public var encodedCount: Int { Self.headerSize + value.count }

    /// Appends the encoded envelope (the bytes of `encoded()`) to `bytes`.
    public func append(to bytes: inout [UInt8]) {
        bytes.append(Self.format)
        appendBigEndian(version, to: &bytes)
        appendBigEndian(UInt64(bitPattern: expiresAt ?? 0), to: &bytes)
        bytes.append(flags)
        bytes.append(contentsOf: value)
    }

    /// Decodes an envelope.
    /// - Throws: `StorageError.Code.badFormat` for a short buffer or an unknown format byte.
    public init(encoded bytes: [UInt8]) throws(StorageError) {
        try self.init(encoded: bytes[...])
    }

    /// Decodes an envelope from a slice.
    /// - Throws: `StorageError.Code.badFormat` for a short buffer or an unknown format byte.
    public init(encoded bytes: ArraySlice<UInt8>) throws(StorageError) {
        guard bytes.count >= Self.headerSize else {
            throw StorageError(code: .badFormat, message: "record envelope of \(bytes.count) bytes is shorter than its header")
        }
        let start = bytes.startIndex
        guard bytes[start] == Self.format else {
            throw StorageError(code: .badFormat, message: "unknown record format \(bytes[start])")
        }
        version = loadBigEndian(bytes, at: start + 1)
        let expiry = Int64(bitPattern: loadBigEndian(bytes, at: start + 9))
        expiresAt = expiry == 0 ? nil : expiry
        flags = bytes[start + 17]
        value = Array(bytes[(start + Self.headerSize)...])
    }

    /// The expiry of an encoded envelope without decoding the rest; `nil` for
    /// none or for bytes that are not an envelope (which are then kept).
    static func expiry(ofEncoded bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count >= headerSize, bytes[0] == format else { return nil }
        var raw: UInt64 = 0
        for i in 9..<17 { raw = raw << 8 | UInt64(bytes[i]) }
        let expiry = Int64(bitPattern: raw)
        return expiry == 0 ? nil : expiry
    }

    /// The expiry of an encoded envelope (milliseconds since 1970), `nil` for none.
    public static func expiry(ofEncoded bytes: [UInt8]) -> Int64? {
        bytes.withUnsafeBytes { expiry(ofEncoded: $0) }
    }

    /// The wall clock in milliseconds since the Unix epoch.
    public static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

/// The data-column-family key of a record: `hash64 (big-endian) | tenant length (1) | tenant | key`.
///
/// Because the placement hash leads, one shard (a range of hashes) is one
/// contiguous key range: migrating, deleting or checksumming a shard is one
/// range scan or one range delete.
public struct DataKey: Sendable, Equatable, Hashable {
    /// The longest tenant name the layout admits.
    public static let maxTenantLength = 255

    /// The placement hash of the record.
    public var hash: UInt64
    /// The tenant owning the record.
    public var tenant: [UInt8]
    /// The user's key.
    public var key: [UInt8]

    /// Hashes the placement hash (which covers the tenant) and the key bytes:
    /// keys that share a placement hash (a `{hashtag}`, a colocated tenant)
    /// must still spread in a hash table.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
        key.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// Creates a data key.
    public init(hash: UInt64, tenant: [UInt8], key: [UInt8]) {
        self.hash = hash
        self.tenant = tenant
        self.key = key
    }

    /// The encoded key.
    /// - Throws: `.keyTooLong` for a tenant over 255 bytes.
    /// - Complexity: O(tenant + key).
    public func encoded() throws(StorageError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(encodedCount)
        try append(to: &bytes)
        return bytes
    }

    /// The size of the encoded key.
    public var encodedCount: Int { 9 + tenant.count + key.count }

    /// Appends the encoded key (the bytes of `encoded()`) to `bytes`.
    /// - Throws: `.keyTooLong` for a tenant over 255 bytes.
    public func append(to bytes: inout [UInt8]) throws(StorageError) {
        guard tenant.count <= Self.maxTenantLength else {
            throw StorageError(code: .keyTooLong, message: "tenant of \(tenant.count) bytes exceeds \(Self.maxTenantLength)")
        }
        appendBigEndian(hash, to: &bytes)
        bytes.append(UInt8(tenant.count))
        bytes.append(contentsOf: tenant)
        bytes.append(contentsOf: key)
    }

    /// Whether `self` sorts before `other` in RocksDB's order of their encoded
    /// forms (placement hash, tenant length, tenant, key), without encoding them.
    public func encodedPrecedes(_ other: DataKey) -> Bool {
        if hash != other.hash { return hash < other.hash }
        if tenant.count != other.tenant.count { return tenant.count < other.tenant.count }
        if tenant != other.tenant { return tenant.lexicographicallyPrecedes(other.tenant) }
        return key.withUnsafeBufferPointer { a in
            other.key.withUnsafeBufferPointer { b in
                let common = min(a.count, b.count)
                if common > 0 {
                    let order = memcmp(a.baseAddress!, b.baseAddress!, common)
                    if order != 0 { return order < 0 }
                }
                return a.count < b.count
            }
        }
    }

    /// Decodes a data key.
    /// - Throws: `.badFormat` when the bytes are too short for the tenant they announce.
    public init(encoded bytes: [UInt8]) throws(StorageError) {
        guard bytes.count >= 9, bytes.count >= 9 + Int(bytes[8]) else {
            throw StorageError(code: .badFormat, message: "data key of \(bytes.count) bytes is malformed")
        }
        hash = loadBigEndian(bytes[...], at: 0)
        let tenantEnd = 9 + Int(bytes[8])
        tenant = Array(bytes[9..<tenantEnd])
        key = Array(bytes[tenantEnd...])
    }

    /// RocksDB iterate bounds for every record whose hash lies in `hashes`
    /// (`lower` inclusive, `upper` exclusive, `nil` when the range reaches 2^64).
    public static func bounds(forHashes hashes: ClosedRange<UInt64>) -> (lower: [UInt8], upper: [UInt8]?) {
        let lower = withUnsafeBytes(of: hashes.lowerBound.bigEndian) { Array($0) }
        guard hashes.upperBound < .max else { return (lower, nil) }
        let upper = withUnsafeBytes(of: (hashes.upperBound + 1).bigEndian) { Array($0) }
        return (lower, upper)
    }
}

@inline(__always)
private func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
}

@inline(__always)
private func loadBigEndian(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt64 {
    var value: UInt64 = 0
    for i in offset..<(offset + 8) { value = value << 8 | UInt64(bytes[i]) }
    return value
}

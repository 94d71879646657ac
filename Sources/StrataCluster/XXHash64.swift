/// xxHash64, the 64-bit non-cryptographic hash of the xxHash family
/// (<https://github.com/Cyan4973/xxHash>), computed in one shot.
///
/// Strata places every record with `XXHash64.hash(placementKey)` (seed 0), so
/// the result must be bit-identical on every platform: input words are read
/// little-endian whatever the host byte order, exactly as the reference does.
///
/// - Complexity: O(n) in the input length; about one multiply-rotate per
///   8 input bytes, with no allocation for contiguous input.
public enum XXHash64 {
    @inlinable static var prime1: UInt64 { 0x9E37_79B1_85EB_CA87 }
    @inlinable static var prime2: UInt64 { 0xC2B2_AE3D_27D4_EB4F }
    @inlinable static var prime3: UInt64 { 0x1656_67B1_9E37_79F9 }
    @inlinable static var prime4: UInt64 { 0x85EB_CA77_C2B2_AE63 }
    @inlinable static var prime5: UInt64 { 0x27D4_EB2F_1656_67C5 }

    /// Hashes the bytes of a raw buffer.
    ///
    /// - Parameters:
    ///   - buffer: The input; may be empty (its base address may be `nil`).
    ///   - seed: The seed; Strata uses 0 for placement.
    /// - Returns: The xxHash64 digest as the reference `XXH64()` returns it.
    /// - Complexity: O(`buffer.count`).
    @inlinable
    public static func hash(_ buffer: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let length = buffer.count
        var offset = 0
        var h: UInt64

        if length >= 32 {
            var v1 = seed &+ prime1 &+ prime2
            var v2 = seed &+ prime2
            var v3 = seed
            var v4 = seed &- prime1
            let limit = length - 32
            repeat {
                v1 = round(v1, load64(buffer, offset))
                v2 = round(v2, load64(buffer, offset + 8))
                v3 = round(v3, load64(buffer, offset + 16))
                v4 = round(v4, load64(buffer, offset + 24))
                offset += 32
            } while offset <= limit
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = mergeRound(h, v1)
            h = mergeRound(h, v2)
            h = mergeRound(h, v3)
            h = mergeRound(h, v4)
        } else {
            h = seed &+ prime5
        }

        h &+= UInt64(truncatingIfNeeded: length)

        while offset + 8 <= length {
            h ^= round(0, load64(buffer, offset))
            h = rotl(h, 27) &* prime1 &+ prime4
            offset += 8
        }
        if offset + 4 <= length {
            let word = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            h ^= UInt64(word) &* prime1
            h = rotl(h, 23) &* prime2 &+ prime3
            offset += 4
        }
        while offset < length {
            h ^= UInt64(buffer[offset]) &* prime5
            h = rotl(h, 11) &* prime1
            offset += 1
        }

        h ^= h >> 33
        h &*= prime2
        h ^= h >> 29
        h &*= prime3
        h ^= h >> 32
        return h
    }

    /// Hashes the bytes of an array.
    ///
    /// - Parameters:
    ///   - bytes: The input bytes.
    ///   - seed: The seed; Strata uses 0 for placement.
    /// - Returns: The xxHash64 digest.
    /// - Complexity: O(`bytes.count`), no copy.
    @inlinable
    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    /// Hashes any sequence of bytes.
    ///
    /// Contiguous collections (`ArraySlice`, `ContiguousArray`, `UnsafeBufferPointer`,
    /// `Data`, …) are hashed in place; other sequences are copied into an array first.
    ///
    /// - Parameters:
    ///   - bytes: The input bytes.
    ///   - seed: The seed; Strata uses 0 for placement.
    /// - Returns: The xxHash64 digest.
    /// - Complexity: O(n) in the number of bytes.
    @inlinable
    public static func hash(_ bytes: some Sequence<UInt8>, seed: UInt64 = 0) -> UInt64 {
        if let digest = bytes.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0), seed: seed) }) {
            return digest
        }
        return hash(Array(bytes), seed: seed)
    }

    @inlinable @inline(__always)
    static func load64(_ buffer: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable @inline(__always)
    static func rotl(_ value: UInt64, _ count: UInt64) -> UInt64 {
        (value << count) | (value >> (64 &- count))
    }

    @inlinable @inline(__always)
    static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        rotl(accumulator &+ input &* prime2, 31) &* prime1
    }

    @inlinable @inline(__always)
    static func mergeRound(_ accumulator: UInt64, _ value: UInt64) -> UInt64 {
        (accumulator ^ round(0, value)) &* prime1 &+ prime4
    }
}


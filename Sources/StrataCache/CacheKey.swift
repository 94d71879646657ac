/// A cache key made of bytes, built for lookups in hot paths: the bytes are
/// hashed once, when the key is made (one block hash, not one step per byte),
/// and keys of up to 24 bytes are held inline, so making one allocates nothing
/// and comparing two reads no second object. Equal keys first agree on the
/// stored hash, so a lookup that probes other keys rarely compares bytes.
///
/// The hash is seeded per process (Swift's `Hasher`), so crafted keys cannot
/// aim at one bucket.
public struct CacheKey: Hashable, Sendable, CustomStringConvertible {
    /// The bytes' hash, computed once.
    private let hash: Int
    /// The number of bytes.
    public let count: Int
    /// The first 24 bytes, zero-padded.
    private let w0: UInt64
    private let w1: UInt64
    private let w2: UInt64
    /// The whole key when it is longer than 24 bytes.
    private let long: [UInt8]?

    /// The longest key held inline.
    public static let inlineCapacity = 24

    /// A key of `bytes`.
    public init(_ bytes: UnsafeRawBufferPointer) {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        hash = hasher.finalize()
        count = bytes.count
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &words) { inline in
            inline.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(Self.inlineCapacity)))
        }
        (w0, w1, w2) = words
        long = bytes.count > Self.inlineCapacity ? Array(bytes) : nil
    }

    /// A key of `bytes`.
    public init(_ bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { CacheKey($0) }
    }

    /// A key of the UTF-8 bytes of `string`.
    public init(_ string: String) {
        self.init(Array(string.utf8))
    }

    /// The key's bytes.
    public var bytes: [UInt8] {
        if let long { return long }
        var words = (w0, w1, w2)
        return withUnsafeBytes(of: &words) { Array($0.prefix(count)) }
    }

    /// Whether both keys hold the same bytes.
    public static func == (lhs: CacheKey, rhs: CacheKey) -> Bool {
        lhs.hash == rhs.hash && lhs.count == rhs.count && lhs.w0 == rhs.w0 && lhs.w1 == rhs.w1 && lhs.w2 == rhs.w2
            && lhs.long == rhs.long
    }

    /// Feeds the stored hash (the bytes are not hashed again).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
    }

    /// The bytes as text (UTF-8, invalid sequences replaced).
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

import Testing

@testable import StrataCache

@Suite("CacheKey")
struct CacheKeyTests {
    @Test("keys are equal exactly when their bytes are, at every length around the inline capacity")
    func equality() {
        for length in [0, 1, 7, 8, 16, 23, 24, 25, 40, 300] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let key = CacheKey(bytes)
            #expect(key == CacheKey(bytes))
            #expect(key.hashValue == CacheKey(bytes).hashValue)
            #expect(key.bytes == bytes)
            #expect(key.count == length)
            // One byte changed anywhere (inline part or beyond) makes another key.
            for position in Set([0, length / 2, length - 1]) where position >= 0 && position < length {
                var other = bytes
                other[position] ^= 0x5A
                #expect(CacheKey(other) != key)
            }
            // A trailing zero byte is not padding: "a" and "a\0" differ.
            #expect(CacheKey(bytes + [0]) != key)
        }
    }

    @Test("a dictionary keyed by CacheKey finds every key it holds and no other")
    func dictionary() {
        var map: [CacheKey: Int] = [:]
        for i in 0..<5000 { map[CacheKey("key:\(i)")] = i }
        for i in 0..<5000 { #expect(map[CacheKey("key:\(i)")] == i) }
        #expect(map[CacheKey("key:5000")] == nil)
        #expect(map[CacheKey(String(repeating: "x", count: 30) + "1")] == nil)
    }
}

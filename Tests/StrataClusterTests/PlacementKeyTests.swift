import Testing
import StrataCluster

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("Placement key")
struct PlacementKeyTests {
    @Test(
        "hash tags follow Redis Cluster",
        arguments: [
            ("{user1000}.following", "user1000"),
            ("{user1000}.followers", "user1000"),
            ("foo{}{bar}", "foo{}{bar}"),
            ("foo{{bar}}zap", "{bar"),
            ("foo{bar}{zap}", "bar"),
            ("nobraces", "nobraces"),
            ("open{only", "open{only"),
            ("close}only{", "close}only{"),
            ("}{x}", "x"),
            ("{}", "{}"),
            ("{a}", "a"),
            ("", ""),
        ])
    func hashtag(key: String, tag: String) {
        #expect(Array(PlacementKey.hashtag(bytes(key))) == bytes(tag))
    }

    @Test("hash tags are binary safe")
    func binaryHashtag() {
        let key: [UInt8] = [0x00, 0xFF, UInt8(ascii: "{"), 0x00, 0x7B, 0x80, UInt8(ascii: "}"), 0x00]
        #expect(Array(PlacementKey.hashtag(key)) == [0x00, 0x7B, 0x80])
        #expect(Array(PlacementKey.hashtag([0x00, 0x00])) == [0x00, 0x00])
    }

    @Test("the hash of key bytes in memory equals the hash of the key array and of its placement key")
    func rawHash() {
        for key in ["{user1000}.following", "foo{}{bar}", "plain", "", "{", "a{b}c"] {
            for placement in TenantPlacement.allCases {
                let array = PlacementKey.hash(tenant: bytes("acme"), key: bytes(key), placement: placement)
                let raw = bytes(key).withUnsafeBytes { PlacementKey.hash(tenant: bytes("acme"), key: $0, placement: placement) }
                #expect(raw == array)
                #expect(raw == XXHash64.hash(PlacementKey.bytes(tenant: bytes("acme"), key: bytes(key), placement: placement)))
            }
        }
    }

    @Test("placement key layout")
    func layout() {
        #expect(PlacementKey.bytes(tenant: bytes("acme"), key: bytes("{u1}.cart")) == bytes("acme") + [0] + bytes("u1"))
        #expect(PlacementKey.bytes(tenant: bytes("acme"), key: bytes("plain")) == bytes("acme") + [0] + bytes("plain"))
        #expect(PlacementKey.bytes(tenant: bytes("acme"), key: bytes("plain"), placement: .colocate) == bytes("acme") + [0])
        #expect(PlacementKey.bytes(tenant: [], key: []) == [0])
        let binaryTenant: [UInt8] = [0x00, 0x01]
        #expect(PlacementKey.bytes(tenant: binaryTenant, key: [0x00]) == [0x00, 0x01, 0x00, 0x00])
    }

    @Test("hash is xxHash64 of the placement key")
    func hash() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            let tenant = (0..<Int.random(in: 0...12, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let alphabet: [UInt8] = [0x00, 0x41, UInt8(ascii: "{"), UInt8(ascii: "}"), 0xFF]
            let key = (0..<Int.random(in: 0...20, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            for placement in TenantPlacement.allCases {
                let expected = XXHash64.hash(PlacementKey.bytes(tenant: tenant, key: key, placement: placement))
                #expect(PlacementKey.hash(tenant: tenant, key: key, placement: placement) == expected)
            }
        }
        #expect(PlacementKey.hash(tenant: [], key: []) == XXHash64.hash([UInt8(0)]))
    }

    @Test("colocated tenants hash on the tenant alone; tags colocate keys")
    func colocation() {
        let tenant = bytes("small")
        let colocated = Set(["a", "b", "{x}y", "zzz"].map { PlacementKey.hash(tenant: tenant, key: bytes($0), placement: .colocate) })
        #expect(colocated.count == 1)
        #expect(PlacementKey.hash(tenant: tenant, key: bytes("{u}1")) == PlacementKey.hash(tenant: tenant, key: bytes("{u}2")))
        #expect(PlacementKey.hash(tenant: tenant, key: bytes("a")) != PlacementKey.hash(tenant: tenant, key: bytes("b")))
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        #expect(PlacementKey.hash(tenant: bytes("ab"), key: bytes("c")) != PlacementKey.hash(tenant: bytes("a"), key: bytes("bc")))
    }
}

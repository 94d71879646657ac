import Testing
import StrataCluster

/// xxhsum's sanity buffer (`XSUM_fillTestBuffer` / `fillTestBuffer` in the reference):
/// a 64-bit generator that starts at PRIME32, emits its top byte and multiplies by PRIME64.
private func sanityBuffer(_ length: Int) -> [UInt8] {
    var generator: UInt64 = 2_654_435_761
    return (0..<length).map { _ in
        defer { generator &*= 11_400_714_785_074_694_797 }
        return UInt8(truncatingIfNeeded: generator >> 56)
    }
}

private let prime32: UInt64 = 2_654_435_761

/// (length, seed, expected) from the reference's `cli/xsum_sanity_check.c` and
/// `tests/sanity_test_vectors.h` (XSUM_XXH64_testdata), over the sanity buffer.
private let sanityVectors: [(length: Int, seed: UInt64, expected: UInt64)] = [
    (0, 0, 0xEF46_DB37_51D8_E999), (0, prime32, 0xAC75_FDA2_929B_17EF),
    (1, 0, 0xE934_A84A_DB05_2768), (1, prime32, 0x5014_6076_43A9_B4C3),
    (2, 0, 0x5D48_CD60_A77E_23FF),
    (3, 0, 0xFF7E_1959_CB50_794A), (3, prime32, 0xAA85_84E8_3660_F7D1),
    (4, 0, 0x9136_A0DC_A574_57EE), (4, prime32, 0xCAAB_286B_D8E9_FDB5),
    (8, 0, 0xCDBC_F538_E71D_1348), (8, prime32, 0xFE0C_047A_5353_CDAC),
    (9, 0, 0x554B_1AE9_91ED_A6B6),
    (14, 0, 0x8282_DCC4_994E_35C8), (14, prime32, 0xC3BD_6BF6_3DEB_6DF0),
    (16, 0, 0x98C9_0B57_FDFC_B55C), (16, prime32, 0xC900_AD2D_536B_607E),
    (17, 0, 0x0D39_A2D0_51A3_0C2C), (17, prime32, 0x495C_D68A_647C_7A22),
    (24, 0, 0xF75A_6DEA_42DC_5BF4), (24, prime32, 0x8B7C_67EB_5977_8E22),
    (32, 0, 0x18B2_1649_2BB4_4B70), (32, prime32, 0xB3F3_3BDF_93AD_E409),
    (64, 0, 0xEF55_8F8A_CAC2_B5CD),
    (128, 0, 0x90CA_0214_57D9_6DC5), (129, 0, 0x41C2_8013_2D69_7ABA),
    (222, 0, 0xB641_AE8C_B691_C174), (222, prime32, 0x20CB_8AB7_AE10_C14A),
    (240, 0, 0xB818_38D4_83BA_EE53), (241, 0, 0x95D7_6C8B_4D8F_C4D6),
    (403, 0, 0xD998_58FE_E822_83DF), (512, 0, 0x4358_D2FD_D62B_58A7),
    (2048, 0, 0x5940_F275_2BC0_4387),
    (2367, 0, 0xA824_18DD_EC0E_A581), (2367, prime32, 0xA36A_93C1_8052_673A),
    (4160, 0, 0xEEE6_A4E2_AC95_2A5E),
]

@Suite("XXHash64")
struct XXHash64Tests {
    @Test("sanity buffer starts as the reference's")
    func sanityBufferPrefix() {
        // 0x9E3779B1 >> 56 = 0; then (0x9E3779B1 * PRIME64) >> 56 …; checked against the
        // published length-1 vector below, this pins the generator itself.
        #expect(sanityBuffer(1) == [0])
        #expect(sanityBuffer(4160).count == 4160)
    }

    @Test("reference sanity vectors", arguments: sanityVectors.indices)
    func sanityVector(_ index: Int) {
        let vector = sanityVectors[index]
        let input = sanityBuffer(vector.length)
        #expect(XXHash64.hash(input, seed: vector.seed) == vector.expected, "length \(vector.length) seed \(vector.seed)")
    }

    @Test("string vectors")
    func stringVectors() {
        let sentence = Array("Nobody inspects the spammish repetition".utf8)
        let sequence = (0...255).map { UInt8($0) }
        #expect(XXHash64.hash([UInt8]()) == 0xEF46_DB37_51D8_E999)
        #expect(XXHash64.hash(Array("a".utf8)) == 0xD24E_C4F1_A98C_6E5B)
        #expect(XXHash64.hash(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
        #expect(XXHash64.hash(sentence) == 0xFBCE_A83C_8A37_8BF1)
        #expect(XXHash64.hash(sequence) == 0x1FAC_BE84_06CD_904B)
        #expect(XXHash64.hash(Array("abc".utf8), seed: 0x9E37_79B1) == 0x1318_DF30_094A_85FD)
        #expect(XXHash64.hash(sentence, seed: 0x9E37_79B1) == 0x56DB_22DD_5B05_1147)
        #expect(XXHash64.hash(sequence, seed: 0x9E37_79B1) == 0xD481_95F4_5908_996C)
        #expect(XXHash64.hash(Array("xxhash".utf8)) == 0x32DD_3895_2C4B_C720)
        #expect(XXHash64.hash(Array("xxhash".utf8), seed: 20_141_025) == 0xB559_B98D_844E_0635)
    }

    @Test("every input form gives the same digest, at every alignment")
    func inputForms() {
        let buffer = sanityBuffer(300)
        for length in [0, 1, 7, 8, 31, 32, 33, 63, 64, 65, 100] {
            for offset in 0..<8 {
                let slice = buffer[offset..<(offset + length)]
                let expected = XXHash64.hash(Array(slice), seed: 42)
                #expect(XXHash64.hash(slice, seed: 42) == expected)
                #expect(slice.withUnsafeBytes { XXHash64.hash($0, seed: 42) } == expected)
                #expect(XXHash64.hash(AnySequence(slice), seed: 42) == expected)
            }
        }
    }
}

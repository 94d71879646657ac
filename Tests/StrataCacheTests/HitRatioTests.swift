import Testing

@testable import StrataCache

@Suite("Eviction policy hit ratio")
struct HitRatioTests {
    @Test("S3-FIFO beats LRU by at least 5 points on Zipf 0.99 with the cache at 1 % of the keys, and resists scans")
    func beatsLRU() {
        let keys = 100_000
        let zipf = HitRatioSimulation.trace(keys: keys, theta: 0.99, accesses: 600_000)
        let s3 = HitRatioSimulation.hitRatio(.s3fifo, trace: zipf, capacity: keys / 100, warmUp: 100_000)
        let lru = HitRatioSimulation.hitRatio(.lru, trace: zipf, capacity: keys / 100, warmUp: 100_000)
        #expect(s3 - lru >= 0.05, "S3-FIFO \(s3), LRU \(lru)")
        let scanned = HitRatioSimulation.trace(keys: keys, theta: 0.99, accesses: 600_000, scanEvery: 4)
        let s3Scanned = HitRatioSimulation.hitRatio(.s3fifo, trace: scanned, capacity: keys / 100, warmUp: 100_000)
        let lruScanned = HitRatioSimulation.hitRatio(.lru, trace: scanned, capacity: keys / 100, warmUp: 100_000)
        #expect(s3Scanned > lruScanned + 0.05, "with scans: S3-FIFO \(s3Scanned), LRU \(lruScanned)")
    }

    @Test("the Zipf generator's most popular key gets its share")
    func zipfShape() {
        var zipf = HitRatioSimulation.Zipf(n: 1000, theta: 1.0, seed: 7)
        var first = 0
        for _ in 0..<100_000 where zipf.next() == 0 { first += 1 }
        // H(1000) ≈ 7.485: rank 0 has about 13.4 % of the accesses.
        #expect(first > 12_500 && first < 14_300, "\(first)")
    }
}

import Foundation
import Synchronization
import StrataCache
import Testing

@testable import StrataBench

/// A RESP server on 127.0.0.1 that answers every command at once, except that
/// it stalls every connection once, for `stall`, after `stallAfter` requests.
final class StallingServer: Sendable {
    let port: Int
    private let listener: Int32
    private let stallAfter: Int
    private let stall: Duration
    private let requests = Atomic<Int>(0)
    private let stalledUntil = Mutex<ContinuousClock.Instant?>(nil)

    init(stallAfter: Int, stall: Duration) throws {
        self.stallAfter = stallAfter
        self.stall = stall
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw CocoaError(.fileWriteUnknown) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        _ = bound
        Thread { [self] in
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                Thread { [self] in serve(connection) }.start()
            }
        }.start()
    }

    private func serve(_ connection: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            // One command per read: the bench keeps one request in flight per connection.
            if requests.add(1, ordering: .relaxed).newValue == stallAfter {
                stalledUntil.withLock { $0 = .now + stall }
            }
            if let until = stalledUntil.withLock({ $0 }), until > .now {
                Thread.sleep(forTimeInterval: Double((until - .now) / .microseconds(1)) / 1e6)
            }
            let reply = Array("$1\r\nv\r\n".utf8)
            _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        close(connection)
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}

@Suite("Benchmark runner")
struct CoordinatedOmissionTests {
    @Test("open loop corrects for coordinated omission: a server that stalls once shows in the corrected p99, not in the uncorrected one")
    func correctedLatency() async throws {
        let stall = Duration.milliseconds(500)
        let server = try StallingServer(stallAfter: 1500, stall: stall)
        defer { server.stop() }
        var settings = BenchSettings(workload: .c)
        settings.records = 1000
        settings.clients = 8
        settings.rate = 2000
        settings.warmUp = .milliseconds(200)
        settings.duration = .seconds(2)
        let target = try await RESPTarget(name: "stalling", host: "127.0.0.1", port: server.port, clients: 8)
        defer { target.close() }
        let result = try await BenchRunner(settings: settings, target: target).run()
        let uncorrected = try #require(result.uncorrected)
        let stallMicros = Double(stall / .microseconds(1))
        // During the stall requests kept being scheduled: a quarter of them waited up to half a second.
        #expect(result.latency.p99 > stallMicros / 2, "corrected p99 \(result.latency.p99) µs")
        // Measured from when each was sent, only the 8 requests in flight at the stall saw it (0.2 %).
        #expect(uncorrected.p99 < stallMicros / 5, "uncorrected p99 \(uncorrected.p99) µs")
        #expect(uncorrected.max > stallMicros / 2, "the stall itself is still the uncorrected maximum")
        #expect(result.mode == "open" && result.errors == 0)
        print("CO: corrected p99 \(Int(result.latency.p99)) µs, uncorrected p99 \(Int(uncorrected.p99)) µs, stall \(Int(stallMicros)) µs")
    }

    @Test("workload mixes add up and distributions stay in range")
    func workloads() {
        for workload in Workload.allCases {
            #expect(abs(workload.mix.reduce(0) { $0 + $1.1 } - 1) < 1e-9)
        }
        for distribution in [KeyDistribution.uniform, .latest, .zipfian(theta: 0.99), .hotspot(keys: 0.1, operations: 0.9)] {
            let table: HitRatioSimulation.Zipf? =
                switch distribution {
                case .zipfian, .latest: HitRatioSimulation.Zipf(n: 1000, theta: 0.99, seed: 1)
                default: nil
                }
            var chooser = KeyChooser(distribution: distribution, records: 1000, seed: 3, zipfTable: table)
            for _ in 0..<10_000 {
                let key = chooser.next(limit: 1000)
                #expect(key >= 0 && key < 1000)
            }
        }
        #expect(KeyDistribution(argument: "zipfian:1.2") == .zipfian(theta: 1.2))
        #expect(KeyDistribution(argument: "nope") == nil)
    }
}

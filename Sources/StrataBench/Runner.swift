import Foundation
import Histogram
import StrataCache
import Synchronization

/// One `strata bench` run's settings.
public struct BenchSettings: Sendable, Codable {
    /// The workload.
    public var workload: Workload
    /// How keys are drawn (the workload's default when `nil`).
    public var distribution: KeyDistribution?
    /// Records loaded before the run.
    public var records = 100_000
    /// Bytes per value.
    public var valueSize = 100
    /// Concurrent clients (closed loop) or request slots (open loop).
    public var clients = 16
    /// Measured time.
    public var duration: Duration = .seconds(10)
    /// Unmeasured time first.
    public var warmUp: Duration = .seconds(2)
    /// Open loop: requests per second, scheduled whatever the latency; `nil`: closed loop.
    public var rate: Double?
    /// Keys per scan (workload E).
    public var scanLength = 10
    /// Seed of the key streams.
    public var seed: UInt64 = 1

    /// Settings for `workload`, defaults otherwise.
    public init(workload: Workload) { self.workload = workload }

    enum CodingKeys: String, CodingKey { case workload, records, valueSize, clients, rate, scanLength, seed }
}

/// Latency percentiles, in microseconds.
public struct LatencySummary: Sendable, Codable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double
    public var count: UInt64

    init(_ histogram: Histogram<UInt64>) {
        func at(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1000 }
        p50 = at(50)
        p90 = at(90)
        p99 = at(99)
        p999 = at(99.9)
        max = Double(histogram.max) / 1000
        count = histogram.totalCount
    }
}

/// One run's outcome.
public struct BenchResult: Sendable, Codable {
    public var target: String
    public var workload: String
    public var distribution: String
    /// `closed` (N clients back to back) or `open` (fixed arrival rate).
    public var mode: String
    public var clients: Int
    public var rate: Double?
    public var seconds: Double
    public var operations: Int
    public var errors: Int
    public var throughput: Double
    /// Latency from the request's scheduled start (open loop: includes waiting behind a slow request;
    /// corrected for coordinated omission). Closed loop: from its start.
    public var latency: LatencySummary
    /// Open loop only: from the moment it was actually sent (what a closed-loop tool would report).
    public var uncorrected: LatencySummary?
}

/// Runs workloads against a target, closed or open loop, with HdrHistogram latencies.
public struct BenchRunner: Sendable {
    public let settings: BenchSettings
    public let target: any BenchTarget

    /// A runner of `settings` against `target`.
    public init(settings: BenchSettings, target: any BenchTarget) {
        self.settings = settings
        self.target = target
    }

    static func key(_ number: Int) -> String { "user\(number)" }

    /// Writes the `records` keys (all clients in parallel).
    public func load() async throws {
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: settings.valueSize)
        let clients = settings.clients
        let records = settings.records
        let target = self.target
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    for number in stride(from: client, to: records, by: clients) {
                        try await target.write(Self.key(number), value, client: client)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private final class Shared: Sendable {
        let inserted: Atomic<Int>
        let operations = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let measuring = Atomic<Bool>(false)
        init(records: Int) { inserted = Atomic(records) }
    }

    /// Runs the workload; `progress` gets a line about once a second.
    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> BenchResult {
        let settings = self.settings
        let target = self.target
        let distribution = settings.distribution ?? settings.workload.defaultDistribution
        var zipfTable: HitRatioSimulation.Zipf?
        switch distribution {
        case .zipfian(let theta): zipfTable = HitRatioSimulation.Zipf(n: settings.records, theta: theta, seed: settings.seed)
        case .latest: zipfTable = HitRatioSimulation.Zipf(n: settings.records, theta: 0.99, seed: settings.seed)
        default: break
        }
        let table = zipfTable
        let shared = Shared(records: settings.records)
        let started = ContinuousClock.now
        let measureFrom = started + settings.warmUp
        let end = measureFrom + settings.duration
        let value = [UInt8](repeating: UInt8(ascii: "w"), count: settings.valueSize)
        let mix = settings.workload.mix
        let open = settings.rate.map { max($0, 1) }

        let monitor = Task {
            var last = 0
            while !Task.isCancelled, ContinuousClock.now < end {
                try? await Task.sleep(for: .seconds(1))
                let now = shared.operations.load(ordering: .relaxed)
                let phase = ContinuousClock.now < measureFrom ? "warm-up" : "measuring"
                progress("\(target.name) \(settings.workload.rawValue): \(phase), \(now - last) ops/s, \(shared.errors.load(ordering: .relaxed)) errors")
                last = now
            }
        }
        defer { monitor.cancel() }

        let histograms = try await withThrowingTaskGroup(of: (Histogram<UInt64>, Histogram<UInt64>).self) { group in
            for client in 0..<settings.clients {
                group.addTask {
                    var chooser = KeyChooser(
                        distribution: distribution, records: settings.records, seed: settings.seed &+ UInt64(client) &* 7919,
                        zipfTable: table)
                    var corrected = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
                    var uncorrected = corrected
                    var slot = client
                    while true {
                        var scheduled = ContinuousClock.now
                        if let open {
                            // Open loop: this client's next slot, whatever happened to the previous request.
                            scheduled = started + .nanoseconds(Int64(Double(slot) / open * 1e9))
                            slot += settings.clients
                            if scheduled > ContinuousClock.now { try await Task.sleep(until: scheduled, clock: .continuous) }
                        }
                        if scheduled >= end { break }
                        let sent = ContinuousClock.now
                        do {
                            try await Self.operation(
                                mix: mix, chooser: &chooser, shared: shared, target: target, client: client, value: value,
                                scanLength: settings.scanLength)
                        } catch {
                            shared.errors.add(1, ordering: .relaxed)
                        }
                        let finished = ContinuousClock.now
                        shared.operations.add(1, ordering: .relaxed)
                        if scheduled >= measureFrom {
                            _ = corrected.record(UInt64(max(Int64((finished - scheduled) / .nanoseconds(1)), 0)))
                            _ = uncorrected.record(UInt64(max(Int64((finished - sent) / .nanoseconds(1)), 0)))
                        }
                        if open == nil, finished >= end { break }
                    }
                    return (corrected, uncorrected)
                }
            }
            var corrected = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
            var uncorrected = corrected
            for try await (c, u) in group {
                corrected.add(c)
                uncorrected.add(u)
            }
            return (corrected, uncorrected)
        }
        let seconds = Double(settings.duration / .milliseconds(1)) / 1000
        return BenchResult(
            target: target.name, workload: settings.workload.rawValue, distribution: "\(distribution)",
            mode: open == nil ? "closed" : "open", clients: settings.clients, rate: open, seconds: seconds,
            operations: Int(histograms.0.totalCount), errors: shared.errors.load(ordering: .relaxed),
            throughput: Double(histograms.0.totalCount) / seconds, latency: LatencySummary(histograms.0),
            uncorrected: open == nil ? nil : LatencySummary(histograms.1))
    }

    private static func operation(
        mix: [(Workload.Operation, Double)], chooser: inout KeyChooser, shared: Shared, target: any BenchTarget,
        client: Int, value: [UInt8], scanLength: Int
    ) async throws {
        var point = chooser.unit()
        var chosen = mix.last!.0
        for (operation, share) in mix {
            if point < share {
                chosen = operation
                break
            }
            point -= share
        }
        let limit = shared.inserted.load(ordering: .relaxed)
        switch chosen {
        case .read:
            try await target.read(key(chooser.next(limit: limit)), client: client)
        case .update:
            try await target.write(key(chooser.next(limit: limit)), value, client: client)
        case .insert:
            let number = shared.inserted.add(1, ordering: .relaxed).oldValue
            try await target.write(key(number), value, client: client)
        case .scan:
            let start = chooser.next(limit: limit)
            try await target.readMany((start..<min(start + scanLength, limit)).map(key), client: client)
        case .readModifyWrite:
            let key = key(chooser.next(limit: limit))
            try await target.read(key, client: client)
            try await target.write(key, value, client: client)
        }
    }
}

/// The Markdown table of results.
public enum BenchReport {
    /// One row per result.
    public static func markdown(_ results: [BenchResult]) -> String {
        var lines = [
            "| workload | target | mode | ops/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | errors |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in results {
            let l = r.latency
            lines.append(
                "| \(r.workload) | \(r.target) | \(r.mode)\(r.rate.map { " \(Int($0))/s" } ?? "") | \(Int(r.throughput)) | "
                    + "\(Int(l.p50)) | \(Int(l.p90)) | \(Int(l.p99)) | \(Int(l.p999)) | \(Int(l.max)) | \(r.errors) |")
        }
        return lines.joined(separator: "\n")
    }
}

import CoreMetrics
import Prometheus
import Synchronization

/// Values counted elsewhere (atomics on a hot path, a cache's statistics, a
/// map's state) brought into a swift-metrics registry when `/metrics` is
/// scraped: a counter is incremented by what its source gained since the
/// last scrape, a gauge set to the current value. Each series is listed
/// from its first scrape on, even at zero.
public final class ScrapedSeries: Sendable {
    private struct Series: Hashable {
        let label: String
        let dimensions: [String]
    }

    private let factory: PrometheusMetricsFactory
    /// What each counter's source stood at on the last scrape.
    private let exported = Mutex<[Series: Int64]>([:])
    private let fractions = Mutex<[Series: Double]>([:])

    /// Series recorded through `factory` (and so into its registry).
    public init(factory: PrometheusMetricsFactory) {
        self.factory = factory
    }

    /// Brings the counter `label{dimensions}` up to `total`, its source's running total.
    public func counter(_ label: String, _ dimensions: [(String, String)] = [], total: Int64) {
        let series = Series(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        let counter = CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
        exported.withLock { exported in
            let delta = total &- (exported[series] ?? 0)
            if delta > 0 { counter.increment(by: delta) }
            exported[series] = max(total, exported[series] ?? 0)
        }
    }

    /// Brings the counter `label{dimensions}` up to `total`, a running total in fractions (seconds).
    public func counter(_ label: String, _ dimensions: [(String, String)] = [], total: Double) {
        let series = Series(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        let counter = CoreMetrics.FloatingPointCounter(label: label, dimensions: dimensions, factory: factory)
        fractions.withLock { exported in
            let delta = total - (exported[series] ?? 0)
            if delta > 0 { counter.increment(by: delta) }
            exported[series] = max(total, exported[series] ?? 0)
        }
    }

    /// Sets the gauge `label{dimensions}` to `value`.
    public func gauge(_ label: String, _ dimensions: [(String, String)] = [], value: Double) {
        CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
    }
}

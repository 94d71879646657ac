import CoreMetrics
import Prometheus
import StrataCache
import StrataHTTP

/// The gateway's metrics, through swift-metrics into a swift-prometheus
/// registry of its own, rendered by `/metrics`:
///
/// - per tenant, from its cache's statistics at each scrape:
///   `strata_cache_hits_total`, `strata_cache_misses_total`,
///   `strata_cache_stale_served_total`, `strata_cache_coalesced_waits_total`,
///   `strata_cache_loads_total`, `strata_cache_load_failures_total`,
///   `strata_cache_evictions_total`, `strata_cache_bytes`, `strata_cache_entries`,
///   each `{tenant}`;
/// - per tenant, `strata_cache_load_duration_seconds{tenant}`: a histogram of
///   the loads from storage (a miss's wait, or a refresh in the background);
/// - the gateway's own counters: `strata_gateway_commands_total`,
///   `strata_gateway_served_from_memory_total`, `strata_gateway_writes_total`,
///   `strata_gateway_feed_changes_total`, `strata_gateway_feed_gaps_total`,
///   and the gauge `strata_gateway_connections`.
final class GatewayMetrics: Sendable {
    /// The registry `/metrics` renders.
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let scraped: ScrapedSeries

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["strata_cache_load_duration_seconds"] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
        ]
        self.factory = factory
        scraped = ScrapedSeries(factory: factory)
    }

    /// The load-latency histogram of the tenant named `tenant`.
    func loadDuration(tenant: String) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: "strata_cache_load_duration_seconds", dimensions: [("tenant", tenant)], factory: factory)
    }

    /// The Prometheus text of every series, after copying the caches' statistics and `stats`.
    func prometheusText(routes: [TenantRoute], stats: GatewayStats) -> String {
        for route in routes {
            let cache = route.cache.statistics
            let tenant = [("tenant", route.name)]
            let counters: [(String, Int)] = [
                ("strata_cache_hits_total", cache.hits), ("strata_cache_misses_total", cache.misses),
                ("strata_cache_stale_served_total", cache.staleServed),
                ("strata_cache_coalesced_waits_total", cache.coalescedWaits),
                ("strata_cache_loads_total", cache.loads), ("strata_cache_load_failures_total", cache.loadFailures),
                ("strata_cache_evictions_total", cache.evictions),
            ]
            for (label, total) in counters { scraped.counter(label, tenant, total: Int64(total)) }
            scraped.gauge("strata_cache_bytes", tenant, value: Double(cache.bytes))
            scraped.gauge("strata_cache_entries", tenant, value: Double(cache.entries))
        }
        let counters: [(String, Int)] = [
            ("strata_gateway_commands_total", stats.commands.load(ordering: .relaxed)),
            ("strata_gateway_served_from_memory_total", stats.servedFromMemory.load(ordering: .relaxed)),
            ("strata_gateway_writes_total", stats.writes.load(ordering: .relaxed)),
            ("strata_gateway_feed_changes_total", stats.feedChanges.load(ordering: .relaxed)),
            ("strata_gateway_feed_gaps_total", stats.feedGaps.load(ordering: .relaxed)),
        ]
        for (label, total) in counters { scraped.counter(label, total: Int64(total)) }
        scraped.gauge("strata_gateway_connections", value: Double(stats.connections.load(ordering: .relaxed)))
        return registry.emitToString()
    }
}

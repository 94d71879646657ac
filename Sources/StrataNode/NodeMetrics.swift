import CoreMetrics
import Prometheus
import StrataCluster
import StrataHTTP
import Synchronization

/// The node's metrics, recorded through swift-metrics into a swift-prometheus
/// registry of its own (no process-wide bootstrap, so tests can run several
/// nodes in one process) that `/metrics` renders:
///
/// - per shard: `strata_shard_operations_total{shard,class="read"|"write"}`
///   (keys read here; keys stored by commits here, as primary or replica: a
///   key written twice in one write group, or in one replica fetch, counts once),
///   `strata_shard_write_bytes_total{shard}` (the bytes of the keys and
///   records those commits stored),
///   and at each scrape `strata_shard_primary{shard}` (1 where this node
///   leads it), `strata_shard_sequence{shard}` (its last applied sequence
///   number) and `strata_shard_replication_lag_entries{shard}` (as primary,
///   the furthest follower's distance; as replica, its own) and
///   `strata_shard_replication_lag_seconds{shard}` (as replica, how long it
///   has been behind its primary; 0 on the primary);
/// - per tenant: `strata_tenant_commands_total`, `strata_tenant_errors_total`,
///   `strata_tenant_request_bytes_total` (argument bytes) and
///   `strata_tenant_reply_bytes_total`, each `{tenant}`;
/// - `strata_batch_duration_seconds{class="read"|"blocking"|"write"}`: a
///   histogram of the time from a batch's arrival at the command layer to its
///   replies, by the batch's class: reads memory may answer (on the event
///   loop, or the storage pool when they need the disk), other blocking
///   commands (scans, AUTH, …), and batches with a write (the writer);
/// - the writer: `strata_writer_group_writes` (a histogram of the writes,
///   client and replicated, in each write group) and
///   `strata_writer_commit_seconds` (a histogram of each group's RocksDB
///   commit time) and `strata_writer_queue_delay_seconds` (a histogram of how
///   long the oldest work of each group waited for the writer);
/// - `strata_rocksdb_stall_seconds_total`: how long RocksDB has held writes
///   back (its write controller's slowdowns and stops), read at each scrape;
/// - the node-wide `NodeStats` counters, copied at each scrape.
final class NodeMetrics: Sendable {
    /// The registry `/metrics` renders.
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    /// Series of the shards held at start, by shard id, read without a lock on the hot path.
    private let dense: [ShardSeries?]
    /// Series of shards that arrived later (made on first use).
    private let sparse = Mutex<[ShardID: ShardSeries]>([:])
    private let tenants = Mutex<[[UInt8]: TenantSeries]>([:])
    /// The node-wide counters and the shard gauges, brought up to date at each scrape.
    private let scraped: ScrapedSeries
    /// Writes per write group.
    let groupWrites: CoreMetrics.Recorder
    /// Each write group's commit time.
    let commitTime: CoreMetrics.Timer
    /// How long the oldest work of each write group waited in the writer's queue.
    let queueDelay: CoreMetrics.Timer
    /// Batch latency by the batch's class (see `batchDuration`).
    private let readBatches: CoreMetrics.Timer
    private let blockingBatches: CoreMetrics.Timer
    private let writeBatches: CoreMetrics.Timer

    /// Metrics with series made up front for `shards` (the ones the node holds at start).
    init(shards: [ShardID] = []) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["strata_batch_duration_seconds"] = [
            .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        factory.valueHistogramBuckets["strata_writer_group_writes"] = (0...12).map { Double(1 << $0) }
        factory.durationHistogramBuckets["strata_writer_commit_seconds"] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        factory.durationHistogramBuckets["strata_writer_queue_delay_seconds"] =
            factory.durationHistogramBuckets["strata_writer_commit_seconds"]
        self.factory = factory
        scraped = ScrapedSeries(factory: factory)
        groupWrites = CoreMetrics.Recorder(label: "strata_writer_group_writes", factory: factory)
        commitTime = CoreMetrics.Timer(label: "strata_writer_commit_seconds", factory: factory)
        queueDelay = CoreMetrics.Timer(label: "strata_writer_queue_delay_seconds", factory: factory)
        func batches(_ name: String) -> CoreMetrics.Timer {
            CoreMetrics.Timer(label: "strata_batch_duration_seconds", dimensions: [("class", name)], factory: factory)
        }
        readBatches = batches("read")
        blockingBatches = batches("blocking")
        writeBatches = batches("write")
        var dense = [ShardSeries?](repeating: nil, count: Int(shards.map(\.rawValue).max().map { $0 + 1 } ?? 0))
        for shard in shards { dense[Int(shard.rawValue)] = ShardSeries(shard, factory: factory) }
        self.dense = dense
    }

    /// One shard's operation counters.
    final class ShardSeries: Sendable {
        let reads: CoreMetrics.Counter
        let writes: CoreMetrics.Counter
        let writeBytes: CoreMetrics.Counter

        init(_ shard: ShardID, factory: PrometheusMetricsFactory) {
            let id = String(shard.rawValue)
            writeBytes = CoreMetrics.Counter(label: "strata_shard_write_bytes_total", dimensions: [("shard", id)], factory: factory)
            reads = CoreMetrics.Counter(label: "strata_shard_operations_total", dimensions: [("shard", id), ("class", "read")], factory: factory)
            writes = CoreMetrics.Counter(label: "strata_shard_operations_total", dimensions: [("shard", id), ("class", "write")], factory: factory)
        }
    }

    /// One tenant's counters.
    final class TenantSeries: Sendable {
        let commands: CoreMetrics.Counter
        let errors: CoreMetrics.Counter
        let requestBytes: CoreMetrics.Counter
        let replyBytes: CoreMetrics.Counter

        init(_ name: String, factory: PrometheusMetricsFactory) {
            commands = CoreMetrics.Counter(label: "strata_tenant_commands_total", dimensions: [("tenant", name)], factory: factory)
            errors = CoreMetrics.Counter(label: "strata_tenant_errors_total", dimensions: [("tenant", name)], factory: factory)
            requestBytes = CoreMetrics.Counter(label: "strata_tenant_request_bytes_total", dimensions: [("tenant", name)], factory: factory)
            replyBytes = CoreMetrics.Counter(label: "strata_tenant_reply_bytes_total", dimensions: [("tenant", name)], factory: factory)
        }
    }

    /// The latency histogram of batches of `kind`.
    func batchDuration(_ kind: CommandExecutor.BatchKind) -> CoreMetrics.Timer {
        switch kind {
        case .inlineRead: readBatches
        case .blocking: blockingBatches
        case .write: writeBatches
        }
    }

    /// Records the time since `started` in `timer`.
    static func record(_ timer: CoreMetrics.Timer, since started: ContinuousClock.Instant) {
        timer.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
    }

    /// The series of `shard`.
    func shard(_ shard: ShardID) -> ShardSeries {
        let index = Int(shard.rawValue)
        if index < dense.count, let series = dense[index] { return series }
        return sparse.withLock { sparse in
            if let series = sparse[shard] { return series }
            let series = ShardSeries(shard, factory: factory)
            sparse[shard] = series
            return series
        }
    }

    /// The series of the tenant named `name` (tenants come from cluster.json, so they are few).
    func tenant(_ name: [UInt8]) -> TenantSeries {
        tenants.withLock { tenants in
            if let series = tenants[name] { return series }
            let series = TenantSeries(String(decoding: name, as: UTF8.self), factory: factory)
            tenants[name] = series
            return series
        }
    }

    /// One local shard's state at a scrape.
    struct ShardState {
        let shard: ShardID
        let isPrimary: Bool
        let sequence: UInt64
        let lagEntries: UInt64
        /// As a replica, how long it has been behind its primary (`ReplicationProgress.replicaLag`); 0 on the primary.
        let lagSeconds: Double
    }

    /// The Prometheus text of every series, after recording the shards' state, copying `stats`, RocksDB's
    /// `stall` time and the copies in progress (`strata_copy_shards`, `strata_copy_remaining_bytes`: with
    /// `strata_copy_bytes_total`'s rate, a move's ETA).
    func prometheusText(stats: NodeStats, shards: [ShardState], stall: Duration?, copies: [ShardID: CopyProgress.Shard] = [:]) -> String {
        scraped.gauge("strata_copy_shards", value: Double(copies.count))
        scraped.gauge(
            "strata_copy_remaining_bytes",
            value: Double(copies.values.reduce(0) { $0 + max(($1.total?.bytes ?? $1.bytes) - $1.bytes, 0) }))
        if let stall { scraped.counter("strata_rocksdb_stall_seconds_total", total: stall / .seconds(1)) }
        for state in shards {
            let dimensions = [("shard", String(state.shard.rawValue))]
            scraped.gauge("strata_shard_primary", dimensions, value: state.isPrimary ? 1 : 0)
            scraped.gauge("strata_shard_sequence", dimensions, value: Double(state.sequence))
            scraped.gauge("strata_shard_replication_lag_entries", dimensions, value: Double(state.lagEntries))
            scraped.gauge("strata_shard_replication_lag_seconds", dimensions, value: state.lagSeconds)
        }
        for (name, value) in stats.counters { scraped.counter(name, total: Int64(clamping: value)) }
        scraped.gauge("strata_connected_clients", value: Double(stats.connectedClients.current))
        return registry.emitToString()
    }
}

extension CommandExecutor {
    /// The state of each shard this node holds, for a scrape.
    func shardStates() -> [NodeMetrics.ShardState] {
        let topology = topologyBox.current
        return topology.localShards.map { shard in
            let sequence = keyspace.lastVersion(of: shard) ?? 0
            let assignment = topology.map.shard(shard)
            let isPrimary = assignment?.primary == topology.localNode
            let lag: UInt64
            var lagSeconds = 0.0
            if isPrimary {
                let positions = progress.positions(of: shard)
                let followers = assignment?.replicas.dropFirst() ?? []
                lag = followers.map { sequence - min(positions[$0] ?? 0, sequence) }.max() ?? 0
            } else {
                let primaryLast = progress.primaryLast(of: shard) ?? sequence
                lag = primaryLast - min(sequence, primaryLast)
                lagSeconds = progress.replicaLag(of: shard) / .seconds(1)
            }
            return .init(shard: shard, isPrimary: isPrimary, sequence: sequence, lagEntries: lag, lagSeconds: lagSeconds)
        }
    }
}

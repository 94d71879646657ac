/// When RocksDB's write-ahead log reaches the disk, relative to a write returning.
public enum WALSyncPolicy: Sendable, Equatable {
    /// No fsync: a write returns once it is in the WAL's OS buffers. A crashed
    /// process loses nothing it acknowledged; a crashed machine may lose the last writes.
    case noSync
    /// Every write is fsynced before it returns. RocksDB merges writers that
    /// arrive together into one fsync.
    case everyWrite
    /// A write returns only after an fsync that covers it, but writers arriving
    /// within `window` share one fsync: fewer syncs under concurrent load, at
    /// the cost of up to `window` of extra latency per write.
    case groupCommit(window: Duration)
}

/// The block compression RocksDB applies to SST files.
public enum Compression: Sendable, Equatable {
    /// No compression.
    case none
    /// zstd (Strata's default: best ratio for its CPU cost on values of this kind).
    case zstd
    /// LZ4: faster, compresses less.
    case lz4
}

/// Options for one column family.
public struct ColumnFamilyOptions: Sendable, Equatable {
    /// The column family's name (`"default"` always exists).
    public var name: String
    /// Whether values in this family are record envelopes (`Record`) whose
    /// expired entries compaction drops.
    public var dropsExpiredRecords: Bool
    /// Block compression of every level of this family, or `nil` for the
    /// database's (`StorageOptions.compression` at the bottom, `upperLevelCompression` above).
    public var compression: Compression?
    /// How many level-0 files wait before a compaction merges them into
    /// level 1, or `nil` for RocksDB's 4. The write slowdown and stop
    /// triggers move up with it (RocksDB's 20 and 36 are 16 and 32 above its
    /// 4), so a later compaction does not stall writes sooner. A larger
    /// trigger suits a family whose every flush overlaps all of level 1: each
    /// compaction rewrites level 1 once for more new data.
    public var level0CompactionTrigger: Int?

    /// Creates column family options.
    public init(
        name: String, dropsExpiredRecords: Bool = false, compression: Compression? = nil,
        level0CompactionTrigger: Int? = nil
    ) {
        self.name = name
        self.dropsExpiredRecords = dropsExpiredRecords
        self.compression = compression
        self.level0CompactionTrigger = level0CompactionTrigger
    }
}

/// How to open a `Database`.
public struct StorageOptions: Sendable, Equatable {
    /// Create the database (and missing column families) when absent.
    public var createIfMissing: Bool = true
    /// Block compression of the bottommost level, where most data rests.
    public var compression: Compression = .zstd
    /// Block compression of memtable flushes and every other level: data
    /// there is rewritten soon, so fast LZ4 by default (RocksDB's tuning
    /// advice), which costs a fraction of zstd's CPU. Ignored (no
    /// compression anywhere) when `compression` is `.none`.
    public var upperLevelCompression: Compression = .lz4
    /// Size of the shared LRU block cache in bytes.
    public var blockCacheBytes: Int = 64 << 20
    /// Size of one memtable in bytes before it is flushed.
    public var writeBufferBytes: Int = 64 << 20
    /// When writes reach the disk.
    public var walSync: WALSyncPolicy = .noSync
    /// Background flush and compaction threads.
    public var backgroundJobs: Int = 2
    /// Column families besides `"default"`; listing `"default"` sets its options.
    public var columnFamilies: [ColumnFamilyOptions] = []

    /// Default options: create if missing, zstd at rest (LZ4 above), 64 MiB block cache and memtable, no fsync.
    public init() {}
}

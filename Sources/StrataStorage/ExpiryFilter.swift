import CRocksDB
import Foundation

/// A RocksDB compaction filter that drops record envelopes whose expiry has passed.
func makeExpiryCompactionFilter() -> OpaquePointer {
    rocksdb_compactionfilter_create(
        nil,
        { _ in },
        { _, _, _, _, value, valueLength, _, _, _ in
            guard let value else { return 0 }
            let bytes = UnsafeRawBufferPointer(start: value, count: valueLength)
            guard let expiresAt = Record.expiry(ofEncoded: bytes) else { return 0 }
            return expiresAt <= Record.nowMilliseconds() ? 1 : 0
        },
        { _ in expiryFilterName }
    )!
}

// Immutable pointer to static, NUL-terminated text.
private nonisolated(unsafe) let expiryFilterName: UnsafePointer<CChar> = {
    let name: StaticString = "strata.expiry"
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}()

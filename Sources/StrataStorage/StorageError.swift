import CRocksDB

/// An error from the storage engine: a code to match on and RocksDB's own message.
public struct StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kind of failure, extensible without breaking `switch`es that use `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// An I/O failure reported by RocksDB (disk full, lock file held, permission).
        public static let io = Code(name: "io")
        /// RocksDB found corrupt data on disk.
        public static let corruption = Code(name: "corruption")
        /// RocksDB rejected an argument or an option.
        public static let invalidArgument = Code(name: "invalidArgument")
        /// The operation is not supported by this RocksDB build.
        public static let notSupported = Code(name: "notSupported")
        /// Another process holds the database, or a resource is busy.
        public static let busy = Code(name: "busy")
        /// The database was closed before this call.
        public static let closed = Code(name: "closed")
        /// A stored value is not in a format this version understands.
        public static let badFormat = Code(name: "badFormat")
        /// A key part is out of the record format's bounds (for example a tenant over 255 bytes).
        public static let keyTooLong = Code(name: "keyTooLong")
        /// Any other RocksDB status.
        public static let other = Code(name: "other")
        /// The code's name.
        public var description: String { name }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable message, including RocksDB's own text where there is one.
    public var message: String

    /// Creates an error with a code and a message.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }

    /// Classifies a RocksDB status string ("IO error: …", "Corruption: …", …).
    static func fromRocksDB(operation: String, status: String) -> StorageError {
        let code: Code
        if status.hasPrefix("Corruption") {
            code = .corruption
        } else if status.hasPrefix("Invalid argument") {
            code = .invalidArgument
        } else if status.hasPrefix("Not implemented") || status.hasPrefix("Not supported") {
            code = .notSupported
        } else if status.contains("lock") || status.hasPrefix("Resource busy") || status.hasPrefix("Busy") {
            code = .busy
        } else if status.hasPrefix("IO error") {
            code = .io
        } else {
            code = .other
        }
        return StorageError(code: code, message: "\(operation): \(status)")
    }
}

/// Runs `body` with a fresh RocksDB error slot (never a shared one) and turns a
/// reported error into a `StorageError`, freeing RocksDB's message string.
@inline(__always)
func rocksCall<T>(
    _ operation: @autoclosure () -> String,
    _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> T
) throws(StorageError) -> T {
    var errorMessage: UnsafeMutablePointer<CChar>? = nil
    let result = body(&errorMessage)
    if let errorMessage {
        let status = String(cString: errorMessage)
        rocksdb_free(errorMessage)
        throw StorageError.fromRocksDB(operation: operation(), status: status)
    }
    return result
}

/// Views a byte array as the `const char*` + length pair RocksDB takes.
@inline(__always)
func withCBytes<T>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>?, Int) throws(StorageError) -> T) throws(StorageError) -> T {
    try bytes.withUnsafeBufferPointer { (buffer) throws(StorageError) -> T in
        let pointer = UnsafeRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: CChar.self)
        return try body(pointer, buffer.count)
    }
}

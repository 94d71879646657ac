import NIOCore
import StrataWire

/// Writes RESP replies into a buffer in the connection's protocol version.
struct Reply {
    var buffer: ByteBuffer
    var version: RESPVersion

    mutating func ok() { RESPEncoder.writeOK(into: &buffer) }
    mutating func simple(_ text: String) { RESPEncoder.writeSimpleString(text, into: &buffer) }
    mutating func error(_ message: String) { RESPEncoder.writeError(message, into: &buffer) }
    mutating func integer(_ value: Int64) { RESPEncoder.writeInteger(value, into: &buffer) }
    mutating func bulk(_ bytes: [UInt8]) { RESPEncoder.writeBulkString(bytes, into: &buffer) }
    mutating func bulk(_ bytes: UnsafeRawBufferPointer) { RESPEncoder.writeBulkString(bytes, into: &buffer) }
    mutating func bulk(_ bytes: ByteBuffer) { RESPEncoder.writeBulkString(bytes, into: &buffer) }
    mutating func bulk(_ text: String) { RESPEncoder.writeBulkString(text, into: &buffer) }
    mutating func null() { RESPEncoder.writeNull(version: version, into: &buffer) }
    /// The null array (`*-1` in RESP2): EXEC's answer when a watched key changed.
    mutating func nullArray() { RESPEncoder.writeNullArray(version: version, into: &buffer) }
    mutating func arrayHeader(_ count: Int) { RESPEncoder.writeArrayHeader(count: count, into: &buffer) }
    mutating func mapHeader(_ count: Int) { RESPEncoder.writeMapHeader(count: count, version: version, into: &buffer) }
    mutating func setHeader(_ count: Int) { RESPEncoder.writeSetHeader(count: count, version: version, into: &buffer) }
    /// Any value, in this reply's protocol version.
    mutating func value(_ value: RESPValue) { value.encode(into: &buffer, version: version) }

    mutating func bulkOrNull(_ bytes: [UInt8]?) {
        if let bytes { bulk(bytes) } else { null() }
    }
}

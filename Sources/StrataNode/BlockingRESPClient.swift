import Foundation
import NIOCore
import StrataWire
#if canImport(Glibc)
import Glibc
#endif

/// A small blocking RESP client over TCP for control-plane calls (heartbeats,
/// `strata status`): one request at a time, with a receive timeout. Not for
/// data-plane traffic.
public final class BlockingRESPClient {
    private let fd: Int32
    private var decoder = RESPDecoder(limits: RESPLimits(maxBulkLength: 256 << 20, maxElementCount: 1 << 20, maxDepth: 8, maxInlineLength: 1 << 16))
    private var buffer = ByteBuffer()

    /// An error connecting or talking to the server.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    /// Connects to `host:port` (an IPv4 address or `localhost`).
    public init(host: String, port: Int, timeout: Duration = .seconds(2)) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
        // On a throw below, deinit closes `fd` (every stored property is set): closing it here
        // too would close whatever another thread opened under the same number meanwhile.
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
            throw Failure(description: "\(host) is not an IPv4 address")
        }
        let seconds = Int(timeout.components.seconds)
        var interval = timeval(tv_sec: seconds, tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let code = errno
            throw Failure(description: "cannot connect to \(host):\(port): \(String(cString: strerror(code)))")
        }
    }

    deinit { close(fd) }

    /// Sends a command and waits for its reply.
    public func call(_ arguments: [String]) throws -> RESPValue {
        var out = ByteBuffer()
        RESPEncoder.writeArrayHeader(count: arguments.count, into: &out)
        for argument in arguments { RESPEncoder.writeBulkString(argument, into: &out) }
        let bytes = Array(out.readableBytesView)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            sent += n
        }
        return try read()
    }

    /// Reads the next reply (or pushed message).
    public func read() throws -> RESPValue {
        while true {
            if let value = try decoder.decode(&buffer) { return value }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { throw Failure(description: "connection closed by the server") }
            guard n > 0 else { throw Failure(description: "receive failed: errno \(errno)") }
            buffer.writeBytes(chunk[0..<n])
        }
    }
}

import Foundation
import NIOCore
import StrataWire
#if canImport(Glibc)
import Glibc
#endif

/// A blocking RESP client over a real TCP socket, for integration tests.
final class RESPTestClient {
    private let fd: Int32
    private var decoder = RESPDecoder(limits: RESPLimits(maxBulkLength: 512 << 20, maxElementCount: 10_000_000, maxDepth: 8, maxInlineLength: 1 << 20))
    private var buffer = ByteBuffer()

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(port: Int, host: String = "127.0.0.1", receiveTimeout: Duration = .seconds(10)) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // On a throw, deinit closes `fd`; closing it here too could close another thread's socket.
        guard result == 0 else {
            throw Failure(description: "connect to \(host):\(port) failed: errno \(errno)")
        }
        let parts = receiveTimeout.components
        var timeout = timeval(tv_sec: Int(parts.seconds), tv_usec: Int(parts.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Reads until the peer closes the connection.
    func readToEnd() throws -> [UInt8] {
        var all = Array(buffer.readableBytesView)
        buffer.clear()
        while true {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return all }
            guard n > 0 else { throw Failure(description: "recv failed: errno \(errno)") }
            all += chunk[0..<n]
        }
    }

    /// Sends raw bytes.
    func send(raw bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            sent += n
        }
    }

    /// Sends one command as a RESP array of bulk strings.
    func send(_ arguments: [[UInt8]]) throws {
        try send(pipeline: [arguments])
    }

    /// Sends commands in one write, each a RESP array of bulk strings (a pipeline).
    func send(pipeline commands: [[[UInt8]]]) throws {
        var out = ByteBuffer()
        for arguments in commands {
            RESPEncoder.writeArrayHeader(count: arguments.count, into: &out)
            for argument in arguments { RESPEncoder.writeBulkString(argument, into: &out) }
        }
        try send(raw: Array(out.readableBytesView))
    }

    /// Sends text commands in one write (a pipeline).
    func send(pipeline commands: [[String]]) throws {
        try send(pipeline: commands.map { $0.map { Array($0.utf8) } })
    }

    /// Reads one reply; `nil` when the server closed the connection.
    func read() throws -> RESPValue? {
        while true {
            if let value = try decoder.decode(&buffer) { return value }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return nil }
            guard n > 0 else { throw Failure(description: "recv failed: errno \(errno)") }
            buffer.writeBytes(chunk[0..<n])
        }
    }

    /// Sends a command and reads its reply.
    @discardableResult
    func call(_ arguments: String...) throws -> RESPValue {
        try call(arguments.map { Array($0.utf8) })
    }

    /// Sends a binary command and reads its reply.
    @discardableResult
    func call(_ arguments: [[UInt8]]) throws -> RESPValue {
        try send(arguments)
        guard let reply = try read() else { throw Failure(description: "connection closed") }
        return reply
    }
}

extension RESPValue {
    /// The text of a bulk or simple string, or of an error.
    var text: String? {
        switch self {
        case .bulkString(let b), .simpleString(let b), .error(let b), .bulkError(let b), .verbatimString(_, let b):
            return String(decoding: b.readableBytesView, as: UTF8.self)
        default: return nil
        }
    }

    var int: Int64? {
        if case .integer(let v) = self { return v }
        return nil
    }

    var isError: Bool {
        switch self {
        case .error, .bulkError: return true
        default: return false
        }
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    var elements: [RESPValue]? {
        switch self {
        case .array(let a), .set(let a), .push(let a): return a
        default: return nil
        }
    }
}

/// A plain HTTP/1.1 GET over a socket (Foundation on Linux has no URL loading without FoundationNetworking).
func httpGet(port: Int, path: String) throws -> String {
    let client = try RESPTestClient(port: port)
    try client.send(raw: Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
    return String(decoding: try client.readToEnd(), as: UTF8.self)
}

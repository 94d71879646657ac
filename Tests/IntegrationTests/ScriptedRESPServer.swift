import Foundation
import NIOCore
import StrataWire
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A RESP server on 127.0.0.1 whose replies a test scripts: each command
/// (its arguments as text) goes to `reply`, which returns the raw RESP bytes
/// to answer. For driving a client into situations real servers reach only
/// in a race, such as two nodes whose maps disagree.
final class ScriptedRESPServer: Sendable {
    let port: Int
    private let listener: Int32
    private let reply: @Sendable ([String]) -> String
    private let sockets = Mutex<[Int32]>([])
    private let running = Atomic<Bool>(true)

    init(reply: @escaping @Sendable ([String]) -> String) throws {
        self.reply = reply
        port = NodeProcess.freePort()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            close(listener)
            throw RESPTestClient.Failure(description: "scripted server cannot listen on \(port)")
        }
        Thread { [self] in acceptLoop() }.start()
    }

    /// `+OK`.
    static let ok = "+OK\r\n"

    /// A bulk string reply.
    static func bulk(_ text: String) -> String { "$\(text.utf8.count)\r\n\(text)\r\n" }

    /// Stops accepting and closes every connection.
    func stop() {
        running.store(false, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in sockets.withLock({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while running.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            sockets.withLock { $0.append(client) }
            Thread { [self] in serve(client) }.start()
        }
    }

    private func serve(_ fd: Int32) {
        var decoder = RESPDecoder(limits: .default)
        var input = ByteBuffer()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            input.writeBytes(chunk[0..<n])
            var out = ""
            while let value = try? decoder.decode(&input) {
                guard case .array(let items) = value else { break }
                out += reply(items.map { $0.text ?? "" })
            }
            let bytes = Array(out.utf8)
            guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { break }
        }
        shutdown(fd, Int32(SHUT_RDWR))
    }
}

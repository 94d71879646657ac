import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on 127.0.0.1 in front of a node, for fault tests: it can delay
/// every reply chunk, or drop (close the connection instead of forwarding) the
/// next reply chunks a predicate picks.
final class TestProxy: Sendable {
    let port: Int
    private let target: Int
    private let listener: Int32
    private let delay = Mutex<Duration>(.zero)
    private let drops = Mutex<(remaining: Int, match: @Sendable ([UInt8]) -> Bool)>((0, { _ in false }))
    private let sockets = Mutex<[Int32]>([])
    private let running = Atomic<Bool>(true)
    /// Replies dropped so far.
    let dropped = Atomic<Int>(0)

    init(target: Int) throws {
        self.target = target
        port = NodeProcess.freePort()
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.address(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            close(listener)
            throw RESPTestClient.Failure(description: "proxy cannot listen on \(port)")
        }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Delays each reply chunk by `duration` from now on.
    func setDelay(_ duration: Duration) { delay.withLock { $0 = duration } }

    /// Drops the next `count` reply chunks for which `match` holds, closing their connection instead.
    func dropReplies(_ count: Int, where match: @escaping @Sendable ([UInt8]) -> Bool) {
        drops.withLock { $0 = (count, match) }
    }

    /// Stops accepting and closes every connection.
    func stop() {
        running.store(false, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in sockets.withLock({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private static func address(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while running.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.address(target)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(client)
                close(server)
                continue
            }
            sockets.withLock { $0 += [client, server] }
            Thread { [self] in pump(from: client, to: server, replies: false) }.start()
            Thread { [self] in pump(from: server, to: client, replies: true) }.start()
        }
    }

    private func pump(from source: Int32, to destination: Int32, replies: Bool) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            let bytes = Array(chunk[0..<n])
            if replies {
                let pause = delay.withLock { $0 }
                if pause > .zero { Thread.sleep(forTimeInterval: Double(pause / .microseconds(1)) / 1_000_000) }
                let drop = drops.withLock { state -> Bool in
                    guard state.remaining > 0, state.match(bytes) else { return false }
                    state.remaining -= 1
                    return true
                }
                if drop {
                    dropped.add(1, ordering: .relaxed)
                    break
                }
            }
            var sent = 0
            while sent < n {
                let written = bytes[sent...].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard written > 0 else { break }
                sent += written
            }
            if sent < n { break }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(destination, Int32(SHUT_RDWR))
    }
}

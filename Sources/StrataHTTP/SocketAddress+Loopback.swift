import NIOCore

extension SocketAddress {
    /// Whether a peer at this address is on this machine: 127.0.0.0/8, ::1, an
    /// IPv4-mapped loopback address, or a Unix domain socket. The servers use it
    /// for cluster.json's `defaultTenant: loopback`.
    public var isLoopback: Bool {
        switch self {
        case .v4: return ipAddress?.hasPrefix("127.") ?? false
        case .v6: return ipAddress == "::1" || (ipAddress?.hasPrefix("::ffff:127.") ?? false)
        default: return true
        }
    }
}

extension SocketAddress {
    /// `host:port`, as `CLIENT INFO` shows addresses (`unix` for a Unix socket).
    public var endpoint: String {
        guard let ipAddress, let port else { return "unix" }
        return "\(ipAddress):\(port)"
    }
}

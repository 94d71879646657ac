import Foundation
import StrataCluster
import StrataServer
import StrataStorage

/// Static facts about the running node, and the INFO renderer.
struct ServerInfo: Sendable {
    let runID: String
    let host: String
    let port: Int
    let startedAt: Date
    let dataDir: String
    let configValues: [(String, String)]

    init(host: String, port: Int, dataDir: String, maxClients: Int, idleTimeoutSeconds: Int) {
        runID = (0..<40).map { _ in String("0123456789abcdef".randomElement()!) }.joined()
        self.host = host
        self.port = port
        self.startedAt = Date()
        self.dataDir = dataDir
        configValues = [
            ("save", ""),
            ("appendonly", "no"),
            ("maxclients", String(maxClients)),
            ("timeout", String(idleTimeoutSeconds)),
            ("databases", "1"),
            ("port", String(port)),
            ("bind", host),
            ("dir", dataDir),
        ]
    }

    func render(
        sections: [String], stats: NodeStats, topology: NodeTopology, keyspace: Keyspace,
        progress: ReplicationProgress, tenant: TenantContext?, keyCount: Int?, health: NodeHealth? = nil
    ) -> String {
        let all = ["server", "clients", "stats", "keyspace", "replication"]
        let wanted = sections.isEmpty || sections.contains("all") || sections.contains("everything") || sections.contains("default")
            ? all : sections
        var out = ""
        for section in all where wanted.contains(section) {
            switch section {
            case "server":
                out += "# Server\r\n"
                for (field, value) in ServerIdentity.infoVersionFields { out += "\(field):\(value)\r\n" }
                out += "redis_mode:\(topology.map.nodes.count > 1 ? "cluster" : "standalone")\r\n"
                out += "process_id:\(getpid())\r\nrun_id:\(runID)\r\ntcp_port:\(port)\r\nnode_id:\(topology.localNode)\r\n"
                out += "uptime_in_seconds:\(Int(Date().timeIntervalSince(startedAt)))\r\ndata_dir:\(dataDir)\r\n"
                if let health {
                    // The same verdict as /health and /ready.
                    out += "health:\(health.healthText.dropLast())\r\nready:\(health.isReady ? 1 : 0)\r\n"
                }
                out += "\r\n"
            case "clients":
                out += "# Clients\r\nconnected_clients:\(stats.connectedClients.current)\r\n\r\n"
            case "stats":
                out += "# Stats\r\ntotal_connections_received:\(stats.connectionsAccepted.current)\r\n"
                out += "total_commands_processed:\(stats.commands.current)\r\nrejected_connections:\(stats.connectionsRejected.current)\r\n"
                out += "keyspace_hits:\(stats.readHits.current)\r\nkeyspace_misses:\(stats.reads.current - stats.readHits.current)\r\n"
                out += "record_cache_hits:\(keyspace.cache.hits.current)\r\nrecord_cache_misses:\(keyspace.cache.misses.current)\r\n"
                out += "total_writes:\(stats.writes.current)\r\ntotal_error_replies:\(stats.errors.current)\r\n"
                out += "auth_failures:\(stats.authFailures.current)\r\nprotocol_errors:\(stats.protocolErrors.current)\r\n\r\n"
            case "keyspace":
                out += "# Keyspace\r\n"
                if let keyCount, keyCount > 0 {
                    out += "db0:keys=\(keyCount),expires=0,avg_ttl=0\r\n"
                }
                out += "\r\n"
            case "replication":
                let local = topology.localShards
                let primaries = topology.localPrimaryRanges.count
                out += "# Replication\r\nrole:master\r\nshards_primary:\(primaries)\r\nshards_replica:\(local.count - primaries)\r\n"
                // Per shard: role, epoch, offset (last sequence number here), and
                // as primary each follower's offset and lag; as replica the lag behind the primary.
                for shard in local {
                    guard let assignment = topology.map.shard(shard) else { continue }
                    let offset = keyspace.lastVersion(of: shard) ?? 0
                    var line = "shard\(shard.rawValue):epoch=\(assignment.epoch),offset=\(offset)"
                    if assignment.primary == topology.localNode {
                        line += ",role=primary"
                        let positions = progress.positions(of: shard)
                        for follower in assignment.replicas.dropFirst() {
                            let position = positions[follower] ?? 0
                            line += ",\(follower)=\(position):lag=\(offset > position ? offset - position : 0)"
                            line += assignment.inSync.contains(follower) ? ":in_sync" : ":catching_up"
                        }
                    } else {
                        let primaryLast = progress.primaryLast(of: shard) ?? offset
                        line += ",role=replica,primary=\(assignment.primary.map(\.rawValue) ?? "none")"
                        line += ",lag=\(primaryLast > offset ? primaryLast - offset : 0)"
                        line += assignment.inSync.contains(topology.localNode) ? ",in_sync=1" : ",in_sync=0"
                    }
                    out += line + "\r\n"
                }
                out += "\r\n"
            default: break
            }
        }
        return out
    }
}

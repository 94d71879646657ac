import NIOCore
import StrataCluster

/// The coordinator's map pushes, followed: one connection sends `CLUSTER
/// SUBSCRIBE` and hands each map it receives (the first at once, then one after
/// every change) to `install`; after a failure it reconnects after a pause that
/// doubles from 50 ms up to `maxPause`. Returns when its task is cancelled.
/// The client's `ClusterView` and a node's coordinator link both follow the map this way.
public enum MapPushes {
    /// Follows the pushes of the coordinator at `host:port` until cancelled.
    public static func follow(
        host: String, port: Int, group: EventLoopGroup, timeout: Duration, maxPause: Duration,
        install: @Sendable (ClusterMap) -> Void
    ) async {
        var pause: Duration = .milliseconds(50)
        while !Task.isCancelled {
            do {
                let connection = try await RESPConnection.connect(
                    host: host, port: port, node: "coordinator", group: group, timeout: timeout)
                defer { connection.close() }
                let first = try await connection.send(
                    [ByteBuffer(string: "CLUSTER"), ByteBuffer(string: "SUBSCRIBE")], deadline: .now + timeout)
                install(try ClusterView.decodeMap(first))
                pause = .milliseconds(50)
                try await withTaskCancellationHandler {
                    while !Task.isCancelled {
                        install(try ClusterView.decodeMap(try await connection.receive(deadline: .now + .seconds(86_400))))
                    }
                } onCancel: {
                    connection.close()
                }
            } catch {
                if Task.isCancelled { return }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, maxPause)
            }
        }
    }
}

import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server for `/metrics` (Prometheus text) and `/health`.
public enum MetricsHTTPServer {
    /// Binds on `host:port` and serves until the returned channel is closed.
    public static func bind(
        group: EventLoopGroup, host: String, port: Int,
        metrics: @escaping @Sendable () -> String,
        extraRoutes: @escaping @Sendable (String) -> (status: HTTPResponseStatus, contentType: String, body: String)? = { _ in nil }
    ) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics, extraRoutes: extraRoutes))
                }
            }
            .bind(host: host, port: port).get()
    }
}

/// Answers one HTTP/1.1 request at a time from the routes of `MetricsHTTPServer`.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: @Sendable () -> String
    private let extraRoutes: @Sendable (String) -> (status: HTTPResponseStatus, contentType: String, body: String)?
    private var path = "/"
    private var keepAlive = true

    init(metrics: @escaping @Sendable () -> String, extraRoutes: @escaping @Sendable (String) -> (status: HTTPResponseStatus, contentType: String, body: String)?) {
        self.metrics = metrics
        self.extraRoutes = extraRoutes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = String(head.uri.split(separator: "?").first ?? "/")
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            let (status, contentType, body): (HTTPResponseStatus, String, String)
            if let route = extraRoutes(path) {
                (status, contentType, body) = route
            } else {
                switch path {
                case "/metrics": (status, contentType, body) = (.ok, "text/plain; version=0.0.4", metrics())
                case "/health": (status, contentType, body) = (.ok, "text/plain", "ok\n")
                default: (status, contentType, body) = (.notFound, "text/plain", "not found\n")
                }
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let keepAlive = self.keepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}

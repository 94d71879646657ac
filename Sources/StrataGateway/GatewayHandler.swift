import NIOCore
import StrataCache
import StrataClient
import StrataWire

/// One client connection to the gateway. Commands are decoded in order; those
/// memory can answer (fresh cached reads, connection commands) are answered on
/// the event loop at once, so a pipeline of cached GETs never leaves it; the
/// first one that needs storage runs as a task, and the connection waits for
/// it before going on, so replies keep request order.
final class GatewayHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let gateway: GatewayCore
    private var decoder: RESPCommandDecoder
    /// Input not yet answered; reading stops while more than 4 MiB of it waits.
    private var input = RESPInputBuffer(highWater: 4 << 20)
    private var route: TenantRoute?
    private var clientName: [UInt8]?
    private let clientID: Int
    private var inFlight = false
    private var closing = false

    init(gateway: GatewayCore, clientID: Int, route: TenantRoute?) {
        self.gateway = gateway
        self.clientID = clientID
        self.route = route
        decoder = RESPCommandDecoder(limits: route == nil ? .unauthenticated : .default)
    }

    func channelActive(context: ChannelHandlerContext) {
        gateway.stats.connections.add(1, ordering: .relaxed)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        gateway.stats.connections.subtract(1, ordering: .relaxed)
        closing = true
        context.fireChannelInactive()
    }

    /// Replies gathered before they are handed to the socket.
    private static let outputChunk = 256 << 10

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if input.append(&bytes) { context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in } }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        process(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { process(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        closing = true
        context.close(promise: nil)
    }

    private func process(context: ChannelHandlerContext) {
        guard !inFlight, !closing, context.channel.isWritable, var buffer = input.bytes else { return }
        var out = context.channel.allocator.buffer(capacity: 256)
        // Counted once per batch: shared atomics are costly per command on a busy loop.
        var commands = 0
        var servedInline = 0
        defer {
            if input.keep(buffer) { context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in } }
            if out.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(out), promise: nil) }
            gateway.stats.commands.add(commands, ordering: .relaxed)
            gateway.stats.servedInline.add(servedInline, ordering: .relaxed)
        }
        while true {
            if out.readableBytes >= Self.outputChunk {
                // A long pipeline: hand the replies so far to the socket, and stop while it is full
                // (channelWritabilityChanged resumes), so memory stays bounded.
                context.writeAndFlush(wrapOutboundOut(out), promise: nil)
                out = context.channel.allocator.buffer(capacity: 256)
                guard context.channel.isWritable else { return }
            }
            // The hot path: a GET of a fresh cached key, answered from the input bytes in place.
            if let route, let get = decoder.nextGet(in: buffer),
                let fresh = buffer.withUnsafeReadableBytes({ route.cache.fresh(CacheKey(UnsafeRawBufferPointer(rebasing: $0[get.key]))) })
            {
                buffer.moveReaderIndex(forwardBy: get.consumed)
                commands += 1
                servedInline += 1
                if let value = fresh.value {
                    RESPEncoder.writeBulkString(value, into: &out)
                } else {
                    RESPEncoder.writeNull(version: .resp2, into: &out)
                }
                continue
            }
            let command: RESPCommand
            do {
                guard let next = try decoder.decode(&buffer) else { return }
                command = next
            } catch {
                RESPEncoder.writeError(error.redisErrorMessage, into: &out)
                closing = true
                let reply = out
                out.clear()
                context.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                return
            }
            guard !command.arguments.isEmpty else { continue }
            commands += 1
            let arguments = command.arguments.map { Array($0.readableBytesView) }
            let name = String(decoding: arguments[0], as: UTF8.self).uppercased()
            if let reply = syncReply(name, arguments) {
                reply.encode(into: &out, version: .resp2)
                if name == "QUIT" {
                    closing = true
                    let final = out
                    out.clear()
                    context.writeAndFlush(wrapOutboundOut(final)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                    return
                }
                continue
            }
            guard let route else {
                RESPValue.errorMessage("NOAUTH Authentication required.").encode(into: &out, version: .resp2)
                continue
            }
            // Needs storage: run it as a task; resume this connection when it answers.
            inFlight = true
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let stats = gateway.stats
            let loop = context.eventLoop
            Task {
                let reply = await GatewayCommands.run(name, arguments, route: route, stats: stats)
                loop.execute {
                    let (handler, context) = bound.value
                    handler.inFlight = false
                    guard !handler.closing else { return }
                    var out = context.channel.allocator.buffer(capacity: 64)
                    reply.encode(into: &out, version: .resp2)
                    context.writeAndFlush(handler.wrapOutboundOut(out), promise: nil)
                    handler.process(context: context)
                }
            }
            return
        }
    }

    /// The reply to a command memory can answer now, or `nil` when it needs storage.
    private func syncReply(_ name: String, _ arguments: [[UInt8]]) -> RESPValue? {
        switch name {
        case "PING":
            return arguments.count > 1 ? .bulk(arguments[1]) : .simple("PONG")
        case "ECHO":
            return arguments.count == 2 ? .bulk(arguments[1]) : .errorMessage("ERR wrong number of arguments for 'echo' command")
        case "QUIT":
            return .simple("OK")
        case "AUTH":
            guard arguments.count == 3 else {
                return .errorMessage("ERR AUTH takes a tenant and its secret")
            }
            let tenant = String(decoding: arguments[1], as: UTF8.self)
            do {
                guard let route = try gateway.tenants.route(tenant: tenant, secret: String(decoding: arguments[2], as: UTF8.self)) else {
                    return .errorMessage("WRONGPASS invalid tenant or secret")
                }
                self.route = route
                decoder.limits = .default
                return .simple("OK")
            } catch {
                return .errorMessage("ERR cannot serve tenant \(tenant): \(error)")
            }
        case "HELLO":
            if arguments.count >= 2, String(decoding: arguments[1], as: UTF8.self) != "2" {
                return .errorMessage("NOPROTO this gateway speaks RESP2")
            }
            return .array([
                .bulk("server"), .bulk("strata-cache"), .bulk("proto"), .integer(2), .bulk("id"), .integer(Int64(clientID)),
                .bulk("mode"), .bulk("cache"),
            ])
        case "SELECT":
            return arguments.count == 2 && arguments[1] == Array("0".utf8) ? .simple("OK") : .errorMessage("ERR DB index is out of range")
        case "CLIENT":
            let sub = arguments.count > 1 ? String(decoding: arguments[1], as: UTF8.self).uppercased() : ""
            switch sub {
            case "SETNAME" where arguments.count == 3:
                clientName = arguments[2]
                return .simple("OK")
            case "GETNAME": return clientName.map { .bulk($0) } ?? .null
            case "ID": return .integer(Int64(clientID))
            default: return .errorMessage("ERR CLIENT takes SETNAME, GETNAME or ID here")
            }
        case "COMMAND":
            return .array([])
        case "CONFIG":
            // Enough for redis-benchmark and redis-cli: nothing to report.
            return .array([])
        case "INFO":
            return .bulk(gateway.info(section: arguments.count > 1 ? String(decoding: arguments[1], as: UTF8.self) : nil))
        case "GET":
            guard arguments.count == 2, let route, let fresh = route.cache.fresh(CacheKey(arguments[1])) else { return nil }
            gateway.stats.servedInline.add(1, ordering: .relaxed)
            return fresh.value.map { .bulk($0) } ?? .null
        case "GETVER":
            guard arguments.count == 2, let route, let fresh = route.cache.fresh(CacheKey(arguments[1])) else { return nil }
            gateway.stats.servedInline.add(1, ordering: .relaxed)
            return fresh.value.map { .array([.bulk($0), .integer(Int64(bitPattern: fresh.version))]) } ?? .null
        default:
            return nil
        }
    }
}

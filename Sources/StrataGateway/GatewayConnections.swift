import NIOCore
import StrataCache
import StrataServer
import StrataWire

/// The gateway behind its connections' `RESPServerHandler`. A batch's
/// commands run in order: those memory can answer (connection commands,
/// fresh cached reads) at once on the event loop; from the first that needs
/// storage on, the rest of the batch runs in a task, and the connection
/// waits for it, so replies keep request order.
final class GatewayConnections: RESPServer {
    typealias Session = GatewaySession

    let gateway: GatewayCore

    init(gateway: GatewayCore) {
        self.gateway = gateway
    }

    func execute(_ batch: [RESPCommand], session: GatewaySession, connection: Channel) -> BatchResult<GatewaySession> {
        let eventLoop = connection.eventLoop
        let allocator = connection.allocator
        let parsed = batch.map { CommandTable.gateway.parse($0) }
        var session = session
        var out = allocator.buffer(capacity: 64 * parsed.count)
        gateway.stats.commands.add(parsed.count, ordering: .relaxed)
        for index in parsed.indices {
            if session.client.closeAfterReply { return .done(out, session) }
            switch GatewayCommands.answerNow(parsed[index], session: &session, gateway: gateway) {
            case .reply(let reply):
                reply.encode(into: &out, version: session.client.protocolVersion)
            case .storage(let command):
                let promise = eventLoop.makePromise(of: (ByteBuffer, GatewaySession).self)
                let rest = parsed[(index + 1)...]
                let first = parsed[index]
                let gateway = self.gateway
                let (start, prefix) = (session, out)
                promise.completeWithTask {
                    var session = start
                    var out = prefix
                    var reply = await GatewayCommands.run(first, command, session: &session, gateway: gateway)
                    reply.encode(into: &out, version: session.client.protocolVersion)
                    for parsed in rest {
                        if session.client.closeAfterReply { break }
                        switch GatewayCommands.answerNow(parsed, session: &session, gateway: gateway) {
                        case .reply(let answer): reply = answer
                        case .storage(let command): reply = await GatewayCommands.run(parsed, command, session: &session, gateway: gateway)
                        }
                        reply.encode(into: &out, version: session.client.protocolVersion)
                    }
                    return (out, session)
                }
                return .later(promise.futureResult)
            }
        }
        return .done(out, session)
    }

    /// The hot path: `GET`s of fresh cached keys at the head of the input,
    /// answered from the input bytes in place (no command is built).
    func answerInPlace(_ input: inout ByteBuffer, session: GatewaySession, into out: inout ByteBuffer) {
        guard let route = session.route, session.client.transaction == nil else { return }
        let decoder = RESPCommandDecoder(limits: .default)
        var answered = 0
        while out.readableBytes < 256 << 10, let get = decoder.nextGet(in: input),
            let fresh = input.withUnsafeReadableBytes({ route.cache.fresh(CacheKey(UnsafeRawBufferPointer(rebasing: $0[get.key]))) })
        {
            input.moveReaderIndex(forwardBy: get.consumed)
            answered += 1
            if let value = fresh.value {
                RESPEncoder.writeBulkString(value, into: &out)
            } else {
                RESPEncoder.writeNull(version: session.client.protocolVersion, into: &out)
            }
        }
        if answered > 0 {
            gateway.stats.commands.add(answered, ordering: .relaxed)
            gateway.stats.servedFromMemory.add(answered, ordering: .relaxed)
        }
    }

    func connectionCountChanged(by delta: Int) {
        gateway.stats.connections.add(delta, ordering: .relaxed)
    }
}

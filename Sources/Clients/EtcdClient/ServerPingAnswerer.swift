public import NIOCore

/// Answers the server's HTTP/2 PING frames itself, before NIO's HTTP/2 handler sees them.
///
/// Why: grpc-go servers (etcd) estimate bandwidth-delay product by sending a PING for data they
/// receive when none is outstanding — with small requests, one per request. swift-nio-http2 counts
/// inbound PINGs as control frames and, by default, closes the connection after 200 in 30 s
/// (`ExcessiveControlFrames`, a denial-of-service heuristic meant for servers), and
/// grpc-swift-nio-transport does not let a client raise that limit. A Swift client sending a few
/// hundred requests per second to etcd would lose its connection every few seconds. This
/// handler sits between the socket and the HTTP/2 handler (plaintext connections), reads the
/// frame headers going by, answers each PING that asks for an answer with its ACK (as RFC 9113
/// §6.7 requires), and passes every other byte through unchanged. PING ACKs (answers to the
/// client's own keepalive pings) pass through.
public final class ServerPingAnswerer: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Bytes of the current frame still to pass through untouched.
    private var passing = 0
    /// A frame header (or a whole PING) being gathered across reads.
    private var gathering = ByteBuffer()
    /// How many PINGs this handler answered (for tests).
    public private(set) var answered = 0

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        while input.readableBytes > 0 {
            if passing > 0 {
                let n = min(passing, input.readableBytes)
                context.fireChannelRead(wrapInboundOut(input.readSlice(length: n)!))
                passing -= n
                continue
            }
            // At a frame boundary: gather the 9-byte header (and a PING's 8-byte payload).
            let want = gathering.readableBytes < 9 ? 9 : 17
            var piece = input.readSlice(length: min(want - gathering.readableBytes, input.readableBytes))!
            gathering.writeBuffer(&piece)
            guard gathering.readableBytes >= 9 else { return }
            let view = gathering.readableBytesView
            let start = view.startIndex
            let length = Int(view[start]) << 16 | Int(view[start + 1]) << 8 | Int(view[start + 2])
            let type = view[start + 3]
            let flags = view[start + 4]
            let isPingToAnswer = type == 0x6 && flags & 0x1 == 0 && length == 8
            if isPingToAnswer {
                guard gathering.readableBytes == 17 else { continue }
                var ack = context.channel.allocator.buffer(capacity: 17)
                ack.writeBytes([0, 0, 8, 0x6, 0x1, 0, 0, 0, 0])
                ack.writeBytes(gathering.readableBytesView.dropFirst(9))
                context.writeAndFlush(wrapOutboundOut(ack), promise: nil)
                answered += 1
                gathering.clear()
            } else {
                // Pass the header on, then the payload as it comes.
                context.fireChannelRead(wrapInboundOut(gathering))
                gathering = ByteBuffer()
                passing = length
            }
        }
    }

    /// For `HTTP2ClientTransport.Posix.Config.channelDebuggingCallbacks.onCreateTCPConnection`:
    /// puts the answerer next to the socket.
    @Sendable public static func install(on channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ServerPingAnswerer(), position: .first)
        }
    }
}

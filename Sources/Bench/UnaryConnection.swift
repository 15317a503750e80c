import Foundation
public import NIOCore
public import NIOHPACK
import NIOHTTP2
public import NIOPosix
import EtcdClient

/// A gRPC status other than OK, as the server sent it in its trailers.
public struct GRPCStatusError: Error, CustomStringConvertible, Equatable {
    public var code: Int
    public var message: String

    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "rpc error: code = \(Self.name(code)) desc = \(message)" }

    static func name(_ code: Int) -> String {
        let names = ["OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
                     "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
                     "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"]
        return code >= 0 && code < names.count ? names[code] : "Code(\(code))"
    }
}

/// One HTTP/2 connection that makes unary gRPC calls with as little work per call as it can:
/// the benchmark's request path. Each call is one stream: HEADERS, one DATA frame with the
/// length-prefixed message and END_STREAM; the answer is HEADERS, DATA, and trailers with
/// `grpc-status`. The frames go straight to NIO's HTTP/2 handler (no stream channels, tasks or
/// async sequences per call), writes are flushed once per event-loop turn, and the answer's
/// bytes are handed back undecoded. Measured: grpc-swift-2's client cost about 100–125 µs of CPU
/// per unary call here, so that `capstan bench` was the bottleneck at about 8,000 calls/s.
///
/// No reconnection: a call on a closed connection fails (a benchmark counts it as an error).
public final class UnaryConnection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<UnaryCallHandler>
    let authority: String

    /// Connects to `host:port` (plaintext HTTP/2, prior knowledge, as gRPC does).
    public static func connect(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> UnaryConnection {
        // The pipeline is built before the connection reads anything: the server's SETTINGS
        // may arrive at once (a grpc-swift server sends them without waiting).
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var connection = NIOHTTP2Handler.ConnectionConfiguration()
                    // Large windows: answers of any size up to 16 MiB need no stream WINDOW_UPDATE.
                    connection.initialSettings = [
                        HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
                        HTTP2Setting(parameter: .initialWindowSize, value: 16 << 20),
                        HTTP2Setting(parameter: .maxFrameSize, value: 1 << 20),
                        HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 16),
                        HTTP2Setting(parameter: .enablePush, value: 0),
                    ]
                    let sync = channel.pipeline.syncOperations
                    // etcd (grpc-go) sends a PING per burst of data it receives (bandwidth probes):
                    // answered before NIO's HTTP/2 handler, which would close the connection over them.
                    try sync.addHandler(ServerPingAnswerer())
                    try sync.addHandler(NIOHTTP2Handler(mode: .client, connectionConfiguration: connection))
                    try sync.addHandler(UnaryCallHandler())
                }
            }
            .connect(host: host, port: port).get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: UnaryCallHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return UnaryConnection(channel: channel, handler: handler, authority: "\(host):\(port)")
    }

    init(channel: any Channel, handler: NIOLoopBound<UnaryCallHandler>, authority: String) {
        self.channel = channel
        self.handler = handler
        self.authority = authority
    }

    /// The request headers for a method (`/package.Service/Method`), built once per method.
    public func headers(path: String) -> HPACKHeaders {
        HPACKHeaders([(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", authority),
                      ("content-type", "application/grpc"), ("te", "trailers")])
    }

    /// Calls a unary method with a serialized request; returns the serialized answer.
    public func call(_ headers: HPACKHeaders, _ message: [UInt8]) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8], any Error>) in
            let handler = handler
            channel.eventLoop.execute { handler.value.start(headers, message, c) }
        }
    }

    /// Opens a bidirectional stream: `messages` are sent at once (the stream stays open), and
    /// `onMessage` is called on the connection's event loop with each answer's bytes, in order,
    /// without copying them out of the frames; `onEnd` once when the stream ends (nil: status OK).
    /// Cancel the stream with `cancel(stream:)`.
    public func openStream(_ headers: HPACKHeaders, messages: [[UInt8]],
                           onMessage: @escaping @Sendable (UnsafeRawBufferPointer) -> Void,
                           onEnd: @escaping @Sendable ((any Error)?) -> Void) async throws -> Int {
        try await channel.eventLoop.submit { [handler] in
            try handler.value.openStream(headers, messages, onMessage: onMessage, onEnd: onEnd)
        }.get()
    }

    /// Sends one more message on a stream opened with `openStream`.
    public func send(stream: Int, _ message: [UInt8]) {
        let handler = handler
        channel.eventLoop.execute { handler.value.send(HTTP2StreamID(stream), message) }
    }

    /// Cancels a stream opened with `openStream` (RST_STREAM CANCEL); its `onEnd` is not called.
    public func cancel(stream: Int) async {
        try? await channel.eventLoop.submit { [handler] in handler.value.cancel(HTTP2StreamID(stream)) }.get()
    }

    public func close() async {
        try? await channel.close()
    }
}

/// The calls on one connection, on its event loop.
final class UnaryCallHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    struct Call {
        var continuation: CheckedContinuation<[UInt8], any Error>
        var body = ByteBuffer()
    }

    /// A long-lived stream: its messages are cut out of the DATA frames as they arrive.
    struct Stream {
        var onMessage: @Sendable (UnsafeRawBufferPointer) -> Void
        var onEnd: @Sendable ((any Error)?) -> Void
        /// Bytes of a message cut by a frame boundary.
        var partial = ByteBuffer()
        /// DATA bytes not yet given back to this stream's window.
        var unacknowledged = 0
    }

    private var context: ChannelHandlerContext?
    private var calls: [HTTP2StreamID: Call] = [:]
    private var streams: [HTTP2StreamID: Stream] = [:]
    private var nextStream = 1
    private var flushPending = false
    private var closed: (any Error)?
    /// DATA bytes received and not yet given back to the connection window.
    private var unacknowledged = 0

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        // (After the HTTP/2 handler has sent the preface.) The connection window to match the streams': 16 MiB (it starts at 64 KiB).
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: (16 << 20) - 65_535))), promise: nil)
    }

    /// Starts a new stream with its request headers; throws when the connection is closed.
    private func newStream(_ headers: HPACKHeaders) throws -> (HTTP2StreamID, ChannelHandlerContext) {
        guard let context, closed == nil, nextStream < Int(Int32.max) - 2 else {
            throw closed ?? GRPCStatusError(code: 14, message: "connection closed")
        }
        let id = HTTP2StreamID(nextStream)
        nextStream += 2
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers)))), promise: nil)
        return (id, context)
    }

    func start(_ headers: HPACKHeaders, _ message: [UInt8], _ c: CheckedContinuation<[UInt8], any Error>) {
        do {
            let (id, context) = try newStream(headers)
            calls[id] = Call(continuation: c)
            write([message], on: id, end: true, context: context)
        } catch {
            c.resume(throwing: error)
        }
    }

    func openStream(_ headers: HPACKHeaders, _ messages: [[UInt8]], onMessage: @escaping @Sendable (UnsafeRawBufferPointer) -> Void,
                    onEnd: @escaping @Sendable ((any Error)?) -> Void) throws -> Int {
        let (id, context) = try newStream(headers)
        streams[id] = Stream(onMessage: onMessage, onEnd: onEnd)
        write(messages, on: id, end: false, context: context)
        return Int(id)
    }

    func send(_ id: HTTP2StreamID, _ message: [UInt8]) {
        guard streams[id] != nil, let context else { return }
        write([message], on: id, end: false, context: context)
    }

    func cancel(_ id: HTTP2StreamID) {
        guard streams.removeValue(forKey: id) != nil, let context else { return }
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.cancel))), promise: nil)
    }

    /// Writes length-prefixed messages as one DATA frame; the flush comes once per loop turn.
    private func write(_ messages: [[UInt8]], on id: HTTP2StreamID, end: Bool, context: ChannelHandlerContext) {
        // An empty DATA frame without END_STREAM is refused by NIO's HTTP/2 servers (a DoS
        // heuristic): a stream opened with nothing to say sends its HEADERS alone.
        if messages.isEmpty && !end {
            scheduleFlush(context)
            return
        }
        var body = context.channel.allocator.buffer(capacity: messages.reduce(0) { $0 + 5 + $1.count })
        for message in messages {
            body.writeInteger(UInt8(0))
            body.writeInteger(UInt32(message.count))
            body.writeBytes(message)
        }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(body), endStream: end)))), promise: nil)
        scheduleFlush(context)
    }

    /// One flush per event-loop turn, however many calls wrote in it.
    private func scheduleFlush(_ context: ChannelHandlerContext) {
        guard !flushPending else { return }
        flushPending = true
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute { [self] in
            flushPending = false
            self.context?.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .headers(let h) where streams[frame.streamID] != nil:
            if h.endStream, let stream = streams.removeValue(forKey: frame.streamID) {
                let status = Int(h.headers.first(name: "grpc-status") ?? "2") ?? 2
                stream.onEnd(status == 0 ? nil : GRPCStatusError(code: status, message: h.headers.first(name: "grpc-message") ?? ""))
            }
        case .data(let d) where streams[frame.streamID] != nil:
            if case .byteBuffer(let b) = d.data { deliver(b, padding: d.paddingBytes ?? 0, on: frame.streamID, context: context) }
            if d.endStream, let stream = streams.removeValue(forKey: frame.streamID) {
                stream.onEnd(GRPCStatusError(code: 13, message: "the stream ended without trailers"))
            }
        case .rstStream(let code) where streams[frame.streamID] != nil:
            streams.removeValue(forKey: frame.streamID)?.onEnd(GRPCStatusError(code: 14, message: "stream reset by the server (\(code))"))
        case .headers(let h):
            if let status = h.headers.first(name: "grpc-status") {
                finish(frame.streamID, status: Int(status) ?? 2, message: h.headers.first(name: "grpc-message") ?? "")
            } else if let s = h.headers.first(name: ":status"), s != "200" {
                finish(frame.streamID, status: 14, message: "HTTP status \(s)")
            } else if h.endStream {
                finish(frame.streamID, status: 13, message: "the stream ended without a grpc-status")
            }
        case .data(let d):
            if case .byteBuffer(var b) = d.data {
                let flowControlled = b.readableBytes + (d.paddingBytes ?? 0)
                calls[frame.streamID]?.body.writeBuffer(&b)
                if giveBack(flowControlled, context: context) { context.flush() }
            }
            if d.endStream { finish(frame.streamID, status: 13, message: "the stream ended without trailers") }
        case .rstStream(let code):
            finish(frame.streamID, status: 14, message: "stream reset by the server (\(code))")
        case .goAway(let last, let code, _):
            closed = GRPCStatusError(code: 14, message: "the server is going away (\(code))")
            for id in calls.keys where id > last { finish(id, status: 14, message: "the server is going away (\(code))") }
        default:
            break
        }
    }

    /// Cuts the messages of a stream out of a DATA frame and hands each to the stream's callback.
    private func deliver(_ data: ByteBuffer, padding: Int, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard var stream = streams[id] else { return }
        let flowControlled = data.readableBytes + padding
        var input = data
        if stream.partial.readableBytes > 0 {
            stream.partial.writeBuffer(&input)
            input = stream.partial
            stream.partial = ByteBuffer()
        }
        while input.readableBytes >= 5 {
            let length = Int(input.getInteger(at: input.readerIndex + 1, as: UInt32.self)!)
            guard input.readableBytes >= 5 + length else { break }
            input.moveReaderIndex(forwardBy: 5)
            input.withUnsafeReadableBytes { stream.onMessage(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
            input.moveReaderIndex(forwardBy: length)
        }
        if input.readableBytes > 0 { stream.partial = input }
        stream.unacknowledged += flowControlled
        var wrote = false
        if stream.unacknowledged >= 4 << 20 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: stream.unacknowledged))), promise: nil)
            stream.unacknowledged = 0
            wrote = true
        }
        if giveBack(flowControlled, context: context) { wrote = true }
        if wrote { context.flush() }
        streams[id] = stream
    }

    /// Counts DATA bytes consumed against the connection window and, every 4 MiB, writes the
    /// WINDOW_UPDATE that gives them back; returns whether it wrote (the caller flushes).
    private func giveBack(_ bytes: Int, context: ChannelHandlerContext) -> Bool {
        unacknowledged += bytes
        guard unacknowledged >= 4 << 20 else { return false }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: unacknowledged))), promise: nil)
        unacknowledged = 0
        return true
    }

    private func finish(_ id: HTTP2StreamID, status: Int, message: String) {
        guard var call = calls.removeValue(forKey: id) else { return }
        guard status == 0 else {
            call.continuation.resume(throwing: GRPCStatusError(code: status, message: message.removingPercentEncoding ?? message))
            return
        }
        // One length-prefixed message (uncompressed: we asked for no compression).
        guard call.body.readableBytes >= 5, let flag = call.body.readInteger(as: UInt8.self), flag == 0,
              let length = call.body.readInteger(as: UInt32.self), call.body.readableBytes == Int(length),
              let bytes = call.body.readBytes(length: Int(length)) else {
            call.continuation.resume(throwing: GRPCStatusError(code: 13, message: "malformed gRPC message"))
            return
        }
        call.continuation.resume(returning: bytes)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(GRPCStatusError(code: 14, message: "connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(GRPCStatusError(code: 14, message: "connection error: \(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ e: GRPCStatusError) {
        closed = closed ?? e
        let pending = calls
        calls.removeAll()
        for (_, call) in pending { call.continuation.resume(throwing: e) }
        let open = streams
        streams.removeAll()
        for (_, stream) in open { stream.onEnd(e) }
    }
}

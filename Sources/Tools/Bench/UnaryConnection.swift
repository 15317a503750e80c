import Foundation
import GRPCWire
public import NIOCore
public import NIOHPACK
public import NIOPosix

/// One HTTP/2 connection that makes unary gRPC calls with as little work per call as it can:
/// the benchmark's request path. Each call is one stream: HEADERS, one DATA frame with the
/// length-prefixed message and END_STREAM; the answer is HEADERS, DATA, and trailers with
/// `grpc-status`. The handler reads and writes HTTP/2 itself (GRPCServer's `HTTP2Wire`, HPACK
/// from swift-nio-http2, request headers encoded with a dynamic table as grpc-go's clients do),
/// writes everything of one event-loop turn as one buffer and one flush, and hands the answer's
/// bytes back undecoded. Measured: grpc-swift-2's client cost about 100–125 µs of CPU per unary
/// call here, so that `capstan bench` was the bottleneck at about 8,000 calls/s; on
/// swift-nio-http2's connection handler 18–25 µs.
///
/// No reconnection: a call on a closed connection fails (a benchmark counts it as an error).
public final class UnaryConnection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<UnaryCallHandler>
    let authority: String

    /// Connects to `host:port` (plaintext HTTP/2, prior knowledge, as gRPC does).
    public static func connect(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws
        -> UnaryConnection
    {
        // The handler is in place before the connection reads anything: the server's SETTINGS
        // may arrive at once.
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(UnaryCallHandler()) }
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
        HPACKHeaders([
            (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", authority),
            ("content-type", "application/grpc"), ("te", "trailers")
        ])
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
    public func openStream(
        _ headers: HPACKHeaders, messages: [[UInt8]],
        onMessage: @escaping @Sendable (UnsafeRawBufferPointer) -> Void,
        onEnd: @escaping @Sendable ((any Error)?) -> Void
    ) async throws -> Int {
        try await openStream(headers, messages: messages, onMessages: { _, forEach in forEach(onMessage) }, onEnd: onEnd)
    }

    /// `openStream` for many small answers: `onMessages` is called once per DATA frame that
    /// completes answers, with the time it was read (`monotonicNanos`) and a function that
    /// passes each of those answers' bytes to its argument, in order (one clock read and one
    /// callback per frame, not per answer: per answer they were a third of the client's CPU
    /// in a watch burst).
    public func openStream(
        _ headers: HPACKHeaders, messages: [[UInt8]],
        onMessages: @escaping @Sendable (_ now: UInt64, _ forEach: ((UnsafeRawBufferPointer) -> Void) -> Void) -> Void,
        onEnd: @escaping @Sendable ((any Error)?) -> Void
    ) async throws -> Int {
        try await channel.eventLoop.submit { [handler] in
            try handler.value.openStream(headers, messages, onMessages: onMessages, onEnd: onEnd)
        }.get()
    }

    /// Sends one more message on a stream opened with `openStream`.
    public func send(stream: Int, _ message: [UInt8]) {
        let handler = handler
        channel.eventLoop.execute { handler.value.send(stream, message) }
    }

    /// Cancels a stream opened with `openStream` (RST_STREAM CANCEL); its `onEnd` is not called.
    public func cancel(stream: Int) async {
        try? await channel.eventLoop.submit { [handler] in handler.value.cancel(stream) }.get()
    }

    public func close() async {
        try? await channel.close()
    }
}

/// The calls on one connection, on its event loop: HTTP/2 read and written as bytes.
final class UnaryCallHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Call {
        var continuation: CheckedContinuation<[UInt8], any Error>
        var body = ByteBuffer()
        var outflow: HTTP2Wire.Outflow
        /// END_STREAM is still to be sent (after the held request bytes).
        var endPending = false
    }

    /// A long-lived stream: its messages are cut out of the DATA frames as they arrive.
    struct Stream {
        var onMessages: @Sendable (UInt64, ((UnsafeRawBufferPointer) -> Void) -> Void) -> Void
        var onEnd: @Sendable ((any Error)?) -> Void
        /// Bytes of a message cut by a frame boundary.
        var partial = ByteBuffer()
        /// DATA bytes not yet given back to this stream's window.
        var unacknowledged = 0
        var outflow: HTTP2Wire.Outflow
    }

    /// The stream and connection windows this client grants: answers up to 16 MiB need no
    /// stream WINDOW_UPDATE.
    static let window = 16 << 20
    static let maxInboundFrameSize = 1 << 20

    private var context: ChannelHandlerContext?
    private var calls: [Int: Call] = [:]
    private var streams: [Int: Stream] = [:]
    /// Streams holding request bytes the server's windows have not admitted, in order.
    private var waiting: [Int] = []
    private var nextStream = 1
    /// Why no new call can start (GOAWAY, a closed connection); calls already open go on after a GOAWAY.
    private var closed: (any Error)?
    /// After a protocol error from the server: nothing more is read.
    private var failed = false
    private var inbound = ByteBuffer()
    private let output = HTTP2Wire.TurnOutput()
    private var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
    private var decoder = HPACKDecoder(
        allocator: ByteBufferAllocator(), maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize,
        maxHeaderListSize: 1 << 16)
    private var headerBlocks = HTTP2Wire.HeaderBlocks()
    /// DATA bytes received and not yet given back to the connection window.
    private var unacknowledged = 0
    private var peerInitialWindow = HTTP2Wire.defaultInitialWindow
    private var peerMaxFrameSize = HTTP2Wire.defaultMaxFrameSize
    private var connectionWindow = HTTP2Wire.defaultInitialWindow

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        output.attach(context)
        if context.channel.isActive { sendPreface() }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        sendPreface()
    }

    private func sendPreface() {
        output.bytes.writeBytes(HTTP2Wire.preface)
        HTTP2Wire.writeSettings(
            &output.bytes,
            [
                (.maxConcurrentStreams, 1000), (.initialWindowSize, Self.window),
                (.maxFrameSize, Self.maxInboundFrameSize), (.maxHeaderListSize, 1 << 16), (.enablePush, 0)
            ])
        HTTP2Wire.writeWindowUpdate(&output.bytes, stream: 0, increment: Self.window - HTTP2Wire.defaultInitialWindow)
        output.flush()
    }

    // MARK: - Requests

    /// Starts a new stream with its request headers; throws when the connection is closed.
    private func newStream(_ headers: HPACKHeaders) throws -> Int {
        guard context != nil, closed == nil, nextStream < Int(Int32.max) - 2 else {
            throw closed ?? GRPCStatus(.unavailable, "connection closed")
        }
        let id = nextStream
        nextStream += 2
        var block = ByteBuffer()
        try encoder.encode(headers: headers, to: &block)
        // Request header blocks are small: one frame (CONTINUATION past the server's frame size).
        var first = true
        repeat {
            let n = min(block.readableBytes, peerMaxFrameSize)
            var piece = block.readSlice(length: n)!
            HTTP2Wire.writeFrameHeader(
                &output.bytes, length: n, type: first ? .headers : .continuation,
                flags: block.readableBytes == 0 ? HTTP2Wire.Flag.endHeaders : 0, stream: id)
            output.bytes.writeBuffer(&piece)
            first = false
        } while block.readableBytes > 0
        return id
    }

    func start(_ headers: HPACKHeaders, _ message: [UInt8], _ c: CheckedContinuation<[UInt8], any Error>) {
        do {
            let id = try newStream(headers)
            calls[id] = Call(continuation: c, outflow: HTTP2Wire.Outflow(window: peerInitialWindow))
            write([message], on: id, end: true)
        } catch {
            c.resume(throwing: error)
        }
    }

    func openStream(
        _ headers: HPACKHeaders, _ messages: [[UInt8]],
        onMessages: @escaping @Sendable (UInt64, ((UnsafeRawBufferPointer) -> Void) -> Void) -> Void,
        onEnd: @escaping @Sendable ((any Error)?) -> Void
    ) throws -> Int {
        let id = try newStream(headers)
        streams[id] = Stream(onMessages: onMessages, onEnd: onEnd, outflow: HTTP2Wire.Outflow(window: peerInitialWindow))
        write(messages, on: id, end: false)
        return id
    }

    func send(_ id: Int, _ message: [UInt8]) {
        guard streams[id] != nil else { return }
        write([message], on: id, end: false)
    }

    func cancel(_ id: Int) {
        guard streams.removeValue(forKey: id) != nil, context != nil else { return }
        HTTP2Wire.writeRstStream(&output.bytes, stream: id, .cancel)
        output.scheduleFlush()
    }

    /// Writes length-prefixed messages as one DATA frame when the server's windows admit them
    /// (else held until they do); the flush comes once per loop turn.
    private func write(_ messages: [[UInt8]], on id: Int, end: Bool) {
        defer { output.scheduleFlush() }
        // A stream opened with nothing to say sends its HEADERS alone (an empty DATA frame
        // without END_STREAM is refused by NIO's HTTP/2 servers, a DoS heuristic).
        if messages.isEmpty && !end { return }
        let total = messages.reduce(0) { $0 + 5 + $1.count }
        let held = calls[id]?.outflow.held.readableBytes ?? streams[id]?.outflow.held.readableBytes ?? 0
        let window = calls[id]?.outflow.window ?? streams[id]?.outflow.window ?? 0
        if held == 0 && total <= min(window, connectionWindow, peerMaxFrameSize) {
            HTTP2Wire.writeFrameHeader(&output.bytes, length: total, type: .data, flags: end ? HTTP2Wire.Flag.endStream : 0, stream: id)
            for m in messages { Self.writeMessage(m, into: &output.bytes) }
            if calls[id] != nil { calls[id]!.outflow.window -= total } else { streams[id]!.outflow.window -= total }
            connectionWindow -= total
            return
        }
        if calls[id] != nil {
            for m in messages { Self.writeMessage(m, into: &calls[id]!.outflow.held) }
            calls[id]!.endPending = end
        } else {
            for m in messages { Self.writeMessage(m, into: &streams[id]!.outflow.held) }
        }
        if held == 0 { waiting.append(id) }
        pumpWaiting()
    }

    private static func writeMessage(_ m: [UInt8], into b: inout ByteBuffer) {
        b.writeInteger(UInt8(0))
        b.writeInteger(UInt32(m.count))
        b.writeBytes(m)
    }

    /// Sends what held streams can, in order; a call's END_STREAM after its last byte.
    private func pumpWaiting() {
        guard !waiting.isEmpty else { return }
        let ids = waiting
        waiting = []
        for id in ids {
            if calls[id] != nil {
                calls[id]!.outflow.drain(into: output, stream: id, connectionWindow: &connectionWindow, maxFrame: peerMaxFrameSize)
                if calls[id]!.outflow.held.readableBytes > 0 {
                    waiting.append(id)
                } else if calls[id]!.endPending {
                    calls[id]!.endPending = false
                    HTTP2Wire.writeFrameHeader(&output.bytes, length: 0, type: .data, flags: HTTP2Wire.Flag.endStream, stream: id)
                }
            } else if streams[id] != nil {
                streams[id]!.outflow.drain(into: output, stream: id, connectionWindow: &connectionWindow, maxFrame: peerMaxFrameSize)
                if streams[id]!.outflow.held.readableBytes > 0 { waiting.append(id) }
            }
        }
        output.scheduleFlush()
    }

    // MARK: - Answers

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var incoming = unwrapInboundIn(data)
        if inbound.readableBytes == 0 { inbound = incoming } else { inbound.writeBuffer(&incoming) }
        while !failed, let h = HTTP2Wire.FrameHeader.peek(inbound) {
            guard h.length <= Self.maxInboundFrameSize else { return connectionError("a frame of \(h.length) bytes") }
            guard inbound.readableBytes >= HTTP2Wire.frameHeaderLength + h.length else { break }
            inbound.moveReaderIndex(forwardBy: HTTP2Wire.frameHeaderLength)
            frame(h, inbound.readSlice(length: h.length)!)
        }
        if inbound.readableBytes == 0 { inbound = ByteBuffer() } else if inbound.readerIndex >= 1 << 16 { inbound.discardReadBytes() }
    }

    private func frame(_ h: HTTP2Wire.FrameHeader, _ payload: ByteBuffer) {
        if headerBlocks.isOpen { return headerBlock(headerBlocks.continuation(h, payload)) }
        switch HTTP2Wire.FrameType(rawValue: h.type) {
        case .data:
            guard let body = HTTP2Wire.content(h, payload, skipping: 0) else { return connectionError("bad padding") }
            data(h.stream, body, flowControlled: h.length, endStream: h.flags & HTTP2Wire.Flag.endStream != 0)
        case .headers:
            headerBlock(headerBlocks.headers(h, payload))
        case .rstStream:
            let code = payload.getInteger(at: payload.readerIndex, as: UInt32.self) ?? 0
            streams.removeValue(forKey: h.stream)?.onEnd(GRPCStatus(.unavailable, "stream reset by the server (\(code))"))
            finish(h.stream, status: .unavailable, message: "stream reset by the server (\(code))")
        case .settings where h.flags & HTTP2Wire.Flag.ack == 0:
            var p = payload
            while let id = p.readInteger(as: UInt16.self), let raw = p.readInteger(as: UInt32.self) {
                switch HTTP2Wire.Setting(rawValue: id) {
                case .initialWindowSize:
                    let delta = Int(raw) - peerInitialWindow
                    peerInitialWindow = Int(raw)
                    for s in Array(calls.keys) { calls[s]!.outflow.window += delta }
                    for s in Array(streams.keys) { streams[s]!.outflow.window += delta }
                case .maxFrameSize:
                    peerMaxFrameSize = max(HTTP2Wire.defaultMaxFrameSize, Int(raw))
                default:
                    break
                }
            }
            HTTP2Wire.writeFrameHeader(&output.bytes, length: 0, type: .settings, flags: HTTP2Wire.Flag.ack, stream: 0)
            pumpWaiting()
            output.scheduleFlush()
        case .ping where h.flags & HTTP2Wire.Flag.ack == 0 && h.length == 8:
            // etcd (grpc-go) pings for every burst of data it receives (bandwidth probes).
            HTTP2Wire.writeFrameHeader(&output.bytes, length: 8, type: .ping, flags: HTTP2Wire.Flag.ack, stream: 0)
            var opaque = payload
            output.bytes.writeBuffer(&opaque)
            output.scheduleFlush()
        case .goAway:
            let last = Int((payload.getInteger(at: payload.readerIndex, as: UInt32.self) ?? 0) & 0x7FFF_FFFF)
            let code = payload.getInteger(at: payload.readerIndex + 4, as: UInt32.self) ?? 0
            closed = GRPCStatus(.unavailable, "the server is going away (\(code))")
            for id in Array(calls.keys) where id > last { finish(id, status: .unavailable, message: "the server is going away (\(code))") }
            for id in Array(streams.keys) where id > last {
                streams.removeValue(forKey: id)?.onEnd(GRPCStatus(.unavailable, "the server is going away (\(code))"))
            }
        case .windowUpdate:
            let increment = Int((payload.getInteger(at: payload.readerIndex, as: UInt32.self) ?? 0) & 0x7FFF_FFFF)
            if h.stream == 0 {
                connectionWindow += increment
            } else if calls[h.stream] != nil {
                calls[h.stream]!.outflow.window += increment
            } else if streams[h.stream] != nil {
                streams[h.stream]!.outflow.window += increment
            }
            pumpWaiting()
        default:
            break
        }
    }

    private func headerBlock(_ outcome: HTTP2Wire.HeaderBlocks.Outcome) {
        switch outcome {
        case .complete(let stream, let endStream, let block): headers(stream, block, endStream: endStream)
        case .incomplete: break
        case .error(let code): connectionError("a header block (\(code))")
        }
    }

    private func headers(_ id: Int, _ block: ByteBuffer, endStream: Bool) {
        var b = block
        let h: HPACKHeaders
        do { h = try decoder.decodeHeaders(from: &b) } catch { return connectionError("undecodable headers: \(error)") }
        if streams[id] != nil {
            if endStream, let stream = streams.removeValue(forKey: id) {
                let status = Int(h.first(name: "grpc-status") ?? "2") ?? 2
                stream.onEnd(status == 0 ? nil : GRPCStatus(GRPCStatus.Code(wire: status), h.first(name: "grpc-message") ?? ""))
            }
            return
        }
        if let status = h.first(name: "grpc-status") {
            finish(id, status: GRPCStatus.Code(wire: Int(status) ?? 2), message: h.first(name: "grpc-message") ?? "")
        } else if let s = h.first(name: ":status"), s != "200" {
            finish(id, status: .unavailable, message: "HTTP status \(s)")
        } else if endStream {
            finish(id, status: .internalError, message: "the stream ended without a grpc-status")
        }
    }

    private func data(_ id: Int, _ body: ByteBuffer, flowControlled: Int, endStream: Bool) {
        giveBack(flowControlled)
        if streams[id] != nil {
            deliver(body, flowControlled: flowControlled, on: id)
            if endStream, let stream = streams.removeValue(forKey: id) {
                stream.onEnd(GRPCStatus(.internalError, "the stream ended without trailers"))
            }
            return
        }
        var b = body
        calls[id]?.body.writeBuffer(&b)
        if endStream { finish(id, status: .internalError, message: "the stream ended without trailers") }
    }

    /// Cuts the messages of a stream out of a DATA frame and hands each to the stream's callback.
    private func deliver(_ data: ByteBuffer, flowControlled: Int, on id: Int) {
        guard var stream = streams[id] else { return }
        var input = data
        if stream.partial.readableBytes > 0 {
            stream.partial.writeBuffer(&input)
            input = stream.partial
            stream.partial = ByteBuffer()
        }
        // The whole messages at the front, read in one pass, then handed over in one call.
        let whole = input.withUnsafeReadableBytes { Self.wholeMessages($0) }
        if whole > 0 {
            let messages = input.readSlice(length: whole)!
            stream.onMessages(monotonicNanos()) { body in
                messages.withUnsafeReadableBytes { all in
                    var at = 0
                    while at < all.count {
                        let length = Self.messageLength(all, at: at)
                        body(UnsafeRawBufferPointer(rebasing: all[(at + 5)..<(at + 5 + length)]))
                        at += 5 + length
                    }
                }
            }
        }
        if input.readableBytes > 0 {
            var rest = ByteBuffer()
            rest.writeBuffer(&input)
            stream.partial = rest
        }
        stream.unacknowledged += flowControlled
        if stream.unacknowledged >= 4 << 20 {
            HTTP2Wire.writeWindowUpdate(&output.bytes, stream: id, increment: stream.unacknowledged)
            stream.unacknowledged = 0
            output.scheduleFlush()
        }
        streams[id] = stream
    }

    /// A gRPC message's length, from its 5-byte prefix at `at`.
    static func messageLength(_ bytes: UnsafeRawBufferPointer, at: Int) -> Int {
        Int(UInt32(bytes[at + 1]) << 24 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 8 | UInt32(bytes[at + 4]))
    }

    /// How many bytes at the front of `bytes` are whole messages (prefix and body).
    static func wholeMessages(_ bytes: UnsafeRawBufferPointer) -> Int {
        var at = 0
        while bytes.count - at >= 5 {
            let length = messageLength(bytes, at: at)
            guard bytes.count - at - 5 >= length else { break }
            at += 5 + length
        }
        return at
    }

    /// Counts DATA bytes consumed against the connection window and, every 4 MiB, gives them back.
    private func giveBack(_ bytes: Int) {
        unacknowledged += bytes
        guard unacknowledged >= 4 << 20 else { return }
        HTTP2Wire.writeWindowUpdate(&output.bytes, stream: 0, increment: unacknowledged)
        unacknowledged = 0
        output.scheduleFlush()
    }

    private func finish(_ id: Int, status: GRPCStatus.Code, message: String) {
        guard var call = calls.removeValue(forKey: id) else { return }
        guard status == .ok else {
            call.continuation.resume(throwing: GRPCStatus(status, message.removingPercentEncoding ?? message))
            return
        }
        // One length-prefixed message (uncompressed: we asked for no compression).
        guard call.body.readableBytes >= 5, let flag = call.body.readInteger(as: UInt8.self), flag == 0,
            let length = call.body.readInteger(as: UInt32.self), call.body.readableBytes == Int(length),
            let bytes = call.body.readBytes(length: Int(length))
        else {
            call.continuation.resume(throwing: GRPCStatus(.internalError, "malformed gRPC message"))
            return
        }
        call.continuation.resume(returning: bytes)
    }

    private func connectionError(_ what: String) {
        failed = true
        failAll(GRPCStatus(.unavailable, "HTTP/2 protocol error from the server: \(what)"))
        HTTP2Wire.writeGoAway(&output.bytes, lastStream: 0, .protocolError)
        output.flush()
        context?.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(GRPCStatus(.unavailable, "connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(GRPCStatus(.unavailable, "connection error: \(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ e: GRPCStatus) {
        closed = closed ?? e
        let pending = calls
        calls.removeAll()
        for (_, call) in pending { call.continuation.resume(throwing: e) }
        let open = streams
        streams.removeAll()
        for (_, stream) in open { stream.onEnd(e) }
    }
}

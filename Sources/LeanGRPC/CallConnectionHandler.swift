import NIOCore
import NIOHPACK
import NIOHTTP2

/// Serves the gRPC calls of one HTTP/2 connection, straight on NIO's HTTP/2 frames: each call is
/// an entry in a dictionary (no stream channel, task or async sequence per call), its request
/// messages are cut out of DATA frames as they come, and answers are written as frames and
/// flushed once per event-loop turn. Runs on the connection's event loop only.
///
/// Flow control, which NIO's HTTP/2 handler leaves to us without a stream multiplexer: inbound,
/// the connection and stream windows are given back as DATA is consumed (requests are bounded by
/// the largest message allowed); outbound, NIO queues DATA the client's windows do not admit,
/// and this handler counts what it wrote against the windows the client granted, so that
/// streaming calls can hold back (`isBlocked`, `whenWritable`, `room`) instead of queueing
/// without bound.
final class CallConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    struct Call {
        var method: Method
        /// Request bytes that are not a whole message yet.
        var pending = ByteBuffer()
        /// The unary request, once whole.
        var request: [UInt8]?
        var requestsEnded = false
        var receiver: (any StreamReceiver)?
        var headersSent = false
        /// DATA bytes received and not yet given back to the stream's window.
        var unacknowledged = 0
        /// DATA bytes written, and the window the client granted for them so far.
        var written = 0
        var credit: Int
        var writableWaiters: [() -> Void] = []
        var roomWaiters: [EventLoopPromise<Void>] = []
    }

    private let routes: [String: Method]
    private let limits: LeanServer.Limits
    let executor: EventLoopTaskExecutor
    private var context: ChannelHandlerContext?
    private var calls: [HTTP2StreamID: Call] = [:]
    private var flushPending = false
    /// DATA bytes received on the connection and not yet given back to its window.
    private var unacknowledged = 0
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE, and what was written against the connection window.
    private var peerInitialWindow = 65_535
    private var connectionWritten = 0
    private var connectionCredit = 65_535
    /// Request bytes held in calls' partial messages (each call's `pending`), all calls together.
    private(set) var bufferedRequestBytes = 0
    /// After GOAWAY: the connection closes once its calls are over.
    private var draining = false
    private var highestStream = HTTP2StreamID(0)

    init(routes: [String: Method], limits: LeanServer.Limits, executor: EventLoopTaskExecutor) {
        self.routes = routes
        self.limits = limits
        self.executor = executor
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        // The connection window starts at 64 KiB whatever SETTINGS say: raise it to 16 MiB.
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: (16 << 20) - 65_535))), promise: nil)
    }

    private var bound: NIOLoopBound<CallConnectionHandler> { NIOLoopBound(self, eventLoop: executor.loop) }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let id = frame.streamID
        switch frame.payload {
        case .headers(let h):
            if calls[id] == nil {
                start(id, h.headers, context: context)
                if h.endStream { requestsEnded(id) }
            } else if h.endStream {
                // Trailers from the client: nothing in them for us.
                requestsEnded(id)
            }
        case .data(let d):
            let flowControlled = d.data.readableBytes + (d.paddingBytes ?? 0)
            giveBackConnection(flowControlled, context: context)
            if case .byteBuffer(let b) = d.data, calls[id] != nil {
                received(b, flowControlled: flowControlled, on: id, context: context)
            }
            if d.endStream { requestsEnded(id) }
        case .rstStream:
            end(id)
        case .windowUpdate(let increment):
            if id == .rootStream {
                connectionCredit += increment
                for stream in Array(calls.keys) { wakeIfWritable(stream) }
            } else if calls[id] != nil {
                calls[id]!.credit += increment
                wakeIfWritable(id)
            }
        case .settings(.settings(let settings)):
            for s in settings where s.parameter == .initialWindowSize {
                let delta = s.value - peerInitialWindow
                peerInitialWindow = s.value
                for stream in Array(calls.keys) {
                    calls[stream]!.credit += delta
                    wakeIfWritable(stream)
                }
            }
        default:
            break
        }
    }

    /// A new call: check what HTTP/2 and gRPC require of its headers, find its method.
    private func start(_ id: HTTP2StreamID, _ headers: HPACKHeaders, context: ChannelHandlerContext) {
        if id > highestStream { highestStream = id }
        guard !draining else {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.refusedStream))), promise: nil)
            scheduleFlush()
            return
        }
        guard headers.first(name: ":method") == "POST",
              let contentType = headers.first(name: "content-type"), contentType.hasPrefix("application/grpc") else {
            // Not a gRPC request (as grpc-go answers: 415 Unsupported Media Type).
            let answer: HPACKHeaders = [":status": "415", "content-type": "text/plain"]
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: answer, endStream: true)))), promise: nil)
            scheduleFlush()
            return
        }
        let path = headers.first(name: ":path") ?? ""
        guard let method = routes[path] else {
            calls[id] = Call(method: .unary { _, _ in }, credit: peerInitialWindow)
            finish(stream: Int(id), status: .unimplemented(Self.unknown(path)))
            return
        }
        calls[id] = Call(method: method, credit: peerInitialWindow)
        if case .streaming(let open) = method {
            let receiver = open(ServerStream(connection: bound, stream: Int(id), executor: executor))
            calls[id]?.receiver = receiver
        }
    }

    /// grpc-go's words for a path it does not serve.
    static func unknown(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 2 else { return "malformed method name: \"\(path)\"" }
        return "unknown service \(parts[0])"
    }

    /// Cuts request messages out of a DATA frame.
    private func received(_ data: ByteBuffer, flowControlled: Int, on id: HTTP2StreamID, context: ChannelHandlerContext) {
        var input = data
        let arrived = input.readableBytes
        calls[id]!.pending.writeBuffer(&input)
        bufferedRequestBytes += arrived
        if bufferedRequestBytes > limits.maxBufferedRequestBytesPerConnection {
            // Partial messages on many streams at once: more than any client needs. As NIO's
            // own flood limits do: GOAWAY ENHANCE_YOUR_CALM, and the connection closes.
            context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .goAway(
                lastStreamID: highestStream, errorCode: .enhanceYourCalm, opaqueData: nil))), promise: nil)
            context.close(promise: nil)
            return
        }
        calls[id]!.unacknowledged += flowControlled
        if calls[id]!.unacknowledged >= 256 << 10 {
            context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: calls[id]!.unacknowledged))), promise: nil)
            calls[id]!.unacknowledged = 0
            scheduleFlush()
        }
        while let call = calls[id], call.pending.readableBytes >= 5 {
            let flag = call.pending.getInteger(at: call.pending.readerIndex, as: UInt8.self)!
            let length = Int(call.pending.getInteger(at: call.pending.readerIndex + 1, as: UInt32.self)!)
            if length > limits.maxRequestMessageBytes {
                finish(stream: Int(id), status: .resourceExhausted("grpc: received message larger than max (\(length) vs. \(limits.maxRequestMessageBytes))"))
                reset(id, context: context)
                return
            }
            if flag != 0 {
                finish(stream: Int(id), status: .unimplemented("grpc: compressed messages are not supported by this server"))
                reset(id, context: context)
                return
            }
            guard call.pending.readableBytes >= 5 + length else { return }
            calls[id]!.pending.moveReaderIndex(forwardBy: 5)
            let message = calls[id]!.pending.readBytes(length: length)!
            bufferedRequestBytes -= 5 + length
            calls[id]!.pending.discardReadBytes()
            switch call.method {
            case .unary:
                if call.request != nil {
                    finish(stream: Int(id), status: CallStatus(code: 12, message: "grpc: a unary call takes one request message"))
                    reset(id, context: context)
                    return
                }
                calls[id]!.request = message
            case .streaming:
                call.receiver?.received(message)
            }
        }
    }

    private func requestsEnded(_ id: HTTP2StreamID) {
        guard var call = calls[id], !call.requestsEnded else { return }
        call.requestsEnded = true
        calls[id] = call
        switch call.method {
        case .unary(let handler):
            guard let request = call.request else {
                finish(stream: Int(id), status: .internalError("grpc: the client sent no request message"))
                return
            }
            calls[id]!.request = nil
            handler(request, UnaryCall(connection: bound, stream: Int(id), executor: executor))
        case .streaming:
            call.receiver?.requestsEnded()
        }
    }

    /// The client cancelled the call (RST_STREAM) or the stream is gone.
    private func end(_ id: HTTP2StreamID) {
        guard let call = calls.removeValue(forKey: id) else { return }
        ended(call, CallStatus(code: 1, message: "the call was cancelled"))
    }

    /// What every end of a call does once it is out of `calls`: its partial request leaves the
    /// connection's count, whoever waits for room hears `reason`, its receiver hears the end.
    private func ended(_ call: Call, _ reason: CallStatus) {
        bufferedRequestBytes -= call.pending.readableBytes
        for p in call.roomWaiters { p.fail(reason) }
        call.receiver?.ended()
        closeIfDrained()
    }

    private func reset(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .rstStream(.noError))), promise: nil)
        scheduleFlush()
    }

    /// Gives DATA bytes back to the connection window, 4 MiB at a time.
    private func giveBackConnection(_ bytes: Int, context: ChannelHandlerContext) {
        unacknowledged += bytes
        guard unacknowledged >= 4 << 20 else { return }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: unacknowledged))), promise: nil)
        unacknowledged = 0
        scheduleFlush()
    }

    // MARK: - Outbound

    func respond(stream: Int, message: [UInt8]) {
        let id = HTTP2StreamID(stream)
        guard calls[id] != nil else { return }
        send(stream: stream, messages: [message])
        finish(stream: stream, status: .ok)
    }

    func isOpen(stream: Int) -> Bool { calls[HTTP2StreamID(stream)] != nil }

    /// Writes messages as one DATA frame (HEADERS first if none were sent).
    func send(stream: Int, messages: [[UInt8]]) {
        send(stream: stream, sizes: messages.map(\.count)) { i, to in
            messages[i].withUnsafeBytes { to.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    /// Writes messages as one DATA frame: message `i` is `sizes[i]` bytes, written by
    /// `write(i, at)` straight into the frame's buffer after its length prefix. The whole frame
    /// is written through one access to the buffer (a ByteBuffer write per field costs an
    /// exclusivity check each, which showed in the watch fan-out's profile).
    func send(stream: Int, sizes: [Int], write: (Int, UnsafeMutableRawPointer) -> Void) {
        let id = HTTP2StreamID(stream)
        guard let context, calls[id] != nil, !sizes.isEmpty else { return }
        sendHeaders(id, context: context)
        let total = sizes.reduce(0) { $0 + 5 + $1 }
        var body = context.channel.allocator.buffer(capacity: total)
        body.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            var at = out.baseAddress!
            for (i, n) in sizes.enumerated() {
                precondition(n >= 0 && n <= Int(UInt32.max), "a message's size out of range")
                at.storeBytes(of: 0, as: UInt8.self)
                at.storeBytes(of: UInt32(n).bigEndian, toByteOffset: 1, as: UInt32.self)
                write(i, at + 5)
                at += 5 + n
            }
            return total
        }
        calls[id]!.written += body.readableBytes
        connectionWritten += body.readableBytes
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .data(.init(data: .byteBuffer(body))))), promise: nil)
        scheduleFlush()
    }

    private func sendHeaders(_ id: HTTP2StreamID, context: ChannelHandlerContext) {
        guard !calls[id]!.headersSent else { return }
        calls[id]!.headersSent = true
        let headers: HPACKHeaders = [":status": "200", "content-type": "application/grpc"]
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers)))), promise: nil)
    }

    /// Ends a call with its trailers (a trailers-only answer when nothing was sent).
    func finish(stream: Int, status: CallStatus) {
        let id = HTTP2StreamID(stream)
        guard let context, let call = calls.removeValue(forKey: id) else { return }
        var trailers: HPACKHeaders = call.headersSent ? [:] : [":status": "200", "content-type": "application/grpc"]
        trailers.add(name: "grpc-status", value: String(status.code))
        if !status.message.isEmpty { trailers.add(name: "grpc-message", value: Self.percentEncoded(status.message)) }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: .headers(.init(headers: trailers, endStream: true)))), promise: nil)
        scheduleFlush()
        ended(call, CallStatus(code: 1, message: "the call has ended"))
    }

    /// gRPC's percent-encoding of `grpc-message`: bytes outside printable ASCII, and '%'.
    static func percentEncoded(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != 0x25 {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return out
    }

    // MARK: - Outbound flow control

    /// Bytes written that the client's windows have not admitted yet.
    private func queued(_ call: Call) -> Int {
        max(call.written - call.credit, connectionWritten - connectionCredit, 0)
    }

    func isBlocked(stream: Int) -> Bool {
        guard let call = calls[HTTP2StreamID(stream)] else { return false }
        return queued(call) > limits.streamHighWater
    }

    func whenWritable(stream: Int, _ body: @escaping () -> Void) {
        let id = HTTP2StreamID(stream)
        guard let call = calls[id] else { return }
        if queued(call) <= limits.streamHighWater { body() } else { calls[id]!.writableWaiters.append(body) }
    }

    /// Succeeds once the stream is not blocked; fails when the call has ended.
    func room(stream: Int) -> EventLoopFuture<Void> {
        let id = HTTP2StreamID(stream)
        guard let call = calls[id] else { return executor.loop.makeFailedFuture(CallStatus(code: 1, message: "the call has ended")) }
        if queued(call) <= limits.streamHighWater { return executor.loop.makeSucceededVoidFuture() }
        let p = executor.loop.makePromise(of: Void.self)
        calls[id]!.roomWaiters.append(p)
        return p.futureResult
    }

    private func wakeIfWritable(_ id: HTTP2StreamID) {
        guard let call = calls[id], !call.writableWaiters.isEmpty || !call.roomWaiters.isEmpty,
              queued(call) <= limits.streamHighWater / 2 else { return }
        calls[id]!.writableWaiters = []
        calls[id]!.roomWaiters = []
        for p in call.roomWaiters { p.succeed() }
        for body in call.writableWaiters { body() }
    }

    /// One flush per event-loop turn, however many calls wrote in it.
    private func scheduleFlush() {
        guard !flushPending, let context else { return }
        flushPending = true
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute { [self] in
            flushPending = false
            self.context?.flush()
        }
    }

    // MARK: - Connection

    /// GOAWAY: no new calls; the connection closes when the last call is over.
    func drain() {
        guard let context, !draining else { return }
        draining = true
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: highestStream, errorCode: .noError, opaqueData: nil))), promise: nil)
        closeIfDrained()
    }

    private func closeIfDrained() {
        guard draining, calls.isEmpty, let context else { return }
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let open = calls
        calls.removeAll()
        for (_, call) in open { ended(call, CallStatus(code: 14, message: "connection closed")) }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let closed = event as? StreamClosedEvent { end(closed.streamID) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A stream's protocol error ends that call (NIO's HTTP/2 handler resets the stream); a
        // connection error is answered with GOAWAY by that handler, which then closes.
        if let e = error as? NIOHTTP2Errors.StreamError {
            end(e.streamID)
            return
        }
        if error is any NIOHTTP2Error { return }
        context.close(promise: nil)
    }
}

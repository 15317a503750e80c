import GRPCWire
import NIOCore
import NIOHPACK

/// Serves the gRPC calls of one HTTP/2 connection, reading and writing the connection's bytes
/// itself: HTTP/2 framing (RFC 9113) as far as a gRPC server needs it, HPACK decoding of request
/// headers (swift-nio-http2's `HPACKDecoder`) and fixed, pre-encoded answer headers. Each call
/// is an entry in a dictionary (no stream channel, task or async sequence per call), its
/// request messages are cut out of DATA frames as they come, and everything written in one
/// event-loop turn — a unary answer's HEADERS, DATA and trailers, for every call that answered —
/// goes out as one buffer and one flush. Runs on the connection's event loop only.
///
/// Flow control both ways: inbound, the connection and stream windows are given back as DATA
/// is consumed (requests are bounded by the largest message allowed and by the partial
/// messages one connection may hold); outbound, DATA goes out as far as the client's
/// connection and stream windows admit, split at its SETTINGS_MAX_FRAME_SIZE, and the rest is
/// held per stream until WINDOW_UPDATE or SETTINGS open the windows; a stream holding more than
/// `streamHighWater` counts as blocked (`isBlocked`, `whenWritable`, `room`), so that
/// streaming calls hold back instead of queueing without bound. So does every stream of a
/// connection whose socket does not take its bytes (NIO's pending writes above its high-water
/// mark; `isBlocked` and `whenWritable`), the streams going on in turn once it drains. A call
/// finished while its DATA is held sends its trailers once that DATA has gone. A turn's output
/// goes to the channel in chunks of 64 KiB, reused from the event loop's pool once written.
///
/// Protocol errors end the connection with GOAWAY and the error's code (or, for one stream's
/// errors, RST_STREAM); control-frame floods (PING, SETTINGS) end it with ENHANCE_YOUR_CALM.
/// Not built: PRIORITY (read and ignored, as gRPC servers do), server push, HTTP/1.1 upgrade,
/// enforcement of the inbound windows beyond the per-connection bound on held request bytes.
final class CallConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    typealias Outflow = HTTP2Wire.Outflow

    /// A class, not a struct: a call is looked up several times per message written, and a
    /// struct came out of the dictionary as a copy of every field, each retained and released.
    final class Call {
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
        var outflow: Outflow
        var writableWaiters: [() -> Void] = []
        var roomWaiters: [EventLoopPromise<Void>] = []

        init(method: Method, outflow: Outflow) {
            self.method = method
            self.outflow = outflow
        }
    }

    /// A stream whose call finished while some of its DATA waited for the client's windows.
    struct Closing {
        var outflow: Outflow
        /// The trailers' header block, sent after the last of that DATA.
        var trailers: [UInt8]
    }

    /// The largest frame this server accepts (its SETTINGS_MAX_FRAME_SIZE).
    static let maxInboundFrameSize = 1 << 20
    static let initialStreamWindow = 1 << 20
    static let connectionWindow = 16 << 20
    static let maxHeaderListSize = 1 << 16
    /// PING and SETTINGS answers waiting on a connection that does not read its socket.
    static let maxUnsentControlAnswers = 10_000

    private let routes: [String: Method]
    private let limits: CallServer.Limits
    let executor: EventLoopTaskExecutor
    private var context: ChannelHandlerContext?
    private var calls: [Int: Call] = [:]
    private var closing: [Int: Closing] = [:]
    /// Streams holding DATA, in the order they began to hold it.
    private var waiting: [Int] = []
    /// Streams waiting for the connection to take more (NIO's pending writes above its
    /// high-water mark), in the order they began to wait; served in turn when it does.
    private var connectionWaiters: [(stream: Int, body: () -> Void)] = []

    private var inbound = ByteBuffer()
    private let output: HTTP2Wire.TurnOutput
    private var prefaceReceived = false
    /// After a connection error: nothing more is read.
    private var failed = false
    private var decoder = HPACKDecoder(
        allocator: ByteBufferAllocator(), maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize,
        maxHeaderListSize: CallConnectionHandler.maxHeaderListSize)
    private var headerBlocks = HTTP2Wire.HeaderBlocks()

    /// DATA bytes received on the connection and not yet given back to its window.
    private var unacknowledged = 0
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE and SETTINGS_MAX_FRAME_SIZE, and what is left of
    /// the connection window it granted.
    private var peerInitialWindow = HTTP2Wire.defaultInitialWindow
    private var peerMaxFrameSize = HTTP2Wire.defaultMaxFrameSize
    private var connectionWindow = HTTP2Wire.defaultInitialWindow
    /// Inbound PING and SETTINGS frames in the current 30-second period.
    private var controlFrames = 0
    private var controlPeriodStart = NIODeadline.now()
    private var unsentControlAnswers = 0
    /// Request bytes held in calls' partial messages (each call's `pending`), all calls together.
    private(set) var bufferedRequestBytes = 0
    /// After GOAWAY: the connection closes once its calls are over.
    private var draining = false
    private var highestStream = 0

    init(routes: [String: Method], limits: CallServer.Limits, executor: EventLoopTaskExecutor) {
        self.routes = routes
        self.limits = limits
        self.executor = executor
        output = HTTP2Wire.TurnOutput(pool: executor.chunks)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        output.attach(context)
        if context.channel.isActive { sendPreface() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        output.detach()
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        sendPreface()
    }

    /// The server's connection preface: its SETTINGS, and the connection window (64 KiB
    /// whatever SETTINGS say) raised to 16 MiB.
    private func sendPreface() {
        HTTP2Wire.writeSettings(
            &output.bytes,
            [
                (.maxConcurrentStreams, limits.maxConcurrentStreams),
                (.initialWindowSize, Self.initialStreamWindow),
                (.maxFrameSize, Self.maxInboundFrameSize),
                (.maxHeaderListSize, Self.maxHeaderListSize)
            ])
        HTTP2Wire.writeWindowUpdate(&output.bytes, stream: 0, increment: Self.connectionWindow - HTTP2Wire.defaultInitialWindow)
        output.flush()
    }

    private var bound: NIOLoopBound<CallConnectionHandler> { NIOLoopBound(self, eventLoop: executor.loop) }

    // MARK: - Inbound frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var incoming = unwrapInboundIn(data)
        if inbound.readableBytes == 0 { inbound = incoming } else { inbound.writeBuffer(&incoming) }
        if !prefaceReceived {
            let n = min(inbound.readableBytes, HTTP2Wire.preface.count)
            guard inbound.getBytes(at: inbound.readerIndex, length: n)!.elementsEqual(HTTP2Wire.preface[0..<n]) else {
                // Not HTTP/2 with prior knowledge: nothing to answer in.
                failed = true
                context.close(promise: nil)
                return
            }
            guard n == HTTP2Wire.preface.count else { return }
            inbound.moveReaderIndex(forwardBy: n)
            prefaceReceived = true
        }
        while !failed, let header = HTTP2Wire.FrameHeader.peek(inbound) {
            guard header.length <= Self.maxInboundFrameSize else {
                connectionError(.frameSizeError)
                return
            }
            guard inbound.readableBytes >= HTTP2Wire.frameHeaderLength + header.length else { break }
            inbound.moveReaderIndex(forwardBy: HTTP2Wire.frameHeaderLength)
            let payload = inbound.readSlice(length: header.length)!
            frame(header, payload)
        }
        if inbound.readableBytes == 0 { inbound = ByteBuffer() } else if inbound.readerIndex >= 1 << 16 { inbound.discardReadBytes() }
    }

    private func frame(_ h: HTTP2Wire.FrameHeader, _ payload: ByteBuffer) {
        if headerBlocks.isOpen { return headerBlock(headerBlocks.continuation(h, payload)) }
        guard let type = HTTP2Wire.FrameType(rawValue: h.type) else { return }  // unknown types are ignored
        switch type {
        case .data: data(h, payload)
        case .headers: headers(h, payload)
        case .priority:
            guard h.stream != 0 else { return connectionError(.protocolError) }
        case .rstStream:
            guard h.stream != 0, h.stream <= highestStream else { return connectionError(.protocolError) }
            guard h.length == 4 else { return connectionError(.frameSizeError) }
            end(h.stream)
        case .settings: settings(h, payload)
        case .pushPromise, .continuation: connectionError(.protocolError)
        case .ping:
            guard h.stream == 0 else { return connectionError(.protocolError) }
            guard h.length == 8 else { return connectionError(.frameSizeError) }
            guard h.flags & HTTP2Wire.Flag.ack == 0 else { return }
            guard countControlFrame() else { return }
            HTTP2Wire.writeFrameHeader(&output.bytes, length: 8, type: .ping, flags: HTTP2Wire.Flag.ack, stream: 0)
            var opaque = payload
            output.bytes.writeBuffer(&opaque)
            output.scheduleFlush()
        case .goAway:
            guard h.stream == 0 else { return connectionError(.protocolError) }
        // The client opens no more calls; those open go on, and it closes the connection.
        case .windowUpdate: windowUpdate(h, payload)
        }
    }

    private func data(_ h: HTTP2Wire.FrameHeader, _ payload: ByteBuffer) {
        guard h.stream != 0, h.stream <= highestStream else { return connectionError(.protocolError) }
        giveBackConnection(h.length)
        guard let body = HTTP2Wire.content(h, payload, skipping: 0) else { return connectionError(.protocolError) }
        // DATA for a stream whose call is over (answered, reset) is dropped.
        if calls[h.stream] != nil { received(body, flowControlled: h.length, on: h.stream) }
        if h.flags & HTTP2Wire.Flag.endStream != 0 { requestsEnded(h.stream) }
    }

    private func headers(_ h: HTTP2Wire.FrameHeader, _ payload: ByteBuffer) {
        guard h.stream != 0, h.stream % 2 == 1 else { return connectionError(.protocolError) }
        headerBlock(headerBlocks.headers(h, payload))
    }

    private func headerBlock(_ outcome: HTTP2Wire.HeaderBlocks.Outcome) {
        switch outcome {
        case .complete(let stream, let endStream, let block): headersComplete(stream: stream, endStream: endStream, block: block)
        case .incomplete: break
        case .error(let code): connectionError(code)
        }
    }

    private func headersComplete(stream: Int, endStream: Bool, block: ByteBuffer) {
        // Every block is decoded, whatever becomes of its stream: the decoder's table must
        // follow the client's encoder.
        var b = block
        let headers: HPACKHeaders
        do { headers = try decoder.decodeHeaders(from: &b) } catch { return connectionError(.compressionError) }
        if calls[stream] != nil {
            // Trailers from the client: nothing in them for us, but they end its side.
            guard endStream else { return connectionError(.protocolError) }
            requestsEnded(stream)
            return
        }
        guard stream > highestStream else {
            // A stream that is over: its call was answered or reset (the client may send
            // trailers after the server finished), else the client reuses an old stream.
            if closing[stream] == nil && endStream == false { reset(stream, .streamClosed) }
            return
        }
        highestStream = stream
        start(stream, headers)
        if endStream { requestsEnded(stream) }
    }

    private func settings(_ h: HTTP2Wire.FrameHeader, _ payload: ByteBuffer) {
        guard h.stream == 0 else { return connectionError(.protocolError) }
        if h.flags & HTTP2Wire.Flag.ack != 0 {
            if h.length != 0 { connectionError(.frameSizeError) }
            return
        }
        guard h.length % 6 == 0 else { return connectionError(.frameSizeError) }
        guard countControlFrame() else { return }
        var p = payload
        while let id = p.readInteger(as: UInt16.self), let raw = p.readInteger(as: UInt32.self) {
            let value = Int(raw)
            switch HTTP2Wire.Setting(rawValue: id) {
            case .initialWindowSize:
                guard value <= HTTP2Wire.maxWindow else { return connectionError(.flowControlError) }
                let delta = value - peerInitialWindow
                peerInitialWindow = value
                for s in Array(calls.keys) {
                    calls[s]!.outflow.window += delta
                    guard calls[s]!.outflow.window <= HTTP2Wire.maxWindow else { return connectionError(.flowControlError) }
                }
                for s in Array(closing.keys) {
                    closing[s]!.outflow.window += delta
                    guard closing[s]!.outflow.window <= HTTP2Wire.maxWindow else { return connectionError(.flowControlError) }
                }
            case .maxFrameSize:
                guard value >= HTTP2Wire.defaultMaxFrameSize && value < 1 << 24 else { return connectionError(.protocolError) }
                peerMaxFrameSize = value
            case .enablePush:
                guard value <= 1 else { return connectionError(.protocolError) }
            default:
                break
            }
        }
        HTTP2Wire.writeFrameHeader(&output.bytes, length: 0, type: .settings, flags: HTTP2Wire.Flag.ack, stream: 0)
        pumpWaiting()
        output.scheduleFlush()
    }

    private func windowUpdate(_ h: HTTP2Wire.FrameHeader, _ payload: ByteBuffer) {
        guard h.length == 4 else { return connectionError(.frameSizeError) }
        let increment = Int(payload.getInteger(at: payload.readerIndex, as: UInt32.self)! & 0x7FFF_FFFF)
        if h.stream == 0 {
            guard increment > 0 else { return connectionError(.protocolError) }
            connectionWindow += increment
            guard connectionWindow <= HTTP2Wire.maxWindow else { return connectionError(.flowControlError) }
            pumpWaiting()
            return
        }
        guard h.stream <= highestStream else { return connectionError(.protocolError) }
        if calls[h.stream] != nil {
            calls[h.stream]!.outflow.window += increment
            guard increment > 0, calls[h.stream]!.outflow.window <= HTTP2Wire.maxWindow else {
                reset(h.stream, increment > 0 ? .flowControlError : .protocolError)
                end(h.stream)
                return
            }
        } else if closing[h.stream] != nil {
            closing[h.stream]!.outflow.window += increment
        } else {
            return
        }
        pump(h.stream)
        output.scheduleFlush()
    }

    /// Counts an inbound PING or SETTINGS; false (and the connection ends) past the limits.
    private func countControlFrame() -> Bool {
        let now = NIODeadline.now()
        if now - controlPeriodStart >= .seconds(30) {
            controlPeriodStart = now
            controlFrames = 0
        }
        controlFrames += 1
        if context?.channel.isWritable == false { unsentControlAnswers += 1 } else { unsentControlAnswers = 0 }
        guard controlFrames <= limits.maxControlFramesPer30s, unsentControlAnswers <= Self.maxUnsentControlAnswers else {
            connectionError(.enhanceYourCalm)
            return false
        }
        return true
    }

    /// Ends the connection: GOAWAY with the error, then close.
    private func connectionError(_ code: HTTP2Wire.ErrorCode) {
        guard !failed, let context else { return }
        failed = true
        HTTP2Wire.writeGoAway(&output.bytes, lastStream: highestStream, code)
        output.flush()
        context.close(promise: nil)
    }

    // MARK: - Calls

    /// A new call: check what HTTP/2 and gRPC require of its headers, find its method.
    private func start(_ id: Int, _ headers: HPACKHeaders) {
        guard !draining, calls.count < limits.maxConcurrentStreams else {
            reset(id, .refusedStream)
            return
        }
        guard headers.first(name: ":method") == "POST",
            let contentType = headers.first(name: "content-type"), contentType.hasPrefix("application/grpc")
        else {
            // Not a gRPC request (as grpc-go answers: 415 Unsupported Media Type).
            writeHeaders(id, HTTP2Wire.unsupportedMediaTypeHeaders, endStream: true)
            output.scheduleFlush()
            return
        }
        let path = headers.first(name: ":path") ?? ""
        guard let method = routes[path] else {
            calls[id] = Call(method: .unary { _, _ in }, outflow: Outflow(window: peerInitialWindow))
            finish(stream: id, status: .unimplemented(Self.unknown(path)))
            return
        }
        calls[id] = Call(method: method, outflow: Outflow(window: peerInitialWindow))
        if case .streaming(let open) = method {
            let receiver = open(ServerStream(connection: bound, stream: id, executor: executor))
            calls[id]?.receiver = receiver
        }
    }

    /// grpc-go's words for a path it does not serve.
    static func unknown(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count == 2 else { return "malformed method name: \"\(path)\"" }
        return "unknown service \(parts[0])"
    }

    /// Cuts request messages out of a DATA frame's content.
    private func received(_ data: ByteBuffer, flowControlled: Int, on id: Int) {
        calls[id]!.unacknowledged += flowControlled
        if calls[id]!.unacknowledged >= 256 << 10 {
            HTTP2Wire.writeWindowUpdate(&output.bytes, stream: id, increment: calls[id]!.unacknowledged)
            calls[id]!.unacknowledged = 0
            output.scheduleFlush()
        }
        // Messages are cut from the frame itself; only an unfinished one is copied aside.
        var input: ByteBuffer
        if calls[id]!.pending.readableBytes == 0 {
            input = data
        } else {
            input = calls[id]!.pending
            calls[id]!.pending = ByteBuffer()
            bufferedRequestBytes -= input.readableBytes
            var more = data
            input.writeBuffer(&more)
        }
        while input.readableBytes >= 5, let call = calls[id] {
            let flag = input.getInteger(at: input.readerIndex, as: UInt8.self)!
            let length = Int(input.getInteger(at: input.readerIndex + 1, as: UInt32.self)!)
            if length > limits.maxRequestMessageBytes {
                finish(
                    stream: id,
                    status: .resourceExhausted("grpc: received message larger than max (\(length) vs. \(limits.maxRequestMessageBytes))"))
                reset(id, .noError)
                return
            }
            if flag != 0 {
                finish(stream: id, status: .unimplemented("grpc: compressed messages are not supported by this server"))
                reset(id, .noError)
                return
            }
            guard input.readableBytes >= 5 + length else { break }
            input.moveReaderIndex(forwardBy: 5)
            let message = input.readBytes(length: length)!
            switch call.method {
            case .unary:
                if call.request != nil {
                    finish(stream: id, status: GRPCStatus(.unimplemented, "grpc: a unary call takes one request message"))
                    reset(id, .noError)
                    return
                }
                calls[id]!.request = message
            case .streaming:
                call.receiver?.received(message)
            }
        }
        guard input.readableBytes > 0, calls[id] != nil else { return }
        var rest = ByteBuffer()
        rest.writeBuffer(&input)
        calls[id]!.pending = rest
        bufferedRequestBytes += rest.readableBytes
        if bufferedRequestBytes > limits.maxBufferedRequestBytesPerConnection {
            // Partial messages on many streams at once: more than any client needs. As NIO's
            // own flood limits do: GOAWAY ENHANCE_YOUR_CALM, and the connection closes.
            connectionError(.enhanceYourCalm)
        }
    }

    private func requestsEnded(_ id: Int) {
        guard let call = calls[id], !call.requestsEnded else { return }
        call.requestsEnded = true
        switch call.method {
        case .unary(let handler):
            guard let request = call.request else {
                finish(stream: id, status: .internalError("grpc: the client sent no request message"))
                return
            }
            calls[id]!.request = nil
            handler(request, UnaryCall(connection: bound, stream: id, executor: executor))
        case .streaming:
            call.receiver?.requestsEnded()
        }
    }

    /// The client cancelled the call (RST_STREAM) or the stream is gone.
    private func end(_ id: Int) {
        closing[id] = nil
        if let call = calls.removeValue(forKey: id) {
            ended(call, GRPCStatus(.cancelled, "the call was cancelled"))
        } else {
            closeIfDrained()
        }
    }

    /// What every end of a call does once it is out of `calls`: its partial request leaves the
    /// connection's count, whoever waits for room hears `reason`, its receiver hears the end.
    private func ended(_ call: Call, _ reason: GRPCStatus) {
        bufferedRequestBytes -= call.pending.readableBytes
        for p in call.roomWaiters { p.fail(reason) }
        call.receiver?.ended()
        closeIfDrained()
    }

    private func reset(_ id: Int, _ code: HTTP2Wire.ErrorCode) {
        HTTP2Wire.writeRstStream(&output.bytes, stream: id, code)
        output.scheduleFlush()
    }

    /// Gives DATA bytes back to the connection window, 4 MiB at a time.
    private func giveBackConnection(_ bytes: Int) {
        unacknowledged += bytes
        guard unacknowledged >= 4 << 20 else { return }
        HTTP2Wire.writeWindowUpdate(&output.bytes, stream: 0, increment: unacknowledged)
        unacknowledged = 0
        output.scheduleFlush()
    }

    // MARK: - Outbound

    func respond(stream: Int, message: [UInt8]) {
        guard calls[stream] != nil else { return }
        send(stream: stream, messages: [message])
        finish(stream: stream, status: .ok)
    }

    func isOpen(stream: Int) -> Bool { calls[stream] != nil }

    /// Writes messages as one DATA frame (HEADERS first if none were sent).
    func send(stream: Int, messages: [[UInt8]]) {
        send(stream: stream, sizes: messages.map(\.count)) { i, to in
            messages[i].withUnsafeBytes { to.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    /// Writes messages as DATA: message `i` is `sizes[i]` bytes, written by `write(i, at)`
    /// straight into the outgoing buffer after its length prefix — as many whole messages per
    /// frame as the client's windows and frame size admit (and at most one output chunk), the
    /// rest into the stream's held bytes, which go out as the windows open. The messages of a
    /// frame are written through one access to the buffer (a ByteBuffer write per field costs
    /// an exclusivity check each, which showed in the watch fan-out's profile).
    func send(stream id: Int, sizes: [Int], write: (Int, UnsafeMutableRawPointer) -> Void) {
        guard context != nil, calls[id] != nil, !sizes.isEmpty else { return }
        sendHeaders(id)
        var next = 0
        if calls[id]!.outflow.held.readableBytes == 0 {
            let frameLimit = min(peerMaxFrameSize, HTTP2Wire.TurnOutput.chunk - 9)
            while next < sizes.count {
                let room = min(calls[id]!.outflow.window, connectionWindow, frameLimit)
                var end = next
                var total = 0
                while end < sizes.count && total + 5 + sizes[end] <= room {
                    total += 5 + sizes[end]
                    end += 1
                }
                if end == next { break }
                output.reserve(9 + total)
                HTTP2Wire.writeFrameHeader(&output.bytes, length: total, type: .data, stream: id)
                Self.writeMessages(into: &output.bytes, sizes: sizes, next..<end, total: total, write: write)
                calls[id]!.outflow.window -= total
                connectionWindow -= total
                next = end
            }
        }
        if next < sizes.count {
            let wasHolding = calls[id]!.outflow.held.readableBytes > 0
            let total = sizes[next...].reduce(0) { $0 + 5 + $1 }
            Self.writeMessages(into: &calls[id]!.outflow.held, sizes: sizes, next..<sizes.count, total: total, write: write)
            calls[id]!.outflow.drain(into: output, stream: id, connectionWindow: &connectionWindow, maxFrame: peerMaxFrameSize)
            if !wasHolding && calls[id]!.outflow.held.readableBytes > 0 { waiting.append(id) }
        }
        output.scheduleFlush()
    }

    private static func writeMessages(
        into buffer: inout ByteBuffer, sizes: [Int], _ range: Range<Int>, total: Int,
        write: (Int, UnsafeMutableRawPointer) -> Void
    ) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { out in
            var at = out.baseAddress!
            for i in range {
                let n = sizes[i]
                precondition(n >= 0 && n <= Int(UInt32.max), "a message's size out of range")
                at.storeBytes(of: 0, as: UInt8.self)
                at.storeBytes(of: UInt32(n).bigEndian, toByteOffset: 1, as: UInt32.self)
                write(i, at + 5)
                at += 5 + n
            }
            return total
        }
    }

    /// A header block in one HEADERS frame (every block this server sends fits one).
    private func writeHeaders(_ id: Int, _ first: [UInt8], _ second: [UInt8] = [], endStream: Bool) {
        let flags = HTTP2Wire.Flag.endHeaders | (endStream ? HTTP2Wire.Flag.endStream : 0)
        HTTP2Wire.writeFrameHeader(&output.bytes, length: first.count + second.count, type: .headers, flags: flags, stream: id)
        output.bytes.writeBytes(first)
        output.bytes.writeBytes(second)
    }

    private func sendHeaders(_ id: Int) {
        guard !calls[id]!.headersSent else { return }
        calls[id]!.headersSent = true
        writeHeaders(id, HTTP2Wire.grpcResponseHeaders, endStream: false)
    }

    /// Ends a call with its trailers (a trailers-only answer when nothing was sent), after any
    /// DATA it holds.
    func finish(stream id: Int, status: GRPCStatus) {
        guard context != nil, let call = calls.removeValue(forKey: id) else { return }
        let trailers =
            status == .ok
            ? HTTP2Wire.okTrailers
            : HTTP2Wire.trailers(code: status.code.rawValue, message: Array(Self.percentEncoded(status.message).utf8))
        let first = call.headersSent ? [] : HTTP2Wire.grpcResponseHeaders
        if call.outflow.held.readableBytes == 0 {
            writeHeaders(id, first, trailers, endStream: true)
        } else {
            closing[id] = Closing(outflow: call.outflow, trailers: first + trailers)
        }
        output.scheduleFlush()
        ended(call, GRPCStatus(.cancelled, "the call has ended"))
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

    /// Sends what a stream holds as far as the windows admit; a finished call's trailers follow
    /// its last byte. Wakes whoever waits for the stream to be writable.
    private func pump(_ id: Int) {
        if calls[id] != nil {
            calls[id]!.outflow.drain(into: output, stream: id, connectionWindow: &connectionWindow, maxFrame: peerMaxFrameSize)
            wakeIfWritable(id)
        } else if closing[id] != nil {
            closing[id]!.outflow.drain(into: output, stream: id, connectionWindow: &connectionWindow, maxFrame: peerMaxFrameSize)
            if closing[id]!.outflow.held.readableBytes == 0 {
                writeHeaders(id, closing.removeValue(forKey: id)!.trailers, endStream: true)
                closeIfDrained()
            }
        }
    }

    private func holds(_ id: Int) -> Bool {
        (calls[id]?.outflow.held.readableBytes ?? closing[id]?.outflow.held.readableBytes ?? 0) > 0
    }

    /// After the connection window or every stream's window grew: the holding streams in turn.
    private func pumpWaiting() {
        guard !waiting.isEmpty else { return }
        let streams = waiting
        waiting = []
        for id in streams {
            pump(id)
            if holds(id) { waiting.append(id) }
        }
        output.scheduleFlush()
    }

    private func queued(_ call: Call) -> Int { call.outflow.held.readableBytes }

    /// The connection's bytes are not going out as fast as they are written: the socket is
    /// full and NIO holds more than its high-water mark.
    private var connectionBlocked: Bool { !(context?.channel.isWritable ?? true) }

    func isBlocked(stream: Int) -> Bool {
        guard let call = calls[stream] else { return false }
        return queued(call) > limits.streamHighWater || connectionBlocked
    }

    func whenWritable(stream id: Int, _ body: @escaping () -> Void) {
        guard let call = calls[id] else { return }
        if queued(call) > limits.streamHighWater {
            calls[id]!.writableWaiters.append(body)
        } else if connectionBlocked {
            connectionWaiters.append((id, body))
        } else {
            body()
        }
    }

    /// The connection takes bytes again: the streams waiting for it go on, in turn, until it
    /// is backed up again; those not reached keep their place ahead of any that wait anew.
    private func wakeConnectionWaiters() {
        let waiters = connectionWaiters
        connectionWaiters = []
        var next = 0
        while next < waiters.count && !connectionBlocked {
            let w = waiters[next]
            next += 1
            if calls[w.stream] != nil { w.body() }
        }
        if next < waiters.count { connectionWaiters = Array(waiters[next...]) + connectionWaiters }
    }

    /// Succeeds once the stream is not blocked; fails when the call has ended.
    func room(stream id: Int) -> EventLoopFuture<Void> {
        guard let call = calls[id] else { return executor.loop.makeFailedFuture(GRPCStatus(.cancelled, "the call has ended")) }
        if queued(call) <= limits.streamHighWater { return executor.loop.makeSucceededVoidFuture() }
        let p = executor.loop.makePromise(of: Void.self)
        calls[id]!.roomWaiters.append(p)
        return p.futureResult
    }

    private func wakeIfWritable(_ id: Int) {
        guard let call = calls[id], !call.writableWaiters.isEmpty || !call.roomWaiters.isEmpty,
            queued(call) <= limits.streamHighWater / 2
        else { return }
        let promises = call.roomWaiters
        let bodies = call.writableWaiters
        call.writableWaiters = []
        call.roomWaiters = []
        for p in promises { p.succeed() }
        for body in bodies { body() }
    }

    // MARK: - Connection

    /// GOAWAY: no new calls; the connection closes when the last call is over.
    func drain() {
        guard context != nil, !draining else { return }
        draining = true
        HTTP2Wire.writeGoAway(&output.bytes, lastStream: highestStream, .noError)
        output.flush()
        closeIfDrained()
    }

    private func closeIfDrained() {
        guard draining, calls.isEmpty, closing.isEmpty, let context else { return }
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let open = calls
        calls.removeAll()
        closing.removeAll()
        for (_, call) in open { ended(call, GRPCStatus(.unavailable, "connection closed")) }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        if context.channel.isWritable {
            unsentControlAnswers = 0
            wakeConnectionWaiters()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

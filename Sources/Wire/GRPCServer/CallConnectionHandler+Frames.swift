import GRPCWire
import NIOCore
import NIOHPACK

/// Reading the connection: the client's preface and frames (HTTP/2 framing, its SETTINGS, the
/// windows it grants, control-frame limits), and the calls those frames start, feed and end.
extension CallConnectionHandler {
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
    func ended(_ call: Call, _ reason: GRPCStatus) {
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
}

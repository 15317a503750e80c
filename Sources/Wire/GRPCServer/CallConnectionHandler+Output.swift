import GRPCWire
import NIOCore

/// Writing the connection: the answers' HEADERS, DATA and trailers, and outbound flow control
/// (DATA held per stream until the client's windows open, and who waits for room).
extension CallConnectionHandler {
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
    func writeHeaders(_ id: Int, _ first: [UInt8], _ second: [UInt8] = [], endStream: Bool) {
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
    func pump(_ id: Int) {
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
    func pumpWaiting() {
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
    func wakeConnectionWaiters() {
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
}

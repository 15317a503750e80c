package import NIOCore

/// The parts of HTTP/2 (RFC 9113) a gRPC server needs, written and read as bytes: frame
/// headers, the frame types and flags, error codes, and the few fixed header blocks a gRPC
/// answer carries, HPACK-encoded once (RFC 7541: static-table names, literals that never enter
/// the dynamic table, so the encoder keeps no state and needs no table-size updates).
package enum HTTP2Wire {
    /// What a client sends first.
    package static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    package static let frameHeaderLength = 9
    /// The largest frame every peer must accept (SETTINGS_MAX_FRAME_SIZE's initial value).
    package static let defaultMaxFrameSize = 16_384
    package static let defaultInitialWindow = 65_535
    package static let maxWindow = Int(Int32.max)

    package enum FrameType: UInt8 {
        case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4, pushPromise = 5,
            ping = 6, goAway = 7, windowUpdate = 8, continuation = 9
    }

    package enum Flag {
        package static let endStream: UInt8 = 0x1
        package static let ack: UInt8 = 0x1
        package static let endHeaders: UInt8 = 0x4
        package static let padded: UInt8 = 0x8
        package static let priority: UInt8 = 0x20
    }

    package enum ErrorCode: UInt32 {
        case noError = 0, protocolError = 1, internalError = 2, flowControlError = 3, settingsTimeout = 4,
            streamClosed = 5, frameSizeError = 6, refusedStream = 7, cancel = 8, compressionError = 9,
            connectError = 10, enhanceYourCalm = 11, inadequateSecurity = 12, http11Required = 13
    }

    package enum Setting: UInt16 {
        case headerTableSize = 1, enablePush = 2, maxConcurrentStreams = 3, initialWindowSize = 4,
            maxFrameSize = 5, maxHeaderListSize = 6
    }

    /// A frame's header as read: the payload (`length` bytes) follows it.
    package struct FrameHeader: Equatable {
        package var length: Int
        package var type: UInt8
        package var flags: UInt8
        package var stream: Int

        @inlinable
        package init(length: Int, type: UInt8, flags: UInt8, stream: Int) {
            self.length = length
            self.type = type
            self.flags = flags
            self.stream = stream
        }

        /// Reads a frame header at the buffer's reader index without moving it; nil if fewer than 9 bytes.
        @inlinable
        package static func peek(_ b: ByteBuffer) -> FrameHeader? {
            guard b.readableBytes >= frameHeaderLength,
                let high = b.getInteger(at: b.readerIndex, as: UInt16.self),
                let low = b.getInteger(at: b.readerIndex + 2, as: UInt8.self),
                let type = b.getInteger(at: b.readerIndex + 3, as: UInt8.self),
                let flags = b.getInteger(at: b.readerIndex + 4, as: UInt8.self),
                let stream = b.getInteger(at: b.readerIndex + 5, as: UInt32.self)
            else { return nil }
            return FrameHeader(length: Int(high) << 8 | Int(low), type: type, flags: flags, stream: Int(stream & 0x7FFF_FFFF))
        }
    }

    @inlinable
    package static func writeFrameHeader(_ out: inout ByteBuffer, length: Int, type: FrameType, flags: UInt8 = 0, stream: Int) {
        precondition(length >= 0 && length < 1 << 24 && stream >= 0 && stream <= 0x7FFF_FFFF)
        out.writeInteger(UInt16(truncatingIfNeeded: length >> 8))
        out.writeInteger(UInt8(truncatingIfNeeded: length))
        out.writeInteger(type.rawValue)
        out.writeInteger(flags)
        out.writeInteger(UInt32(stream))
    }

    package static func writeSettings(_ out: inout ByteBuffer, _ settings: [(Setting, Int)]) {
        writeFrameHeader(&out, length: 6 * settings.count, type: .settings, stream: 0)
        for (s, v) in settings {
            out.writeInteger(s.rawValue)
            out.writeInteger(UInt32(v))
        }
    }

    @inlinable
    package static func writeWindowUpdate(_ out: inout ByteBuffer, stream: Int, increment: Int) {
        writeFrameHeader(&out, length: 4, type: .windowUpdate, stream: stream)
        out.writeInteger(UInt32(increment))
    }

    package static func writeRstStream(_ out: inout ByteBuffer, stream: Int, _ code: ErrorCode) {
        writeFrameHeader(&out, length: 4, type: .rstStream, stream: stream)
        out.writeInteger(code.rawValue)
    }

    package static func writeGoAway(_ out: inout ByteBuffer, lastStream: Int, _ code: ErrorCode) {
        writeFrameHeader(&out, length: 8, type: .goAway, stream: 0)
        out.writeInteger(UInt32(lastStream))
        out.writeInteger(code.rawValue)
    }

    /// DATA a stream has written and the peer's windows have not admitted yet.
    package struct Outflow {
        /// The stream window the peer granted and is not used yet (negative after SETTINGS lowered it).
        package var window: Int
        package var held = ByteBuffer()

        package init(window: Int) { self.window = window }

        /// Frames as much of `held` as the stream and connection windows admit into `out`.
        @inlinable
        package mutating func drain(into out: TurnOutput, stream: Int, connectionWindow: inout Int, maxFrame: Int) {
            while held.readableBytes > 0 {
                let n = min(held.readableBytes, window, connectionWindow, maxFrame)
                guard n > 0 else { break }
                out.reserve(9 + n)
                HTTP2Wire.writeFrameHeader(&out.bytes, length: n, type: .data, stream: stream)
                var piece = held.readSlice(length: n)!
                out.bytes.writeBuffer(&piece)
                window -= n
                connectionWindow -= n
            }
            if held.readableBytes == 0 { held = ByteBuffer() } else if held.readerIndex >= 1 << 16 { held.discardReadBytes() }
        }
    }

    /// A header block arriving in a HEADERS frame and any CONTINUATION frames after it (RFC
    /// 9113 §4.3): until it ends no other frame may come, and it is bounded.
    package struct HeaderBlocks {
        package enum Outcome {
            /// A whole block: its stream, END_STREAM, and the bytes to decode.
            case complete(stream: Int, endStream: Bool, block: ByteBuffer)
            /// The block goes on in a CONTINUATION frame.
            case incomplete
            /// The connection error the frame is.
            case error(ErrorCode)
        }

        /// A block (HEADERS and its CONTINUATIONs) larger than this is ENHANCE_YOUR_CALM.
        package static let maxBytes = 1 << 18
        @usableFromInline var open: (stream: Int, endStream: Bool, bytes: ByteBuffer)?

        package init() {}

        /// Whether a block has begun and not ended: every frame goes to `continuation` then.
        package var isOpen: Bool { open != nil }

        /// A HEADERS frame: its padding and priority fields taken off.
        @inlinable
        package mutating func headers(_ h: FrameHeader, _ payload: ByteBuffer) -> Outcome {
            let fixed = h.flags & Flag.priority != 0 ? 5 : 0
            guard let fragment = content(h, payload, skipping: fixed) else { return .error(.protocolError) }
            let endStream = h.flags & Flag.endStream != 0
            if h.flags & Flag.endHeaders != 0 { return .complete(stream: h.stream, endStream: endStream, block: fragment) }
            var copy = ByteBuffer()
            var f = fragment
            copy.writeBuffer(&f)
            open = (h.stream, endStream, copy)
            return .incomplete
        }

        /// Any frame while a block is open: only CONTINUATION of the same stream may come.
        package mutating func continuation(_ h: FrameHeader, _ payload: ByteBuffer) -> Outcome {
            guard var block = open, h.type == FrameType.continuation.rawValue, h.stream == block.stream else {
                return .error(.protocolError)
            }
            open = nil
            var fragment = payload
            block.bytes.writeBuffer(&fragment)
            guard block.bytes.readableBytes <= Self.maxBytes else { return .error(.enhanceYourCalm) }
            if h.flags & Flag.endHeaders != 0 { return .complete(stream: block.stream, endStream: block.endStream, block: block.bytes) }
            open = block
            return .incomplete
        }
    }

    /// What a connection's handler writes during one event-loop turn: its frames gathered in
    /// `bytes`, handed to the channel as one buffer with one flush when the turn ends, however
    /// many calls wrote in it.
    package final class TurnOutput {
        /// Where frames are written; at most `chunk` bytes unless one write needs more (see
        /// `reserve`).
        package var bytes = ByteBuffer()
        @usableFromInline var flushPending = false
        /// Chunks handed to the channel this turn and not flushed yet.
        private var unflushed = false
        @usableFromInline var context: ChannelHandlerContext?
        /// A turn's output goes to the channel in pieces of about this size: a buffer grown to
        /// megabytes (a watch burst) was copied at every doubling, page-faulted in fresh and
        /// given back to the kernel when freed — a tenth of the members' CPU in that profile.
        package static let chunk = 1 << 16
        /// Chunks come from here and go back once written, when given (the server's, one per
        /// event loop).
        private let pool: ChunkPool?

        package init(pool: ChunkPool? = nil) { self.pool = pool }

        /// From `handlerAdded`: where the bytes go.
        package func attach(_ context: ChannelHandlerContext) {
            self.context = context
            bytes = context.channel.allocator.buffer(capacity: 1024)
        }

        /// From `handlerRemoved`: nothing more is written.
        package func detach() { context = nil }

        /// Makes room for `count` more bytes in `bytes` without growing it past a chunk: what
        /// it holds goes to the channel (flushed when the turn ends) and a new chunk begins.
        @inlinable
        package func reserve(_ count: Int) {
            guard bytes.writableBytes < count else { return }
            grow(count)
        }

        /// `reserve`'s rare half: a new chunk or a larger buffer.
        @usableFromInline
        func grow(_ count: Int) {
            guard let context, bytes.readableBytes > 0, bytes.readableBytes + count > Self.chunk else {
                bytes.reserveCapacity(minimumWritableBytes: count)
                return
            }
            context.write(NIOAny(bytes), promise: nil)
            unflushed = true
            if let pool, count <= Self.chunk {
                // Taken before giving: the chunk just written is the channel's until it is sent.
                let next = pool.take(context.channel.allocator)
                pool.give(bytes)
                bytes = next
            } else {
                bytes = context.channel.allocator.buffer(capacity: max(Self.chunk, count))
            }
        }

        /// Flushes once, when this event-loop turn ends.
        @inlinable
        package func scheduleFlush() {
            guard !flushPending, let context else { return }
            flushPending = true
            context.eventLoop.assumeIsolatedUnsafeUnchecked().execute { [self] in
                flushPending = false
                flush()
            }
        }

        /// Hands everything written so far to the channel now.
        package func flush() {
            guard let context else { return }
            guard bytes.readableBytes > 0 else {
                if unflushed { context.flush() }
                unflushed = false
                return
            }
            let written = bytes
            // A connection that wrote a lot will likely again: a pooled chunk (a fresh buffer of
            // tens of KiB per turn showed in the allocator's share of a watch burst).
            if let pool, written.readableBytes >= Self.chunk / 16 {
                bytes = pool.take(context.channel.allocator)
            } else {
                bytes = context.channel.allocator.buffer(capacity: max(1024, min(written.readableBytes, Self.chunk)))
            }
            unflushed = false
            context.writeAndFlush(NIOAny(written), promise: nil)
            if let pool, written.capacity == Self.chunk { pool.give(written) }
        }
    }

    /// Output chunks of one event loop, kept for reuse: a chunk given back is still the
    /// channel's until written, and is taken again (oldest first) only after — `clear()` reuses
    /// its memory when no one else holds it, and allocates anew when the channel still does.
    /// Freshly allocated chunks were page-faulted in and handed back to the kernel (madvise)
    /// on every watch burst. Holds at most `limit` chunks (4 MiB). Used on its loop only.
    package final class ChunkPool: @unchecked Sendable {
        private var chunks: [ByteBuffer] = []
        private var oldest = 0
        package let limit: Int

        package init(limit: Int = 64) { self.limit = limit }

        package var count: Int { chunks.count - oldest }

        /// A chunk of `TurnOutput.chunk` bytes, empty.
        package func take(_ allocator: ByteBufferAllocator) -> ByteBuffer {
            guard oldest < chunks.count else { return allocator.buffer(capacity: TurnOutput.chunk) }
            var b = chunks[oldest]
            chunks[oldest] = ByteBuffer()
            oldest += 1
            if oldest == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                oldest = 0
            }
            b.clear()
            return b
        }

        /// A chunk the channel was given; dropped when the pool is full.
        package func give(_ chunk: ByteBuffer) {
            guard chunk.capacity == TurnOutput.chunk, count < limit else { return }
            if oldest > 0 && chunks.count == chunks.capacity {
                chunks.removeFirst(oldest)
                oldest = 0
            }
            chunks.append(chunk)
        }
    }

    /// The payload without its padding and `fixed` leading bytes (HEADERS' priority fields);
    /// nil when the padding is longer than the frame.
    @inlinable
    package static func content(_ h: FrameHeader, _ payload: ByteBuffer, skipping fixed: Int) -> ByteBuffer? {
        var p = payload
        var padding = 0
        if h.flags & Flag.padded != 0 {
            guard let n = p.readInteger(as: UInt8.self) else { return nil }
            padding = Int(n)
        }
        guard p.readableBytes >= fixed + padding else { return nil }
        p.moveReaderIndex(forwardBy: fixed)
        return p.readSlice(length: p.readableBytes - padding)
    }

    // MARK: - HPACK, for what a gRPC server answers

    /// HPACK's integer with an N-bit prefix; `first` holds the bits above the prefix.
    @inlinable
    package static func hpackInteger(_ value: Int, prefixBits: Int, first: UInt8, into out: inout [UInt8]) {
        let limit = (1 << prefixBits) - 1
        if value < limit {
            out.append(first | UInt8(value))
            return
        }
        out.append(first | UInt8(limit))
        var rest = value - limit
        while rest >= 128 {
            out.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    /// A string literal, not Huffman-coded.
    @inlinable
    package static func hpackString(_ bytes: some Collection<UInt8>, into out: inout [UInt8]) {
        hpackInteger(bytes.count, prefixBits: 7, first: 0, into: &out)
        out.append(contentsOf: bytes)
    }

    /// "Literal header field without indexing" with the name from the static table.
    @inlinable
    package static func hpackLiteral(nameIndex: Int, value: some Collection<UInt8>, into out: inout [UInt8]) {
        hpackInteger(nameIndex, prefixBits: 4, first: 0, into: &out)
        hpackString(value, into: &out)
    }

    /// "Literal header field without indexing" with a literal name.
    package static func hpackLiteral(name: String, value: some Collection<UInt8>, into out: inout [UInt8]) {
        out.append(0)
        hpackString(Array(name.utf8), into: &out)
        hpackString(value, into: &out)
    }

    /// `:status: 200` (static entry 8) and `content-type: application/grpc` (name: static entry 31).
    package static let grpcResponseHeaders: [UInt8] = {
        var out: [UInt8] = [0x88]
        hpackLiteral(nameIndex: 31, value: Array("application/grpc".utf8), into: &out)
        return out
    }()

    /// The answer to a request that is not gRPC: `:status: 415`, `content-type: text/plain`.
    package static let unsupportedMediaTypeHeaders: [UInt8] = {
        var out: [UInt8] = []
        hpackLiteral(nameIndex: 8, value: Array("415".utf8), into: &out)
        hpackLiteral(nameIndex: 31, value: Array("text/plain".utf8), into: &out)
        return out
    }()

    /// `grpc-status: 0` alone: the trailers of nearly every call.
    package static let okTrailers: [UInt8] = trailers(code: 0, message: [])

    /// The longest `grpc-message` sent (percent-encoded): a trailer block must fit one frame.
    package static let maxStatusMessageBytes = 8_192

    package static func trailers(code: Int, message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        hpackLiteral(name: "grpc-status", value: Array(String(code).utf8), into: &out)
        if !message.isEmpty { hpackLiteral(name: "grpc-message", value: message.prefix(maxStatusMessageBytes), into: &out) }
        return out
    }
}

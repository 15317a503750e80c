import Base
import Foundation
import NIOCore
import NIOPosix
import Raft

/// The sending side of one peer: a bounded queue, the connection when there is one, and the
/// back-off between dial attempts.
final class PeerLink: @unchecked Sendable {
    let id: NodeID
    let address: PeerTransport.Address
    private unowned let owner: PeerTransport
    private let state = Locked(State())

    private struct State {
        var queue: [Message] = []
        /// Encoded frames other than Raft messages, written after the queued messages.
        var frames: [[UInt8]] = []
        var channel: (any Channel)?
        var connecting = false
        var flushScheduled = false
        var closed = false
        var backoff: Duration = .milliseconds(50)
        var nextAttempt = ContinuousClock.now
        var dropped = 0
        /// What was last reported about this link, so a peer that stays down is logged once.
        var lastReport = ""
    }

    init(id: NodeID, address: PeerTransport.Address, owner: PeerTransport) {
        self.id = id
        self.address = address
        self.owner = owner
    }

    func enqueue(frame: [UInt8]) { enqueue([], frame: frame) }

    func enqueue(_ messages: [Message], frame: [UInt8]? = nil) {
        enum Next {
            case none
            case flush(any Channel)
            case connect
        }
        let next = state.withLock { s -> Next in
            guard !s.closed else { return .none }
            if s.channel == nil && !s.connecting && ContinuousClock.now < s.nextAttempt {
                // Down and backing off: Raft sends again (heartbeats, retries), and lease calls
                // are asked again, so there is nothing to keep.
                s.dropped += messages.count
                return .none
            }
            if s.queue.count + s.frames.count + messages.count + 1 > owner.maxQueuedMessages {
                s.dropped += messages.count
            } else {
                s.queue += messages
                if let frame { s.frames.append(frame) }
            }
            if let channel = s.channel {
                if s.flushScheduled { return .none }
                s.flushScheduled = true
                return .flush(channel)
            }
            if s.connecting { return .none }
            s.connecting = true
            return .connect
        }
        switch next {
        case .none: break
        case .flush(let channel): channel.eventLoop.execute { self.flush(channel) }
        case .connect: connect()
        }
    }

    /// Flushes now if a flush is due and this is the channel's event loop.
    func flushIfOnLoop() {
        let channel = state.withLock { s in s.flushScheduled ? s.channel : nil }
        if let channel, channel.eventLoop.inEventLoop { flush(channel) }
    }

    /// Writes everything queued as one frame. Runs on the channel's event loop.
    private func flush(_ channel: any Channel) {
        let (batch, frames) = state.withLock { s -> ([Message], [[UInt8]]) in
            s.flushScheduled = false
            defer {
                s.queue.removeAll(keepingCapacity: true)
                s.frames.removeAll()
            }
            return (s.queue, s.frames)
        }
        guard !batch.isEmpty || !frames.isEmpty else { return }
        var buffer = channel.allocator.buffer(capacity: 0)
        let small = batch.filter { $0.snapshot == nil }
        if !small.isEmpty { buffer.writeBytes(PeerCodec.encode(.messages(small))) }
        for f in frames { buffer.writeBytes(f) }
        channel.writeAndFlush(buffer, promise: nil)
        // Snapshots go in chunks, each its own write, so the connection's buffers hold one at a time.
        for m in batch where m.snapshot != nil {
            let bytes = PeerCodec.encode(message: m)
            let transfer = UInt64.random(in: 1...UInt64.max)
            var offset = 0
            repeat {
                let end = min(offset + PeerFrame.snapshotChunkBytes, bytes.count)
                let frame = PeerCodec.encode(
                    .chunk(
                        transfer: transfer, total: UInt64(bytes.count), offset: UInt64(offset),
                        bytes: Array(bytes[offset..<end])))
                channel.writeAndFlush(channel.allocator.buffer(bytes: frame), promise: nil)
                offset = end
            } while offset < bytes.count
        }
    }

    private func connect() {
        let hello = PeerCodec.encode(.hello(version: PeerFrame.version, clusterID: owner.clusterID, from: owner.id, to: id))
        let address = address
        owner.bootstrap(to: address).connect(host: address.host, port: address.port).flatMap { channel in
            let answered = channel.eventLoop.makePromise(of: PeerFrame.self)
            do {
                try channel.pipeline.syncOperations.addHandler(HandshakeHandler(answer: answered))
            } catch {
                answered.fail(error)
            }
            channel.writeAndFlush(channel.allocator.buffer(bytes: hello), promise: nil)
            // A listener that never answers is as good as down.
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(2)) { answered.fail(PeerError.handshakeTimeout) }
            return answered.futureResult.always { _ in timeout.cancel() }.flatMapThrowing { frame -> any Channel in
                switch frame {
                case .welcome: return channel
                case .refuse(let why):
                    channel.close(promise: nil)
                    throw PeerError.refused(why)
                case .removed:
                    channel.close(promise: nil)
                    throw PeerError.removed
                default:
                    channel.close(promise: nil)
                    throw PeerError.protocolViolation("unexpected answer to hello")
                }
            }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }.whenComplete { result in
            switch result {
            case .success(let channel): self.connected(channel)
            case .failure(let error): self.failed(error)
            }
        }
    }

    private func connected(_ channel: any Channel) {
        let (closed, flush, report) = state.withLock { s -> (Bool, Bool, String?) in
            s.connecting = false
            if s.closed { return (true, false, nil) }
            s.channel = channel
            s.backoff = .milliseconds(50)
            let line = "connected to peer \(hex(id)) at \(address)"
            let report = s.lastReport == line ? nil : line
            s.lastReport = line
            let flush = !(s.queue.isEmpty && s.frames.isEmpty) && !s.flushScheduled
            if flush { s.flushScheduled = true }
            return (false, flush, report)
        }
        if closed {
            channel.close(promise: nil)
            return
        }
        if let report { owner.report(report, level: .info) }
        channel.closeFuture.whenComplete { _ in self.lost(channel) }
        if flush { channel.eventLoop.execute { self.flush(channel) } }
    }

    private func lost(_ channel: any Channel) {
        let report = state.withLock { s -> String? in
            guard s.channel === channel else { return nil }
            s.channel = nil
            s.queue.removeAll()
            s.frames.removeAll()
            s.nextAttempt = .now + s.backoff
            if s.closed { return nil }
            let line = "lost the connection to peer \(hex(id)) at \(address)"
            s.lastReport = line
            return line
        }
        if let report { owner.report(report) }
    }

    private func failed(_ error: any Error) {
        if case PeerError.removed = error { owner.wasRemoved() }
        let report = state.withLock { s -> String? in
            s.connecting = false
            s.queue.removeAll()
            s.frames.removeAll()
            s.nextAttempt = .now + s.backoff
            s.backoff = min(s.backoff * 2, .seconds(2))
            if s.closed { return nil }
            let line = "cannot reach peer \(hex(id)) at \(address): \(error)"
            defer { s.lastReport = line }
            return s.lastReport == line ? nil : line
        }
        if let report { owner.report(report) }
    }

    func close() {
        let channel = state.withLock { s -> (any Channel)? in
            s.closed = true
            s.queue.removeAll()
            defer { s.channel = nil }
            return s.channel
        }
        channel?.close(promise: nil)
    }
}

enum PeerError: Error, CustomStringConvertible {
    case refused(String)
    case removed
    case handshakeTimeout
    case protocolViolation(String)
    case frameTooLarge(Int)
    case noTLS(String)

    var description: String {
        switch self {
        case .noTLS(let peer):
            "\(peer) is an https peer, but this member has no peer TLS configuration (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file)"
        case .refused(let why): "refused: \(why)"
        case .removed: "refused: this member was removed from the cluster"
        case .handshakeTimeout: "no answer to the handshake within 2 s"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .frameTooLarge(let n): "frame of \(n) bytes exceeds the limit of \(PeerFrame.maxFrameBytes)"
        }
    }
}

/// Cuts the byte stream into frame bodies (the u32 length prefix removed).
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= PeerFrame.maxFrameBytes else { throw PeerError.frameTooLarge(Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }
}

/// The dialer's side of the handshake: the listener's first frame completes `answer`.
final class HandshakeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let answer: EventLoopPromise<PeerFrame>
    private var done = false

    init(answer: EventLoopPromise<PeerFrame>) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var body = unwrapInboundIn(data)
        guard !done else { return }
        done = true
        do {
            answer.succeed(try PeerCodec.decode(body: body.readBytes(length: body.readableBytes) ?? []))
        } catch {
            answer.fail(PeerError.protocolViolation("\(error)"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            answer.fail(error)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            answer.fail(PeerError.protocolViolation("connection closed during the handshake"))
        }
    }
}

/// The listener's side: checks the hello, then hands each read's messages to the member as one batch.
final class InboundPeerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let transport: PeerTransport
    private var peer: NodeID?
    private var batch: [Message] = []
    /// A chunked message being received: its transfer ID, size, and the bytes so far.
    private var transfer: (id: UInt64, total: UInt64, bytes: [UInt8])?

    init(transport: PeerTransport) { self.transport = transport }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var body = unwrapInboundIn(data)
        let frame: PeerFrame
        do { frame = try PeerCodec.decode(body: body.readBytes(length: body.readableBytes) ?? []) } catch {
            transport.report("closing a peer connection from \(context.remoteAddress?.description ?? "?"): damaged frame (\(error))")
            context.close(promise: nil)
            return
        }
        switch (peer, frame) {
        case (nil, .hello(let version, let cluster, let from, let to)):
            if let why = transport.admit(version: version, clusterID: cluster, from: from, to: to) {
                transport.report("refused a peer connection from \(context.remoteAddress?.description ?? "?"): \(why)")
                let channel = context.channel
                let answer: PeerFrame = transport.isRemoved(from) && cluster == transport.clusterID ? .removed : .refuse(why)
                context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: PeerCodec.encode(answer))))
                    .whenComplete { _ in channel.close(promise: nil) }
                return
            }
            peer = from
            transport.accepted(context.channel, from: from)
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: PeerCodec.encode(.welcome))), promise: nil)
        case (let from?, .messages(let ms)):
            // Only messages from the member that said hello, to this member.
            batch += ms.filter { $0.from == from && $0.to == transport.id }
        case (let from?, .leaderCalls), (let from?, .leaderAnswers):
            transport.deliver(frame, from: from)
        case (let from?, .chunk(let id, let total, let offset, let bytes)):
            if offset == 0 {
                guard total <= PeerFrame.maxChunkedMessageBytes else {
                    transport.report("closing the connection from peer \(hex(from)): a chunked message of \(total) bytes exceeds the limit")
                    context.close(promise: nil)
                    return
                }
                transfer = (id, total, [])
            }
            guard var t = transfer, t.id == id, t.total == total, UInt64(t.bytes.count) == offset,
                offset + UInt64(bytes.count) <= total
            else {
                transport.report("closing the connection from peer \(hex(from)): chunk out of order (transfer \(id), offset \(offset))")
                context.close(promise: nil)
                return
            }
            transfer = nil
            t.bytes += bytes
            if UInt64(t.bytes.count) < total {
                transfer = t
                return
            }
            do {
                let m = try PeerCodec.decode(message: t.bytes)
                if m.from == from && m.to == transport.id { batch.append(m) }
            } catch {
                transport.report("closing the connection from peer \(hex(from)): damaged chunked message (\(error))")
                context.close(promise: nil)
            }
        case (nil, .join(let version, let urls)):
            let answer = transport.answerJoin(version: version, peerURLs: urls)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: PeerCodec.encode(answer))))
                .whenComplete { _ in channel.close(promise: nil) }
        default:
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !batch.isEmpty {
            let ms = batch
            batch.removeAll(keepingCapacity: true)
            transport.deliver(ms)
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

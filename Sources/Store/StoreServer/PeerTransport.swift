import Base
import Foundation
public import Logging
public import NIOCore
import NIOPosix
public import NIOSSL
public import Raft
import Synchronization

/// Raft messages between members over TCP (SwiftNIO). Each member dials every peer it sends to
/// and listens for the peers that send to it, so a connection carries one direction. A
/// connection starts with a `hello` naming the cluster and both members; the listener refuses
/// a member of another cluster (a different token or initial membership), a hello meant for
/// another member, and a removed member. Messages to a peer queue (bounded; Raft tolerates
/// loss) and leave in batches, one length-prefixed frame per batch, without waiting for
/// answers; a lost connection is dialled again with back-off (50 ms doubling to 2 s).
public final class PeerTransport: MessageTransport, @unchecked Sendable {
    public struct Address: Equatable, Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int
        /// An https peer URL: the connection is TLS.
        public var secure: Bool
        public init(host: String, port: Int, secure: Bool = false) {
            self.host = host
            self.port = port
            self.secure = secure
        }
        public var description: String { "\(secure ? "https" : "http")://\(host):\(port)" }
    }

    public let id: NodeID
    public let clusterID: UInt64
    /// Messages queued for one peer at most; beyond, new messages to it are dropped (Raft retries).
    public let maxQueuedMessages: Int
    private let group: any EventLoopGroup
    /// How this member dials https peers (its peer certificate and the CA it trusts), if it can.
    private let clientTLS: NIOSSLContext?
    private let logger: Logger
    private let state = Locked(State())
    private var listener: (any Channel)?
    /// A partition for the robustness harness: while set, nothing goes to peers (`cutOut`) or
    /// nothing from them is delivered (`cutIn`); connections stay up, as a network that drops
    /// packets leaves them.
    private let cutOut = Atomic<Bool>(false)
    private let cutIn = Atomic<Bool>(false)

    private struct State {
        var links: [NodeID: PeerLink] = [:]
        var removed: Set<NodeID> = []
        var receiver: (@Sendable ([Message]) -> Void)?
        var frameReceiver: (@Sendable (PeerFrame, NodeID) -> Void)?
        var membership: (@Sendable () -> [ClusterMember])?
        var closed = false
        /// Connections peers opened to this member, closed with it, and who opened each.
        var accepted: [ObjectIdentifier: any Channel] = [:]
        var acceptedFrom: [ObjectIdentifier: NodeID] = [:]
        var onRemoved: (@Sendable () -> Void)?
    }

    /// One event loop for every peer connection of the process, unless the transport is given one.
    static let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// `group`: where the peer connections live (the member's own loop, in `capstan store`);
    /// nil: one loop shared by every transport of the process.
    public init(
        id: NodeID, clusterID: UInt64, maxQueuedMessages: Int = 4096, clientTLS: NIOSSLContext? = nil,
        group: (any EventLoopGroup)? = nil, logger: Logger
    ) {
        self.id = id
        self.clusterID = clusterID
        self.maxQueuedMessages = maxQueuedMessages
        self.group = group ?? Self.loops
        self.clientTLS = clientTLS
        self.logger = logger
    }

    /// Where the messages that arrive go (the member's `receive`); until it is set they are dropped.
    public func setReceiver(_ receiver: @escaping @Sendable ([Message]) -> Void) {
        state.withLock { $0.receiver = receiver }
    }

    /// Where frames other than Raft messages go (lease calls and answers), with their sender.
    public func setFrameReceiver(_ receiver: @escaping @Sendable (PeerFrame, NodeID) -> Void) {
        state.withLock { $0.frameReceiver = receiver }
    }

    /// The membership a joining member is told (and found in by its peer URLs).
    public func setMembershipSource(_ source: @escaping @Sendable () -> [ClusterMember]) {
        state.withLock { $0.membership = source }
    }

    /// Asks the members at `addresses` which member has `peerURLs` (a member added with
    /// `etcdctl member add` that starts with no data). Tries each address in turn, for up to
    /// `timeout`; throws with every refusal seen when none answers.
    public static func discover(
        peerURLs: [String], at addresses: [Address], tls: NIOSSLContext? = nil,
        timeout: Duration = .seconds(30)
    )
        async throws -> (memberID: NodeID, clusterID: UInt64, members: [ClusterMember])
    {
        let deadline = ContinuousClock.now + timeout
        var reasons: [String: String] = [:]
        let join = PeerCodec.encode(.join(version: PeerFrame.version, peerURLs: peerURLs))
        while true {
            for a in addresses {
                do {
                    let channel = try await dialer(group: MultiThreadedEventLoopGroup.singleton, to: a, tls: tls)
                        .connect(host: a.host, port: a.port).get()
                    let answer = channel.eventLoop.makePromise(of: PeerFrame.self)
                    try await channel.eventLoop.submit {
                        try channel.pipeline.syncOperations.addHandler(HandshakeHandler(answer: answer))
                    }.get()
                    channel.writeAndFlush(channel.allocator.buffer(bytes: join), promise: nil)
                    let timer = channel.eventLoop.scheduleTask(in: .seconds(2)) { answer.fail(PeerError.handshakeTimeout) }
                    let frame = try await answer.futureResult.get()
                    timer.cancel()
                    try? await channel.close()
                    switch frame {
                    case .joined(let id, let cluster, let members): return (id, cluster, members)
                    case .refuse(let why): reasons[a.description] = why
                    default: reasons[a.description] = "unexpected answer"
                    }
                } catch {
                    reasons[a.description] = "\(error)"
                }
            }
            if ContinuousClock.now >= deadline {
                throw PeerError.refused(reasons.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// The answer to a joining member: who has these peer URLs.
    func answerJoin(version: UInt8, peerURLs: [String]) -> PeerFrame {
        if version != PeerFrame.version { return .refuse("peer protocol version \(version) is not supported") }
        guard let members = state.withLock({ $0.membership })?() else { return .refuse("this member is starting") }
        guard let me = members.first(where: { Set($0.peerURLs) == Set(peerURLs) }) else {
            return .refuse("no member has the peer URLs \(peerURLs.joined(separator: ",")); add it first (etcdctl member add)")
        }
        return .joined(memberID: me.id, clusterID: clusterID, members: members)
    }

    /// Cuts this member off from its peers in one direction or both, or heals the cut.
    public func setIsolated(inbound: Bool, outbound: Bool) {
        cutIn.store(inbound, ordering: .relaxed)
        cutOut.store(outbound, ordering: .relaxed)
    }

    public func send(_ frame: PeerFrame, to peer: NodeID) {
        if cutOut.load(ordering: .relaxed) { return }
        state.withLock { $0.links[peer] }?.enqueue(frame: PeerCodec.encode(frame))
    }

    /// Writes every link's queue at once where the caller is on the link's event loop (the
    /// flush already enqueued there then finds nothing left).
    public func flushQueued() {
        let links = state.withLock { Array($0.links.values) }
        for link in links { link.flushIfOnLoop() }
    }

    /// Adds a peer or changes its address (an existing connection to an old address is closed).
    public func setPeer(_ peer: NodeID, address: Address) {
        guard peer != id else { return }
        let old = state.withLock { s -> PeerLink? in
            if let link = s.links[peer], link.address == address { return nil }
            let old = s.links[peer]
            s.links[peer] = PeerLink(id: peer, address: address, owner: self)
            s.removed.remove(peer)
            return old
        }
        old?.close()
    }

    /// Forgets a removed member: nothing more is sent to it, and its connections are refused.
    /// Its connections to this member are closed too: when it dials again it is told it was
    /// removed (and stops, as etcd's removed members do).
    public func removePeer(_ peer: NodeID) {
        let (link, inbound) = state.withLock { s -> (PeerLink?, [any Channel]) in
            guard !s.removed.contains(peer) else { return (nil, []) }
            s.removed.insert(peer)
            let keys = s.acceptedFrom.filter { $0.value == peer }.map(\.key)
            return (s.links.removeValue(forKey: peer), keys.compactMap { s.accepted[$0] })
        }
        link?.close()
        for c in inbound { c.close(promise: nil) }
    }

    /// Called when a peer refuses this member because it was removed from the cluster.
    public func setRemovedHandler(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.onRemoved = handler }
    }

    func wasRemoved() { state.withLock { $0.onRemoved }?() }

    func accepted(_ channel: any Channel, from peer: NodeID) {
        state.withLock { $0.acceptedFrom[ObjectIdentifier(channel)] = peer }
    }

    public var peers: [NodeID: Address] {
        state.withLock { s in s.links.mapValues(\.address) }
    }

    public func send(_ messages: [Message]) {
        guard !messages.isEmpty, !cutOut.load(ordering: .relaxed) else { return }
        if messages.count == 1 {
            let link = state.withLock { $0.links[messages[0].to] }
            link?.enqueue(messages)
            return
        }
        var byPeer: [NodeID: [Message]] = [:]
        for m in messages { byPeer[m.to, default: []].append(m) }
        let links = state.withLock { s in byPeer.keys.compactMap { s.links[$0] } }
        for link in links { link.enqueue(byPeer[link.id] ?? []) }
    }

    /// Starts listening for peers, over TLS with `tls`; returns the bound address (port 0 picks
    /// a free port). A peer whose TLS handshake fails is reported and disconnected.
    public func listen(host: String, port: Int, tls: NIOSSLContext? = nil) async throws -> Address {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                let key = ObjectIdentifier(channel)
                let open = state.withLock { s in
                    if !s.closed { s.accepted[key] = channel }
                    return !s.closed
                }
                guard open else { return channel.close() }
                channel.closeFuture.whenComplete { _ in
                    self.state.withLock { s in
                        s.accepted[key] = nil
                        s.acceptedFrom[key] = nil
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls { try TLSRejectionReporter.addServerTLS(tls, to: channel, logger: self.logger) }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(InboundPeerHandler(transport: self))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        listener = channel
        guard let bound = channel.localAddress, let boundPort = bound.port else {
            return Address(host: host, port: port, secure: tls != nil)
        }
        return Address(host: bound.ipAddress ?? host, port: boundPort, secure: tls != nil)
    }

    /// Closes the listener and every connection; later sends are dropped.
    public func shutdown() {
        let (links, accepted) = state.withLock { s -> ([PeerLink], [any Channel]) in
            s.closed = true
            defer {
                s.links.removeAll()
                s.accepted.removeAll()
            }
            return (Array(s.links.values), Array(s.accepted.values))
        }
        for link in links { link.close() }
        try? listener?.close().wait()
        for channel in accepted { try? channel.close().wait() }
    }

    // MARK: - Used by the handlers

    /// Why a dialer is refused, or nil to welcome it.
    func admit(version: UInt8, clusterID: UInt64, from: NodeID, to: NodeID) -> String? {
        if version != PeerFrame.version {
            return "peer protocol version \(version) is not supported (this member speaks \(PeerFrame.version))"
        }
        if clusterID != self.clusterID {
            return "cluster ID mismatch: member \(hex(from)) belongs to cluster \(String(clusterID, radix: 16)), this member to "
                + "\(String(self.clusterID, radix: 16)) (a different --initial-cluster-token or --initial-cluster)"
        }
        if to != id { return "this is member \(hex(id)), not \(hex(to))" }
        if state.withLock({ $0.removed.contains(from) }) { return "member \(hex(from)) was removed from the cluster" }
        return nil
    }

    func isRemoved(_ peer: NodeID) -> Bool { state.withLock { $0.removed.contains(peer) } }

    func deliver(_ frame: PeerFrame, from: NodeID) {
        guard !cutIn.load(ordering: .relaxed), let receiver = state.withLock({ $0.closed ? nil : $0.frameReceiver }) else { return }
        receiver(frame, from)
    }

    func deliver(_ messages: [Message]) {
        guard !messages.isEmpty, !cutIn.load(ordering: .relaxed),
            let receiver = state.withLock({ $0.closed ? nil : $0.receiver })
        else { return }
        receiver(messages)
    }

    /// A connection event, once per change (a peer that cannot be reached is not repeated).
    func report(_ line: String, level: Logger.Level = .warning) { logger.log(level: level, "\(line)") }

    func bootstrap(to address: Address) -> ClientBootstrap {
        Self.dialer(group: group, to: address, tls: clientTLS)
    }

    /// A bootstrap for connections to `address`: TLS first when it is an https peer (checked
    /// against the address dialled; the host name, when it is one, also goes out as SNI).
    static func dialer(group: any EventLoopGroup, to address: Address, tls: NIOSSLContext?) -> ClientBootstrap {
        ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if address.secure {
                        guard let tls else { throw PeerError.noTLS(address.description) }
                        let isIP = (try? SocketAddress(ipAddress: address.host, port: 0)) != nil
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls, serverHostname: isIP ? nil : address.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                }
            }
    }
}

func hex(_ id: NodeID) -> String { String(id.rawValue, radix: 16) }

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

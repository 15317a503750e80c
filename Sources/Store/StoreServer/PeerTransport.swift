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

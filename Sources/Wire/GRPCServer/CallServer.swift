import Base
public import NIOCore
import NIOPosix

/// A gRPC server (HTTP/2 with prior knowledge; TLS when `prepare` adds it) for calls that must
/// cost little: each connection is one `CallConnectionHandler`, which reads and writes HTTP/2
/// itself. Serves a fixed table of methods.
public final class CallServer: Sendable {
    public struct Limits: Sendable {
        /// The largest request message accepted (larger: RESOURCE_EXHAUSTED, as grpc-go's limit).
        public var maxRequestMessageBytes = 4 << 20
        /// Bytes of unfinished request messages one connection may hold across its calls (each
        /// call holds at most one message); past it the connection gets GOAWAY ENHANCE_YOUR_CALM.
        public var maxBufferedRequestBytesPerConnection = 64 << 20
        /// Calls open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS).
        public var maxConcurrentStreams = 65_536
        /// Bytes a streaming call may have written beyond what the client's windows admitted
        /// before it counts as blocked.
        public var streamHighWater = 1 << 20
        /// Inbound PING and SETTINGS frames allowed per 30 s on a connection (past it: GOAWAY
        /// ENHANCE_YOUR_CALM). gRPC clients ping for keepalive and, grpc-go's, for every burst of
        /// data they receive (bandwidth probes).
        public var maxControlFramesPer30s = 1_000_000

        public init() {}
    }

    private let listener: any Channel
    private let connections: Locked<[ObjectIdentifier: any Channel]>
    private let allClosed: EventLoopPromise<Void>
    private let state: Locked<(open: Int, listening: Bool)>

    /// The port the server listens on.
    public let port: Int

    /// Starts listening on `host:port` (port 0: any free port) with connections served on `group`.
    /// `prepare` runs first for each accepted connection, on its loop, to add handlers before
    /// HTTP/2's (TLS).
    public static func bind(
        host: String, port: Int, group: any EventLoopGroup, routes: [String: Method],
        limits: Limits = Limits(), prepare: (@Sendable (any Channel) throws -> Void)? = nil
    )
        async throws -> CallServer
    {
        let connections = Locked<[ObjectIdentifier: any Channel]>([:])
        let state = Locked<(open: Int, listening: Bool)>((0, true))
        let allClosed = group.next().makePromise(of: Void.self)
        let executors = Locked<[ObjectIdentifier: EventLoopTaskExecutor]>([:])
        @Sendable func closedOne() {
            let done = state.withLock { s in
                s.open -= 1
                return s.open == 0 && !s.listening
            }
            if done { allClosed.succeed() }
        }
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let loop = channel.eventLoop
                    let executor = executors.withLock { e in
                        if let x = e[ObjectIdentifier(loop)] { return x }
                        let x = EventLoopTaskExecutor(loop)
                        e[ObjectIdentifier(loop)] = x
                        return x
                    }
                    try prepare?(channel)
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(CallConnectionHandler(routes: routes, limits: limits, executor: executor))
                    state.withLock { $0.open += 1 }
                    connections.withLock { $0[ObjectIdentifier(channel)] = channel }
                    channel.closeFuture.whenComplete { _ in
                        connections.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(channel)) }
                        closedOne()
                    }
                }
            }
            .bind(host: host, port: port).get()
        listener.closeFuture.whenComplete { _ in
            let done = state.withLock { s in
                s.listening = false
                return s.open == 0
            }
            if done { allClosed.succeed() }
        }
        return CallServer(listener: listener, connections: connections, allClosed: allClosed, state: state)
    }

    private init(
        listener: any Channel, connections: Locked<[ObjectIdentifier: any Channel]>,
        allClosed: EventLoopPromise<Void>, state: Locked<(open: Int, listening: Bool)>
    ) {
        self.listener = listener
        self.connections = connections
        self.allClosed = allClosed
        self.state = state
        port = listener.localAddress?.port ?? 0
    }

    /// Stops accepting connections and sends GOAWAY on each: every connection closes once the
    /// calls it has are over (streaming calls end only when their clients end them: see `close`).
    public func beginGracefulShutdown() {
        listener.close(promise: nil)
        for channel in connections.withLock({ Array($0.values) }) {
            channel.eventLoop.execute {
                (try? channel.pipeline.syncOperations.handler(type: CallConnectionHandler.self))?.drain()
            }
        }
    }

    /// Closes the listener and every connection now.
    public func close() {
        listener.close(promise: nil)
        for channel in connections.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }

    /// Returns once the listener and every connection are closed.
    public func waitUntilClosed() async {
        try? await allClosed.futureResult.get()
    }
}

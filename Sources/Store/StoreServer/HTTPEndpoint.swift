import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 server for a member's metrics and health (etcd's `--listen-metrics-urls`):
/// GET only, one answer per request, bodies made by `handler` (which may wait, e.g. for a
/// linearizable read). Requests larger than 64 KiB are refused.
public final class HTTPEndpoint: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]
        public init(status: Int, contentType: String, body: [UInt8]) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    public typealias Handler = @Sendable (_ path: String, _ query: String) async -> Response

    private let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    /// Listens on host:port (0: any free port); returns the endpoint and the bound port.
    public static func serve(host: String, port: Int, handler: @escaping Handler) async throws -> (HTTPEndpoint, Int) {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler(handler: handler))
                }
            }
            .bind(host: host, port: port).get()
        return (HTTPEndpoint(channel: channel), channel.localAddress?.port ?? port)
    }

    public func shutdown() { try? channel.close().wait() }
}

final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let handler: HTTPEndpoint.Handler
    private var request: HTTPRequestHead?
    private var bodyBytes = 0

    init(handler: @escaping HTTPEndpoint.Handler) { self.handler = handler }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            bodyBytes = 0
        case .body(let chunk):
            bodyBytes += chunk.readableBytes
            if bodyBytes > 64 << 10 {
                respond(context, keepAlive: false, .init(status: 413, contentType: "text/plain", body: Array("request too large\n".utf8)))
            }
        case .end:
            guard let head = request else { return }
            request = nil
            let keepAlive = head.isKeepAlive
            guard head.method == .GET || head.method == .HEAD else {
                respond(
                    context, keepAlive: keepAlive, .init(status: 405, contentType: "text/plain", body: Array("method not allowed\n".utf8)))
                return
            }
            let parts = head.uri.split(separator: "?", maxSplits: 1)
            let path = parts.first.map(String.init) ?? "/"
            let query = parts.count > 1 ? String(parts[1]) : ""
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            let handler = handler
            Task {
                let response = await handler(path, query)
                loop.execute {
                    let (me, ctx) = bound.value
                    me.respond(ctx, keepAlive: keepAlive, response)
                }
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, keepAlive: Bool, _ r: HTTPEndpoint.Response) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: r.contentType)
        headers.add(name: "Content-Length", value: String(r.body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: r.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: r.body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

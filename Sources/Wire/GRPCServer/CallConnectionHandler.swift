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

    let routes: [String: Method]
    let limits: CallServer.Limits
    let executor: EventLoopTaskExecutor
    private(set) var context: ChannelHandlerContext?
    var calls: [Int: Call] = [:]
    var closing: [Int: Closing] = [:]
    /// Streams holding DATA, in the order they began to hold it.
    var waiting: [Int] = []
    /// Streams waiting for the connection to take more (NIO's pending writes above its
    /// high-water mark), in the order they began to wait; served in turn when it does.
    var connectionWaiters: [(stream: Int, body: () -> Void)] = []

    var inbound = ByteBuffer()
    let output: HTTP2Wire.TurnOutput
    var prefaceReceived = false
    /// After a connection error: nothing more is read.
    var failed = false
    var decoder = HPACKDecoder(
        allocator: ByteBufferAllocator(), maxDynamicTableSize: HPACKDecoder.maxDynamicTableSize,
        maxHeaderListSize: CallConnectionHandler.maxHeaderListSize)
    var headerBlocks = HTTP2Wire.HeaderBlocks()

    /// DATA bytes received on the connection and not yet given back to its window.
    var unacknowledged = 0
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE and SETTINGS_MAX_FRAME_SIZE, and what is left of
    /// the connection window it granted.
    var peerInitialWindow = HTTP2Wire.defaultInitialWindow
    var peerMaxFrameSize = HTTP2Wire.defaultMaxFrameSize
    var connectionWindow = HTTP2Wire.defaultInitialWindow
    /// Inbound PING and SETTINGS frames in the current 30-second period.
    var controlFrames = 0
    var controlPeriodStart = NIODeadline.now()
    var unsentControlAnswers = 0
    /// Request bytes held in calls' partial messages (each call's `pending`), all calls together.
    var bufferedRequestBytes = 0
    /// After GOAWAY: the connection closes once its calls are over.
    private(set) var draining = false
    var highestStream = 0

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

    var bound: NIOLoopBound<CallConnectionHandler> { NIOLoopBound(self, eventLoop: executor.loop) }

    // MARK: - Connection

    /// GOAWAY: no new calls; the connection closes when the last call is over.
    func drain() {
        guard context != nil, !draining else { return }
        draining = true
        HTTP2Wire.writeGoAway(&output.bytes, lastStream: highestStream, .noError)
        output.flush()
        closeIfDrained()
    }

    func closeIfDrained() {
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

public import GRPCWire
public import NIOCore

/// How a method is served. Handlers are called on the event loop of the call's connection.
public enum Method: Sendable {
    /// One request message, one answer: the handler gets the request's bytes (without the gRPC
    /// length prefix) once the client has ended its side, and answers through the `UnaryCall`
    /// exactly once, from any thread.
    case unary(@Sendable (_ request: [UInt8], _ call: UnaryCall) -> Void)
    /// Streaming in either or both directions: `open` is called when the call's HEADERS arrive
    /// and returns what receives the request messages; answers go through the `ServerStream`.
    case streaming(@Sendable (_ stream: ServerStream) -> any StreamReceiver)
}

/// Receives a streaming call's requests, on the connection's event loop.
public protocol StreamReceiver: AnyObject {
    /// One request message (without its length prefix).
    func received(_ message: [UInt8])
    /// The client ended its side (the call may still send).
    func requestsEnded()
    /// The call is over: finished by the server, cancelled by the client, or its connection
    /// closed. Called once; nothing more can be sent.
    func ended()
}

/// The answer side of a unary call. A value: copy it into whatever completes the call.
public struct UnaryCall: Sendable {
    let connection: NIOLoopBound<CallConnectionHandler>
    let stream: Int
    /// Runs Swift tasks on this call's event loop (no thread hop to answer).
    public let executor: EventLoopTaskExecutor

    public var eventLoop: any EventLoop { connection.eventLoop }

    /// Sends the answer message (serialized, without a length prefix) and an OK status.
    public func respond(_ message: [UInt8]) {
        connection.onLoop { $0.respond(stream: stream, message: message) }
    }

    /// Runs `answer` on the call's event loop and sends what it makes: the answer message, or
    /// a status to end the call with.
    public func complete(_ answer: @escaping @Sendable () -> Result<[UInt8], GRPCStatus>) {
        connection.onLoop { [stream] handler in
            switch answer() {
            case .success(let message): handler.respond(stream: stream, message: message)
            case .failure(let status): handler.finish(stream: stream, status: status)
            }
        }
    }

    /// Ends the call with `status` and no answer.
    public func fail(_ status: GRPCStatus) {
        connection.onLoop { $0.finish(stream: stream, status: status) }
    }
}

/// The answer side of a streaming call: sends messages and ends the call. Usable from any
/// thread; from the connection's event loop, `send` writes at once.
public struct ServerStream: Sendable {
    let connection: NIOLoopBound<CallConnectionHandler>
    let stream: Int
    public let executor: EventLoopTaskExecutor

    public var eventLoop: any EventLoop { connection.eventLoop }

    /// Sends messages (serialized, without length prefixes) in one DATA frame. Messages sent while
    /// the client does not read pile up in the connection: check `isBlocked` or use `write`.
    public func send(_ messages: [[UInt8]]) {
        connection.onLoop { $0.send(stream: stream, messages: messages) }
    }

    /// Sends messages written straight into the connection's outgoing buffer, as many whole
    /// messages per DATA frame as fit: message `i` is `sizes[i]` bytes, and `write(i, at)`
    /// writes exactly that many at `at`. On the event loop only.
    public func send(sizes: [Int], write: (Int, UnsafeMutableRawPointer) -> Void) {
        connection.eventLoop.preconditionInEventLoop()
        connection.value.send(stream: stream, sizes: sizes, write: write)
    }

    /// Sends one message once the stream has room for it (the client's flow-control window is
    /// not far behind); throws `GRPCStatus` when the call has ended.
    public func write(_ message: [UInt8]) async throws {
        // One hop to the loop: wait there for room, then send there.
        try await connection.eventLoop.flatSubmit { [connection, stream] in
            connection.value.room(stream: stream).flatMapThrowing {
                guard connection.value.isOpen(stream: stream) else { throw GRPCStatus(.cancelled, "the call has ended") }
                connection.value.send(stream: stream, messages: [message])
            }
        }.get()
    }

    /// Whether the client is more than a high-water mark behind in reading this stream, or its
    /// connection is backed up (the socket full and NIO holding more than its own high-water
    /// mark); call on the event loop. When it is, `whenWritable` says when to go on.
    public var isBlocked: Bool {
        connection.eventLoop.preconditionInEventLoop()
        return connection.value.isBlocked(stream: stream)
    }

    /// Runs `body` on the event loop once the stream is not blocked (at once if it is not), or
    /// never if the call ends first.
    public func whenWritable(_ body: @escaping () -> Void) {
        connection.eventLoop.preconditionInEventLoop()
        connection.value.whenWritable(stream: stream, body)
    }

    /// Ends the call with `status` (OK unless given).
    public func finish(_ status: GRPCStatus = .ok) {
        connection.onLoop { $0.finish(stream: stream, status: status) }
    }
}

extension NIOLoopBound where Value == CallConnectionHandler {
    /// Runs `body` with the handler: at once on its event loop, else enqueued there.
    func onLoop(_ body: @escaping @Sendable (CallConnectionHandler) -> Void) {
        if eventLoop.inEventLoop {
            body(value)
        } else {
            eventLoop.execute { [self] in body(value) }
        }
    }
}

/// Runs Swift tasks on one NIO event loop, so that a call's handler runs on the thread that
/// reads and writes its connection instead of hopping to the concurrency pool and back (each hop
/// is a thread wake-up; on two cores that was most of a small call's latency).
public final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    public let loop: any EventLoop
    /// The loop's output chunks, shared by its connections.
    package let chunks = HTTP2Wire.ChunkPool()

    public init(_ loop: any EventLoop) { self.loop = loop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { [self] in job.runSynchronously(on: asUnownedTaskExecutor()) }
    }
}

import Bench
import Foundation
@testable import LeanGRPC
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import NIOPosix
import Testing

/// Records what a streaming call's receiver is told.
final class Recording: StreamReceiver, @unchecked Sendable {
    let stream: ServerStream
    let log: NIOLockedValueBox<[String]>
    init(_ stream: ServerStream, log: NIOLockedValueBox<[String]>) {
        self.stream = stream
        self.log = log
    }
    func received(_ message: [UInt8]) {
        log.withLockedValue { $0.append("message \(String(decoding: message, as: UTF8.self))") }
        // Echoes every message twice, in one send.
        stream.send([message, message])
    }
    func requestsEnded() { log.withLockedValue { $0.append("ended by client") } }
    func ended() { log.withLockedValue { $0.append("over") } }
}

@Suite struct LeanServerTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    /// A server with an echo method, a failing one, a slow one and a bidirectional echo stream.
    static func server(limits: LeanServer.Limits = LeanServer.Limits(),
                       log: NIOLockedValueBox<[String]> = NIOLockedValueBox([]),
                       arrived: EventLoopPromise<Void>? = nil,
                       release: EventLoopPromise<Void>? = nil) async throws -> LeanServer {
        let routes: [String: LeanGRPC.Method] = [
            "/test.Echo/Echo": .unary { request, call in call.respond(request.reversed()) },
            "/test.Echo/Fail": .unary { request, call in
                call.fail(CallStatus(code: 9, message: String(decoding: request, as: UTF8.self)))
            },
            "/test.Echo/Slow": .unary { request, call in
                arrived?.succeed()
                Task(executorPreference: call.executor) {
                    try? await release?.futureResult.get()
                    call.respond(request)
                }
            },
            "/test.Echo/Stream": .streaming { stream in Recording(stream, log: log) },
        ]
        return try await LeanServer.bind(host: "127.0.0.1", port: 0, group: group, routes: routes, limits: limits)
    }

    @Test func unaryCallsAreAnsweredConcurrently() async throws {
        let server = try await Self.server()
        let client = try await UnaryConnection.connect(host: "127.0.0.1", port: server.port)
        let headers = client.headers(path: "/test.Echo/Echo")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<500 {
                group.addTask {
                    let message = Array("call \(i)".utf8)
                    let answer = try await client.call(headers, message)
                    #expect(answer == message.reversed())
                }
            }
            try await group.waitForAll()
        }
        // An empty message and one of 3 MiB (spanning many frames and window updates).
        #expect(try await client.call(headers, []) == [])
        let big = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        #expect(try await client.call(headers, big) == big.reversed())
        await client.close()
        server.close()
        await server.waitUntilClosed()
    }

    @Test func errorsAreGRPCStatuses() async throws {
        var limits = LeanServer.Limits()
        limits.maxRequestMessageBytes = 1000
        let server = try await Self.server(limits: limits)
        let client = try await UnaryConnection.connect(host: "127.0.0.1", port: server.port)
        // A handler's status, with a message that needs percent-encoding on the wire.
        let message = "100% not ready: naïve"
        await #expect(throws: GRPCStatusError(code: 9, message: message)) {
            try await client.call(client.headers(path: "/test.Echo/Fail"), Array(message.utf8))
        }
        // grpc-go's words for unknown services and for messages over the limit.
        await #expect(throws: GRPCStatusError(code: 12, message: "unknown service etcdserverpb.Auth")) {
            try await client.call(client.headers(path: "/etcdserverpb.Auth/AuthEnable"), [])
        }
        await #expect(throws: GRPCStatusError(code: 8, message: "grpc: received message larger than max (1001 vs. 1000)")) {
            try await client.call(client.headers(path: "/test.Echo/Echo"), [UInt8](repeating: 1, count: 1001))
        }
        // The connection still serves.
        #expect(try await client.call(client.headers(path: "/test.Echo/Echo"), [1, 2]) == [2, 1])
        await client.close()
        server.close()
        await server.waitUntilClosed()
    }

    @Test func streamsEchoAndEndWhenCancelled() async throws {
        let log = NIOLockedValueBox<[String]>([])
        let server = try await Self.server(log: log)
        let client = try await UnaryConnection.connect(host: "127.0.0.1", port: server.port)
        let answers = NIOLockedValueBox<[String]>([])
        let id = try await client.openStream(client.headers(path: "/test.Echo/Stream"), messages: [Array("a".utf8)],
                                             onMessage: { bytes in answers.withLockedValue { $0.append(String(decoding: bytes, as: UTF8.self)) } },
                                             onEnd: { _ in })
        client.send(stream: id, Array("b".utf8))
        try await Self.eventually { answers.withLockedValue { $0 } == ["a", "a", "b", "b"] }
        await client.cancel(stream: id)
        try await Self.eventually { log.withLockedValue { $0 } == ["message a", "message b", "over"] }
        await client.close()
        server.close()
        await server.waitUntilClosed()
    }

    /// A graceful shutdown lets a call in flight finish, then closes its connection.
    @Test func gracefulShutdownFinishesCallsInFlight() async throws {
        let arrived = Self.group.next().makePromise(of: Void.self)
        let release = Self.group.next().makePromise(of: Void.self)
        let server = try await Self.server(arrived: arrived, release: release)
        let client = try await UnaryConnection.connect(host: "127.0.0.1", port: server.port)
        let call = Task { try await client.call(client.headers(path: "/test.Echo/Slow"), [7]) }
        // The call is in the server before the GOAWAY.
        try await arrived.futureResult.get()
        server.beginGracefulShutdown()
        release.succeed()
        #expect(try await call.value == [7])
        await server.waitUntilClosed()
        await client.close()
    }

    static func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition())
    }
}

/// The outbound flow control of one connection, frame by frame.
@Suite struct CallConnectionHandlerTests {
    @Test func aStreamBeyondTheClientsWindowsIsBlockedUntilItReads() throws {
        let channel = EmbeddedChannel()
        let loop = channel.embeddedEventLoop
        let streamBox = NIOLockedValueBox<ServerStream?>(nil)
        let log = NIOLockedValueBox<[String]>([])
        var limits = LeanServer.Limits()
        limits.streamHighWater = 100_000
        let handler = CallConnectionHandler(routes: ["/t.S/M": .streaming { s in
            streamBox.withLockedValue { $0 = s }
            return Recording(s, log: log)
        }], limits: limits, executor: EventLoopTaskExecutor(loop))
        try channel.pipeline.syncOperations.addHandler(handler)
        let id = HTTP2StreamID(1)
        let headers: HPACKHeaders = [":method": "POST", ":path": "/t.S/M", "content-type": "application/grpc"]
        try channel.writeInbound(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers))))
        let stream = try #require(streamBox.withLockedValue { $0 })
        // 65,535 bytes of window at first: 150,000 more are queued, over the high-water mark.
        let piece = [UInt8](repeating: 0, count: 49_995)  // 50,000 bytes with its prefix
        for _ in 0..<4 { stream.send([piece]) }
        loop.run()
        #expect(stream.isBlocked)
        var woke = false
        stream.whenWritable { woke = true }
        // The client reads and gives back part of its stream window: still behind by more than half the mark.
        try channel.writeInbound(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: 60_000)))
        #expect(!woke)
        // The connection window too limits: more stream window alone does not unblock.
        try channel.writeInbound(HTTP2Frame(streamID: id, payload: .windowUpdate(windowSizeIncrement: 1_000_000)))
        #expect(!woke && stream.isBlocked)
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: 1_000_000)))
        #expect(woke && !stream.isBlocked)
        // A client that raises its initial window in SETTINGS gives every open stream that much more.
        for _ in 0..<25 { stream.send([piece]) }
        #expect(stream.isBlocked)
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .settings(.settings([HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20)]))))
        try channel.writeInbound(HTTP2Frame(streamID: .rootStream, payload: .windowUpdate(windowSizeIncrement: 10_000_000)))
        #expect(!stream.isBlocked)
        // A reset from the client ends the call.
        try channel.writeInbound(HTTP2Frame(streamID: id, payload: .rstStream(.cancel)))
        #expect(log.withLockedValue { $0 } == ["over"])
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// Partial request messages are counted across a connection's calls: the count goes back
    /// to zero as messages complete and calls end, and past the limit the connection gets
    /// GOAWAY ENHANCE_YOUR_CALM and closes.
    @Test func partialRequestsAreBoundedPerConnection() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let log = NIOLockedValueBox<[String]>([])
        var limits = LeanServer.Limits()
        limits.maxBufferedRequestBytesPerConnection = 100
        let handler = CallConnectionHandler(routes: ["/t.S/M": .streaming { s in Recording(s, log: log) }],
                                            limits: limits, executor: EventLoopTaskExecutor(channel.embeddedEventLoop))
        try channel.pipeline.syncOperations.addHandler(handler)
        let headers: HPACKHeaders = [":method": "POST", ":path": "/t.S/M", "content-type": "application/grpc"]
        func data(_ bytes: [UInt8]) -> HTTP2Frame.FramePayload { .data(.init(data: .byteBuffer(ByteBuffer(bytes: bytes)))) }
        /// A message prefix announcing `length` bytes, and `body` bytes of it.
        func partial(_ length: UInt32, _ body: Int) -> [UInt8] {
            [0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
                + [UInt8](repeating: 7, count: body)
        }
        // A whole message, then a partial one that a reset ends: nothing stays counted.
        try channel.writeInbound(HTTP2Frame(streamID: 1, payload: .headers(.init(headers: headers))))
        try channel.writeInbound(HTTP2Frame(streamID: 1, payload: data(partial(3, 3))))
        #expect(handler.bufferedRequestBytes == 0)
        try channel.writeInbound(HTTP2Frame(streamID: 1, payload: data(partial(50, 10))))
        #expect(handler.bufferedRequestBytes == 15)
        try channel.writeInbound(HTTP2Frame(streamID: 1, payload: .rstStream(.cancel)))
        #expect(handler.bufferedRequestBytes == 0)
        // Two streams holding 65 bytes each: over 100, GOAWAY and close.
        for id in [HTTP2StreamID(3), HTTP2StreamID(5)] {
            try channel.writeInbound(HTTP2Frame(streamID: id, payload: .headers(.init(headers: headers))))
            try channel.writeInbound(HTTP2Frame(streamID: id, payload: data(partial(1000, 60))))
        }
        var goAway: HTTP2ErrorCode?
        while let frame = try channel.readOutbound(as: HTTP2Frame.self) {
            if case .goAway(_, let code, _) = frame.payload { goAway = code }
        }
        #expect(goAway == .enhanceYourCalm)
        #expect(!channel.isActive)
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}

import Base
import Bench
import Foundation
import GRPCWire
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOPosix
import Testing

@testable import GRPCServer

/// Records what a streaming call's receiver is told.
final class Recording: StreamReceiver, @unchecked Sendable {
    let stream: ServerStream
    let log: Locked<[String]>
    init(_ stream: ServerStream, log: Locked<[String]>) {
        self.stream = stream
        self.log = log
    }
    func received(_ message: [UInt8]) {
        log.withLock { $0.append("message \(String(decoding: message, as: UTF8.self))") }
        // Echoes every message twice, in one send.
        stream.send([message, message])
    }
    func requestsEnded() { log.withLock { $0.append("ended by client") } }
    func ended() { log.withLock { $0.append("over") } }
}

@Suite struct CallServerTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    /// A server with an echo method, a failing one, a slow one and a bidirectional echo stream.
    static func server(
        limits: CallServer.Limits = CallServer.Limits(),
        log: Locked<[String]> = Locked([]),
        arrived: EventLoopPromise<Void>? = nil,
        release: EventLoopPromise<Void>? = nil
    ) async throws -> CallServer {
        let routes: [String: GRPCServer.Method] = [
            "/test.Echo/Echo": .unary { request, call in call.respond(request.reversed()) },
            "/test.Echo/Fail": .unary { request, call in
                call.fail(GRPCStatus(.failedPrecondition, String(decoding: request, as: UTF8.self)))
            },
            "/test.Echo/Slow": .unary { request, call in
                arrived?.succeed()
                Task(executorPreference: call.executor) {
                    try? await release?.futureResult.get()
                    call.respond(request)
                }
            },
            "/test.Echo/Stream": .streaming { stream in Recording(stream, log: log) }
        ]
        return try await CallServer.bind(host: "127.0.0.1", port: 0, group: group, routes: routes, limits: limits)
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
        var limits = CallServer.Limits()
        limits.maxRequestMessageBytes = 1000
        let server = try await Self.server(limits: limits)
        let client = try await UnaryConnection.connect(host: "127.0.0.1", port: server.port)
        // A handler's status, with a message that needs percent-encoding on the wire.
        let message = "100% not ready: naïve"
        await #expect(throws: GRPCStatus(.failedPrecondition, message)) {
            try await client.call(client.headers(path: "/test.Echo/Fail"), Array(message.utf8))
        }
        // grpc-go's words for unknown services and for messages over the limit.
        await #expect(throws: GRPCStatus(.unimplemented, "unknown service etcdserverpb.Auth")) {
            try await client.call(client.headers(path: "/etcdserverpb.Auth/AuthEnable"), [])
        }
        await #expect(throws: GRPCStatus(.resourceExhausted, "grpc: received message larger than max (1001 vs. 1000)")) {
            try await client.call(client.headers(path: "/test.Echo/Echo"), [UInt8](repeating: 1, count: 1001))
        }
        // The connection still serves.
        #expect(try await client.call(client.headers(path: "/test.Echo/Echo"), [1, 2]) == [2, 1])
        await client.close()
        server.close()
        await server.waitUntilClosed()
    }

    @Test func streamsEchoAndEndWhenCancelled() async throws {
        let log = Locked<[String]>([])
        let server = try await Self.server(log: log)
        let client = try await UnaryConnection.connect(host: "127.0.0.1", port: server.port)
        let answers = Locked<[String]>([])
        let id = try await client.openStream(
            client.headers(path: "/test.Echo/Stream"), messages: [Array("a".utf8)],
            onMessage: { bytes in answers.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } },
            onEnd: { _ in })
        client.send(stream: id, Array("b".utf8))
        try await Self.eventually { answers.withLock { $0 } == ["a", "a", "b", "b"] }
        await client.cancel(stream: id)
        try await Self.eventually { log.withLock { $0 } == ["message a", "message b", "over"] }
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

/// A client's side of HTTP/2 in bytes, for driving a `CallConnectionHandler` on an
/// `EmbeddedChannel`, and a reader of the frames the handler writes.
struct WireClient {
    struct Frame {
        var type: UInt8
        var flags: UInt8
        var stream: Int
        var payload: ByteBuffer
    }

    let channel = EmbeddedChannel()
    var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
    var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
    static let grpcHeaders: HPACKHeaders = [":method": "POST", ":scheme": "http", ":path": "/t.S/M", "content-type": "application/grpc"]

    init(_ handler: CallConnectionHandler, preface: Bool = true) throws {
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.pipeline.syncOperations.addHandler(handler)
        if preface { try send(ByteBuffer(bytes: HTTP2Wire.preface)) }
    }

    func send(_ bytes: ByteBuffer) throws { try channel.writeInbound(bytes) }

    static func frame(_ type: UInt8, flags: UInt8 = 0, stream: Int, _ payload: [UInt8]) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(UInt16(payload.count >> 8))
        b.writeInteger(UInt8(payload.count & 0xFF))
        b.writeInteger(type)
        b.writeInteger(flags)
        b.writeInteger(UInt32(stream))
        b.writeBytes(payload)
        return b
    }

    mutating func headerBlock(_ headers: HPACKHeaders) throws -> [UInt8] {
        var b = ByteBuffer()
        try encoder.encode(headers: headers, to: &b)
        return Array(b.readableBytesView)
    }

    mutating func headers(stream: Int, _ headers: HPACKHeaders = grpcHeaders, endStream: Bool = false) throws {
        try send(Self.frame(1, flags: 0x4 | (endStream ? 0x1 : 0), stream: stream, headerBlock(headers)))
    }

    static func message(_ bytes: [UInt8]) -> [UInt8] {
        let n = UInt32(bytes.count)
        return [0, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + bytes
    }

    func data(stream: Int, _ bytes: [UInt8], endStream: Bool = false) throws {
        try send(Self.frame(0, flags: endStream ? 0x1 : 0, stream: stream, bytes))
    }

    func windowUpdate(stream: Int, _ increment: UInt32) throws {
        try send(
            Self.frame(
                8, stream: stream,
                [UInt8(increment >> 24), UInt8(increment >> 16 & 0xFF), UInt8(increment >> 8 & 0xFF), UInt8(increment & 0xFF)]))
    }

    func settings(_ values: [(UInt16, UInt32)]) throws {
        try send(
            Self.frame(
                4, stream: 0,
                values.flatMap { id, v in
                    [UInt8(id >> 8), UInt8(id & 0xFF), UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
                }))
    }

    func reset(stream: Int) throws { try send(Self.frame(3, stream: stream, [0, 0, 0, 8])) }

    /// Every frame written since the last call, in order.
    func written() throws -> [Frame] {
        channel.embeddedEventLoop.run()
        var all = ByteBuffer()
        while var b = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&b) }
        var frames: [Frame] = []
        while let h = HTTP2Wire.FrameHeader.peek(all), all.readableBytes >= 9 + h.length {
            all.moveReaderIndex(forwardBy: 9)
            frames.append(Frame(type: h.type, flags: h.flags, stream: h.stream, payload: all.readSlice(length: h.length)!))
        }
        #expect(all.readableBytes == 0, "a partial frame was written")
        return frames
    }

    mutating func decode(_ frame: Frame) throws -> HPACKHeaders {
        var p = frame.payload
        return try decoder.decodeHeaders(from: &p)
    }

    /// The GOAWAY's error code among frames, if any.
    static func goAway(_ frames: [Frame]) -> UInt32? {
        frames.last { $0.type == 7 }.map { $0.payload.getInteger(at: $0.payload.readerIndex + 4, as: UInt32.self)! }
    }
}

/// One connection's HTTP/2, frame by frame, as the handler reads and writes it.
@Suite struct CallConnectionHandlerTests {
    static func echo(limits: CallServer.Limits = CallServer.Limits(), executor: EventLoopTaskExecutor) -> CallConnectionHandler {
        CallConnectionHandler(
            routes: ["/t.S/M": .unary { request, call in call.respond(request.reversed()) }], limits: limits, executor: executor)
    }

    @Test func prefaceSettingsAndPing() throws {
        let loop = EmbeddedEventLoop()
        var client = try WireClient(Self.echo(executor: EventLoopTaskExecutor(loop)), preface: false)
        // The server speaks first: SETTINGS and a connection WINDOW_UPDATE to 16 MiB.
        var frames = try client.written()
        #expect(frames.map(\.type) == [4, 8])
        var settings: [UInt16: UInt32] = [:]
        var p = frames[0].payload
        while let id = p.readInteger(as: UInt16.self), let v = p.readInteger(as: UInt32.self) { settings[id] = v }
        #expect(settings == [3: 65_536, 4: 1 << 20, 5: 1 << 20, 6: 1 << 16])
        #expect(frames[1].payload.getInteger(at: frames[1].payload.readerIndex, as: UInt32.self) == UInt32((16 << 20) - 65_535))
        // The preface may come in pieces.
        try client.send(ByteBuffer(bytes: HTTP2Wire.preface[0..<10]))
        try client.send(ByteBuffer(bytes: HTTP2Wire.preface[10...]))
        try client.settings([(4, 100_000)])
        try client.send(WireClient.frame(6, stream: 0, [1, 2, 3, 4, 5, 6, 7, 8]))
        frames = try client.written()
        #expect(frames.map(\.type) == [4, 6] && frames.map(\.flags) == [1, 1])
        #expect(Array(frames[1].payload.readableBytesView) == [1, 2, 3, 4, 5, 6, 7, 8])
        // A PING ACK is not answered.
        try client.send(WireClient.frame(6, flags: 1, stream: 0, [0, 0, 0, 0, 0, 0, 0, 0]))
        #expect(try client.written().isEmpty)
        client = try WireClient(Self.echo(executor: EventLoopTaskExecutor(loop)), preface: false)
        _ = try client.written()
        // Not HTTP/2: closed without an answer.
        try client.send(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(try client.written().isEmpty)
        #expect(!client.channel.isActive)
    }

    /// A unary call whose headers come in HEADERS (padded, with priority) and CONTINUATION and
    /// whose message comes padded in two DATA frames; its answer is HEADERS, DATA and trailers,
    /// the DATA split at the client's frame size.
    @Test func aUnaryCallAcrossFramesAndTheAnswerSplitAtTheFrameSize() throws {
        let loop = EmbeddedEventLoop()
        var client = try WireClient(Self.echo(executor: EventLoopTaskExecutor(loop)))
        _ = try client.written()
        let block = try client.headerBlock(WireClient.grpcHeaders)
        // HEADERS: PADDED (3 bytes) and PRIORITY, the first 4 bytes of the block; CONTINUATION: the rest.
        try client.send(WireClient.frame(1, flags: 0x8 | 0x20, stream: 1, [3, 0, 0, 0, 0, 16] + block[0..<4] + [0, 0, 0]))
        #expect(try client.written().isEmpty)
        try client.send(WireClient.frame(9, flags: 0x4, stream: 1, Array(block[4...])))
        let request = (0..<40_000).map { UInt8(truncatingIfNeeded: $0) }
        let message = WireClient.message(request)
        try client.data(stream: 1, Array(message[0..<7]))
        try client.send(WireClient.frame(0, flags: 0x8 | 0x1, stream: 1, [2] + Array(message[7...]) + [9, 9]))
        let frames = try client.written()
        #expect(frames.map(\.type) == [1, 0, 0, 0, 1])
        #expect(try client.decode(frames[0]) == [":status": "200", "content-type": "application/grpc"])
        #expect(frames.dropFirst().dropLast().map(\.payload.readableBytes) == [16_384, 16_384, 40_005 - 2 * 16_384])
        var answer = ByteBuffer()
        for var f in frames.dropFirst().dropLast() { answer.writeBuffer(&f.payload) }
        #expect(Array(answer.readableBytesView) == WireClient.message(request.reversed()))
        #expect(frames[4].flags == 0x5)
        #expect(try client.decode(frames[4]) == ["grpc-status": "0"])
        // A client that takes larger frames gets the answer in one.
        try client.settings([(5, 1 << 20)])
        try client.windowUpdate(stream: 0, 1_000_000)
        try client.headers(stream: 3)
        try client.data(stream: 3, message, endStream: true)
        #expect(try client.written().map(\.type) == [4, 1, 0, 1])
    }

    @Test func grpcErrorsAndRefusals() throws {
        let loop = EmbeddedEventLoop()
        var client = try WireClient(Self.echo(executor: EventLoopTaskExecutor(loop)))
        _ = try client.written()
        // An unknown method: a trailers-only answer with grpc-go's words.
        var h = WireClient.grpcHeaders
        h.replaceOrAdd(name: ":path", value: "/etcdserverpb.Auth/AuthEnable")
        try client.headers(stream: 1, h, endStream: true)
        var frames = try client.written()
        #expect(frames.count == 1 && frames[0].flags == 0x5)
        #expect(
            try client.decode(frames[0]) == [
                ":status": "200", "content-type": "application/grpc", "grpc-status": "12",
                "grpc-message": "unknown service etcdserverpb.Auth"
            ])
        // Not gRPC: 415.
        h = WireClient.grpcHeaders
        h.replaceOrAdd(name: "content-type", value: "application/json")
        try client.headers(stream: 3, h, endStream: true)
        frames = try client.written()
        #expect(try client.decode(frames[0]) == [":status": "415", "content-type": "text/plain"])
        // A compressed message: UNIMPLEMENTED, then RST_STREAM.
        try client.headers(stream: 5)
        try client.data(stream: 5, [1, 0, 0, 0, 1, 7])
        frames = try client.written()
        #expect(frames.map(\.type) == [1, 3])
        #expect(try client.decode(frames[0])["grpc-status"] == ["12"])
        // Trailers from a client for a call already answered, and DATA after it: nothing.
        try client.headers(stream: 5, ["grpc-foo": "x"], endStream: true)
        try client.data(stream: 5, [1, 2, 3])
        #expect(try client.written().isEmpty)
        #expect(client.channel.isActive)
    }

    @Test func protocolErrorsEndTheConnectionWithGoAway() throws {
        let loop = EmbeddedEventLoop()
        func connection(_ limits: CallServer.Limits = CallServer.Limits()) throws -> WireClient {
            let client = try WireClient(Self.echo(limits: limits, executor: EventLoopTaskExecutor(loop)))
            _ = try client.written()
            return client
        }
        // code 1 PROTOCOL_ERROR, 6 FRAME_SIZE_ERROR, 9 COMPRESSION_ERROR, 3 FLOW_CONTROL_ERROR, 11 ENHANCE_YOUR_CALM
        let cases: [(String, UInt32, (inout WireClient) throws -> Void)] = [
            ("a frame over 1 MiB", 6, { c in try c.send(WireClient.frame(0, stream: 1, []).setLength((1 << 20) + 1)) }),
            ("HEADERS on an even stream", 1, { c in try c.headers(stream: 2) }),
            ("DATA on a stream never opened", 1, { c in try c.data(stream: 7, [0]) }),
            (
                "another frame inside a header block", 1,
                { c in
                    let block = try c.headerBlock(WireClient.grpcHeaders)
                    try c.send(WireClient.frame(1, stream: 1, block))
                    try c.data(stream: 1, [0])
                }
            ),
            ("CONTINUATION alone", 1, { c in try c.send(WireClient.frame(9, flags: 4, stream: 1, [])) }),
            (
                "a header block over 256 KiB", 11,
                { c in
                    try c.send(WireClient.frame(1, stream: 1, [0x88]))
                    try c.send(WireClient.frame(9, stream: 1, [UInt8](repeating: 0, count: 1 << 18)))
                }
            ),
            (
                "a header block HPACK cannot decode", 9,
                { c in try c.send(WireClient.frame(1, flags: 4, stream: 1, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])) }
            ),
            (
                "padding longer than the frame", 1,
                { c in
                    try c.headers(stream: 1)
                    try c.send(WireClient.frame(0, flags: 8, stream: 1, [9, 1]))
                }
            ),
            ("a connection WINDOW_UPDATE of 0", 1, { c in try c.windowUpdate(stream: 0, 0) }),
            ("a connection window over 2^31-1", 3, { c in try c.windowUpdate(stream: 0, 0x7FFF_FFFF) }),
            ("a PING of 7 bytes", 6, { c in try c.send(WireClient.frame(6, stream: 0, [1, 2, 3, 4, 5, 6, 7])) }),
            ("SETTINGS of 5 bytes", 6, { c in try c.send(WireClient.frame(4, stream: 0, [0, 4, 0, 0, 0])) }),
            ("a frame size below 16 KiB", 1, { c in try c.settings([(5, 1000)]) }),
            ("PUSH_PROMISE from a client", 1, { c in try c.send(WireClient.frame(5, stream: 1, [0, 0, 0, 2])) })
        ]
        for (what, code, act) in cases {
            var c = try connection()
            try act(&c)
            let frames = try c.written()
            #expect(WireClient.goAway(frames) == code, "\(what)")
            #expect(!c.channel.isActive, "\(what)")
        }
        // PINGs past the limit per 30 s.
        var limits = CallServer.Limits()
        limits.maxControlFramesPer30s = 5
        let c = try connection(limits)
        for _ in 0..<6 { try c.send(WireClient.frame(6, stream: 0, [UInt8](repeating: 0, count: 8))) }
        #expect(WireClient.goAway(try c.written()) == 11)
        // Unknown frame types and PRIORITY are ignored.
        var ok = try connection()
        try ok.send(WireClient.frame(0xEE, stream: 0, [1, 2, 3]))
        try ok.send(WireClient.frame(2, stream: 1, [0, 0, 0, 0, 16]))
        try ok.headers(stream: 1)
        try ok.data(stream: 1, WireClient.message([1, 2]), endStream: true)
        #expect(try ok.written().map(\.type) == [1, 0, 1])
    }

    @Test func aStreamBeyondTheClientsWindowsIsBlockedUntilItReads() throws {
        let loop = EmbeddedEventLoop()
        let streamBox = Locked<ServerStream?>(nil)
        let log = Locked<[String]>([])
        var limits = CallServer.Limits()
        limits.streamHighWater = 100_000
        let handler = CallConnectionHandler(
            routes: [
                "/t.S/M": .streaming { s in
                    streamBox.withLock { $0 = s }
                    return Recording(s, log: log)
                }
            ], limits: limits, executor: EventLoopTaskExecutor(loop))
        var client = try WireClient(handler)
        _ = try client.written()
        try client.headers(stream: 1)
        let stream = try #require(streamBox.withLock { $0 })
        // 65,535 bytes of window at first: 150,000 more are held, over the high-water mark.
        let piece = [UInt8](repeating: 0, count: 49_995)  // 50,000 bytes with its prefix
        for _ in 0..<4 { stream.send([piece]) }
        var frames = try client.written()
        #expect(frames.filter { $0.type == 0 }.reduce(0) { $0 + $1.payload.readableBytes } == 65_535)
        #expect(stream.isBlocked)
        var woke = false
        stream.whenWritable { woke = true }
        // The client reads and gives back part of its stream window: still behind by more than half the mark.
        try client.windowUpdate(stream: 1, 60_000)
        #expect(!woke)
        // The connection window too limits: more stream window alone does not unblock.
        try client.windowUpdate(stream: 1, 1_000_000)
        #expect(!woke && stream.isBlocked)
        try client.windowUpdate(stream: 0, 1_000_000)
        #expect(woke && !stream.isBlocked)
        frames = try client.written()
        #expect(frames.filter { $0.type == 0 }.reduce(0) { $0 + $1.payload.readableBytes } == 200_000 - 65_535)
        #expect(frames.allSatisfy { $0.payload.readableBytes <= 16_384 })
        // A client that raises its initial window in SETTINGS gives every open stream that much more.
        for _ in 0..<25 { stream.send([piece]) }
        #expect(stream.isBlocked)
        try client.settings([(4, 1 << 20)])
        try client.windowUpdate(stream: 0, 10_000_000)
        #expect(!stream.isBlocked)
        // Finished while holding DATA: the trailers come after the last of it.
        for _ in 0..<25 { stream.send([piece]) }
        _ = try client.written()
        stream.finish(.ok)
        #expect(try client.written().isEmpty)
        #expect(log.withLock { $0 } == ["over"])
        try client.windowUpdate(stream: 1, 2_000_000)
        try client.windowUpdate(stream: 0, 2_000_000)
        frames = try client.written()
        #expect(frames.last?.type == 1 && frames.last?.flags == 0x5)
        #expect(try client.decode(frames.last!) == ["grpc-status": "0"])
        // A reset from the client ends a call.
        try client.headers(stream: 3)
        try client.reset(stream: 3)
        #expect(log.withLock { $0 } == ["over", "over"])
        _ = try client.channel.finish(acceptAlreadyClosed: true)
    }

    /// A connection NIO cannot write as fast as it is given (the socket full, more than the
    /// high-water mark pending) blocks every stream on it; when it drains, the waiting streams
    /// go on in turn, and one that fills it again leaves the others their place.
    @Test func aBackedUpConnectionBlocksItsStreamsAndWakesThemInTurn() throws {
        let loop = EmbeddedEventLoop()
        let streams = Locked<[ServerStream]>([])
        let log = Locked<[String]>([])
        let handler = CallConnectionHandler(
            routes: [
                "/t.S/M": .streaming { s in
                    streams.withLock { $0.append(s) }
                    return Recording(s, log: log)
                }
            ], limits: CallServer.Limits(), executor: EventLoopTaskExecutor(loop))
        var client = try WireClient(handler)
        _ = try client.written()
        try client.headers(stream: 1)
        try client.headers(stream: 3)
        let (one, three) = try #require(streams.withLock { $0.count == 2 ? ($0[0], $0[1]) : nil })
        #expect(!one.isBlocked && !three.isBlocked)
        client.channel.isWritable = false
        #expect(one.isBlocked && three.isBlocked)
        var order: [Int] = []
        // Stream 1 writes enough to back the connection up again.
        one.whenWritable {
            order.append(1)
            client.channel.isWritable = false
        }
        three.whenWritable { order.append(3) }
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(order.isEmpty)
        client.channel.isWritable = true
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(order == [1])
        one.whenWritable { order.append(10) }
        client.channel.isWritable = true
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(order == [1, 3, 10])
        // A stream that ends while it waits is not called.
        client.channel.isWritable = false
        three.whenWritable { order.append(30) }
        try client.reset(stream: 3)
        client.channel.isWritable = true
        client.channel.pipeline.fireChannelWritabilityChanged()
        #expect(order == [1, 3, 10])
        _ = try client.channel.finish(acceptAlreadyClosed: true)
    }

    /// A large write goes to the channel in chunks of at most 64 KiB, its DATA frames no larger
    /// than a chunk even when the client takes 1 MiB frames, every message whole and in order.
    @Test func largeWritesGoOutInChunks() throws {
        let loop = EmbeddedEventLoop()
        let streamBox = Locked<ServerStream?>(nil)
        let executor = EventLoopTaskExecutor(loop)
        let handler = CallConnectionHandler(
            routes: [
                "/t.S/M": .streaming { s in
                    streamBox.withLock { $0 = s }
                    return Recording(s, log: Locked([]))
                }
            ], limits: CallServer.Limits(), executor: executor)
        var client = try WireClient(handler)
        try client.settings([(4, 8 << 20), (5, 1 << 20)])
        try client.windowUpdate(stream: 0, 8 << 20)
        _ = try client.written()
        try client.headers(stream: 1)
        let stream = try #require(streamBox.withLock { $0 })
        for round in 0..<2 {
            let sizes = (0..<200).map { 1_000 + $0 * 7 }
            stream.send(sizes: sizes) { i, at in
                at.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: i + round), count: sizes[i])
            }
            client.channel.embeddedEventLoop.run()
            var buffers: [ByteBuffer] = []
            while let b = try client.channel.readOutbound(as: ByteBuffer.self) { buffers.append(b) }
            #expect(buffers.count > 1 && buffers.allSatisfy { $0.readableBytes <= HTTP2Wire.TurnOutput.chunk })
            var all = ByteBuffer()
            for var b in buffers { all.writeBuffer(&b) }
            var data = ByteBuffer()
            while let h = HTTP2Wire.FrameHeader.peek(all), all.readableBytes >= 9 + h.length {
                all.moveReaderIndex(forwardBy: 9)
                var payload = all.readSlice(length: h.length)!
                if h.type == 0 {
                    #expect(h.length <= HTTP2Wire.TurnOutput.chunk - 9)
                    data.writeBuffer(&payload)
                }
            }
            var intact = true
            for (i, n) in sizes.enumerated() {
                intact =
                    intact && data.readInteger(as: UInt8.self) == 0 && data.readInteger(as: UInt32.self) == UInt32(n)
                    && data.readBytes(length: n) == [UInt8](repeating: UInt8(truncatingIfNeeded: i + round), count: n)
            }
            #expect(intact, "the messages came out whole and in order")
            #expect(data.readableBytes == 0)
        }
        // Written chunks came back to the loop's pool (the channel let go of them).
        #expect(executor.chunks.count > 0)
        _ = try client.channel.finish(acceptAlreadyClosed: true)
    }

    @Test func aPooledChunkIsReusedOnlyOnceTheChannelLetsGo() {
        let pool = HTTP2Wire.ChunkPool(limit: 2)
        let allocator = ByteBufferAllocator()
        func storage(_ b: ByteBuffer) -> UnsafeRawPointer? { b.withVeryUnsafeBytes { $0.baseAddress } }
        var a = pool.take(allocator)
        #expect(a.capacity == HTTP2Wire.TurnOutput.chunk)
        a.writeString("sent")
        let first = storage(a)
        pool.give(a)
        a = ByteBuffer()
        // Only the pool holds it: the same memory, empty.
        var b = pool.take(allocator)
        #expect(storage(b) == first && b.readableBytes == 0)
        b.writeString("still being written")
        let inFlight = b
        pool.give(b)
        let c = pool.take(allocator)
        #expect(storage(c) != first && c.readableBytes == 0)
        #expect(inFlight.getString(at: 0, length: 5) == "still")
        // Full: the oldest stay, more are dropped; other sizes are not kept.
        #expect(pool.count == 0)
        for _ in 0..<3 { pool.give(allocator.buffer(capacity: HTTP2Wire.TurnOutput.chunk)) }
        pool.give(allocator.buffer(capacity: 1024))
        #expect(pool.count == 2)
    }

    /// Partial request messages are counted across a connection's calls: the count goes back
    /// to zero as messages complete and calls end, and past the limit the connection gets
    /// GOAWAY ENHANCE_YOUR_CALM and closes.
    @Test func partialRequestsAreBoundedPerConnection() throws {
        let log = Locked<[String]>([])
        var limits = CallServer.Limits()
        limits.maxBufferedRequestBytesPerConnection = 100
        let handler = CallConnectionHandler(
            routes: ["/t.S/M": .streaming { s in Recording(s, log: log) }],
            limits: limits, executor: EventLoopTaskExecutor(EmbeddedEventLoop()))
        var client = try WireClient(handler)
        /// A message prefix announcing `length` bytes, and `body` bytes of it.
        func partial(_ length: UInt32, _ body: Int) -> [UInt8] {
            [0, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
                + [UInt8](repeating: 7, count: body)
        }
        // A whole message, then a partial one that a reset ends: nothing stays counted.
        try client.headers(stream: 1)
        try client.data(stream: 1, partial(3, 3))
        #expect(handler.bufferedRequestBytes == 0)
        try client.data(stream: 1, partial(50, 10))
        #expect(handler.bufferedRequestBytes == 15)
        // The rest of it in two frames: whole, and counted out.
        try client.data(stream: 1, [UInt8](repeating: 7, count: 20))
        #expect(handler.bufferedRequestBytes == 35)
        try client.data(stream: 1, [UInt8](repeating: 7, count: 20) + partial(50, 10))
        #expect(handler.bufferedRequestBytes == 15)
        try client.reset(stream: 1)
        #expect(handler.bufferedRequestBytes == 0)
        // Two streams holding 65 bytes each: over 100, GOAWAY and close.
        for id in [3, 5] {
            try client.headers(stream: id)
            try client.data(stream: id, partial(1000, 60))
        }
        #expect(WireClient.goAway(try client.written()) == 11)
        #expect(!client.channel.isActive)
        _ = try? client.channel.finish(acceptAlreadyClosed: true)
    }
}

extension ByteBuffer {
    /// The same frame claiming another length (its payload is not sent).
    func setLength(_ n: Int) -> ByteBuffer {
        var b = self
        b.setInteger(UInt16(n >> 8), at: b.readerIndex)
        b.setInteger(UInt8(n & 0xFF), at: b.readerIndex + 2)
        return b
    }
}

/// Random and mutated HTTP/2 fed to the handler byte by byte or in pieces: it never traps, it
/// ends the connection or goes on serving, and its count of held request bytes stays sound.
@Suite struct HTTP2WireFuzzTests {
    @Test func randomFramesNeverTrapTheHandler() throws {
        let seed = UInt64.random(in: 0...UInt64(UInt32.max))
        var rng = SeededRandom(seed: seed)
        let loop = EmbeddedEventLoop()
        var served = 0
        var ended = 0
        for _ in 0..<1_500 {
            var limits = CallServer.Limits()
            limits.maxBufferedRequestBytesPerConnection = 4_096
            limits.maxConcurrentStreams = 8
            limits.streamHighWater = 1_000
            let handler = CallConnectionHandler(
                routes: [
                    "/t.S/M": .unary { request, call in call.respond(request + request) },
                    "/t.S/Stream": .streaming { s in Recording(s, log: Locked([])) }
                ], limits: limits, executor: EventLoopTaskExecutor(loop))
            var client = try WireClient(handler)
            var bytes = ByteBuffer()
            for _ in 0..<Int.random(in: 1...25, using: &rng) {
                let stream = [0, 1, 2, 3, 5, 7, 9, Int.random(in: 0...0x7FFF_FFFF, using: &rng)].randomElement(using: &rng)!
                switch Int.random(in: 0..<10, using: &rng) {
                case 0...2:
                    // A well-formed call, sometimes on the streaming method.
                    var h = WireClient.grpcHeaders
                    if Bool.random(using: &rng) { h.replaceOrAdd(name: ":path", value: "/t.S/Stream") }
                    let block = try client.headerBlock(h)
                    var f = WireClient.frame(1, flags: 0x4 | (Bool.random(using: &rng) ? 1 : 0), stream: stream, block)
                    bytes.writeBuffer(&f)
                    let body = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    var d = WireClient.frame(0, flags: Bool.random(using: &rng) ? 1 : 0, stream: stream, WireClient.message(body))
                    bytes.writeBuffer(&d)
                case 3...6:
                    // Any frame type and flags with a random payload.
                    let payload = (0..<Int.random(in: 0...30, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    var f = WireClient.frame(
                        UInt8.random(in: 0...11, using: &rng), flags: UInt8.random(in: 0...255, using: &rng), stream: stream, payload)
                    bytes.writeBuffer(&f)
                case 7:
                    // A frame whose length field lies.
                    var f = WireClient.frame(UInt8.random(in: 0...9, using: &rng), stream: stream, [1, 2, 3, 4, 5, 6, 7, 8])
                        .setLength(Int.random(in: 0...(1 << 21), using: &rng))
                    bytes.writeBuffer(&f)
                case 8:
                    // A window update or settings with extreme values.
                    try client.send(bytes)
                    bytes.clear()
                    if Bool.random(using: &rng) {
                        try client.windowUpdate(stream: stream, UInt32.random(in: 0...UInt32.max, using: &rng))
                    } else {
                        try client.settings([(UInt16.random(in: 0...8, using: &rng), UInt32.random(in: 0...UInt32.max, using: &rng))])
                    }
                default:
                    // Random bytes.
                    bytes.writeBytes((0..<Int.random(in: 1...20, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
                }
            }
            // Sent in random pieces.
            while bytes.readableBytes > 0 && client.channel.isActive {
                let n = min(bytes.readableBytes, Int.random(in: 1...64, using: &rng))
                try client.send(bytes.readSlice(length: n)!)
            }
            _ = try client.written()
            #expect(handler.bufferedRequestBytes >= 0, "seed \(seed)")
            if client.channel.isActive { served += 1 } else { ended += 1 }
            _ = try? client.channel.finish(acceptAlreadyClosed: true)
        }
        // Both outcomes occur: the inputs are neither all refused nor all accepted.
        #expect(served > 0 && ended > 0, "seed \(seed): \(served) connections open at the end, \(ended) ended")
    }
}

import EtcdClient
import NIOCore
import NIOEmbedded
import Testing

@Suite struct ServerPingAnswererTests {
    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [
            UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags,
            UInt8(stream >> 24), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)
        ] + payload
    }

    /// Every frame but the server's PINGs reaches the HTTP/2 handler byte for byte, however the
    /// bytes are cut into reads; each PING is answered with an ACK carrying its payload.
    @Test(arguments: [1, 2, 5, 9, 17, 1000]) func pingsAreAnsweredAndEverythingElsePasses(chunk: Int) throws {
        let settings = Self.frame(type: 0x4, flags: 0, stream: 0, payload: [0, 3, 0, 0, 0, 100])
        let ping1 = Self.frame(type: 0x6, flags: 0, stream: 0, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        let data = Self.frame(type: 0x0, flags: 0x1, stream: 1, payload: (0..<40).map { UInt8($0) })
        let pingAck = Self.frame(type: 0x6, flags: 0x1, stream: 0, payload: [9, 9, 9, 9, 9, 9, 9, 9])
        let ping2 = Self.frame(type: 0x6, flags: 0, stream: 0, payload: [8, 7, 6, 5, 4, 3, 2, 1])
        let headers = Self.frame(type: 0x1, flags: 0x4, stream: 3, payload: [0x88])
        let input = settings + ping1 + data + pingAck + ping2 + headers
        let channel = EmbeddedChannel(handler: ServerPingAnswerer())
        var offset = 0
        while offset < input.count {
            let end = min(offset + chunk, input.count)
            try channel.writeInbound(ByteBuffer(bytes: input[offset..<end]))
            offset = end
        }
        var passed: [UInt8] = []
        while let b = try channel.readInbound(as: ByteBuffer.self) { passed += b.readableBytesView }
        #expect(passed == settings + data + pingAck + headers)
        var answers: [UInt8] = []
        while let b = try channel.readOutbound(as: ByteBuffer.self) { answers += b.readableBytesView }
        #expect(
            answers == Self.frame(type: 0x6, flags: 0x1, stream: 0, payload: [1, 2, 3, 4, 5, 6, 7, 8])
                + Self.frame(type: 0x6, flags: 0x1, stream: 0, payload: [8, 7, 6, 5, 4, 3, 2, 1]))
        _ = try channel.finish()
    }
}

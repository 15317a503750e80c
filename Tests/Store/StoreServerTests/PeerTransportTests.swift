import Base
import EtcdWire
import Foundation
import Logging
import MVCC
import NIOPosix
import Raft
import Testing

@testable import StoreServer

@Suite struct PeerCodecTests {
    static let sample = Message(
        kind: .append, from: 7, to: 9, term: 5, logTerm: 4, index: 100,
        entries: [Entry(term: 4, index: 101, data: b("hello")), Entry(term: 5, index: 102, kind: .confChange, data: [])],
        commit: 99, reject: true, rejectHint: 42,
        snapshot: Snapshot(
            metadata: SnapshotMetadata(index: 50, term: 3, confState: ConfState(voters: [1, 2], learners: [3])),
            data: [1, 2, 3]),
        context: 0xDEAD_BEEF)

    @Test func everyFrameRoundTrips() throws {
        let frames: [PeerFrame] = [
            .hello(version: 1, clusterID: 0x1234_5678_9ABC, from: 3, to: 4), .welcome, .refuse("cluster ID mismatch ✗"),
            .messages([]), .messages([Self.sample, Message(kind: .heartbeat, from: 1, to: 2, term: 1, commit: 3, context: 8)]),
            .chunk(transfer: 9, total: 100, offset: 40, bytes: [1, 2, 3]), .removed,
            .join(version: 1, peerURLs: ["http://a:1", "http://b:2"]),
            .joined(memberID: 4, clusterID: 5, members: [ClusterMember(id: 4, name: "m4", peerURLs: ["http://a:1"], isLearner: true)]),
            .leaderCalls([
                ForwardedLeaderCall(request: 1, from: 2, call: .renew(lease: -5)),
                ForwardedLeaderCall(request: 2, from: 2, call: .timeToLive(lease: 7, keys: true))
            ]),
            .leaderAnswers([
                LeaderCallAnswer(request: 1, result: .renewed(ttl: 60)), LeaderCallAnswer(request: 2, result: .notFound),
                LeaderCallAnswer(request: 3, result: .notLeader),
                LeaderCallAnswer(request: 4, result: .timeToLive(.init(id: 7, ttl: 3, grantedTTL: 10, keys: [b("a"), []])))
            ])
        ]
        for f in frames {
            let bytes = PeerCodec.encode(f)
            let length = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
            #expect(length == bytes.count - 4)
            #expect(try PeerCodec.decode(body: Array(bytes[4...])) == f)
        }
    }

    @Test func damagedFramesAreRefusedNotTrusted() {
        let body = Array(PeerCodec.encode(.messages([Self.sample]))[4...])
        // Every truncation fails cleanly.
        for cut in 0..<body.count {
            #expect(throws: DecodeError.self) { try PeerCodec.decode(body: Array(body[..<cut])) }
        }
        // Trailing bytes, an unknown frame type, an unknown message kind, a huge count.
        #expect(throws: DecodeError.self) { try PeerCodec.decode(body: body + [0]) }
        #expect(throws: DecodeError.self) { try PeerCodec.decode(body: [99]) }
        var kind = body
        kind[5] = 200
        #expect(throws: DecodeError.self) { try PeerCodec.decode(body: kind) }
        #expect(throws: DecodeError.self) { try PeerCodec.decode(body: [4, 0xFF, 0xFF, 0xFF, 0xFF]) }
    }
}

/// Collects what a transport delivers.
final class Inbox: @unchecked Sendable {
    private let lock = Lock()
    private var messages: [Message] = []
    func add(_ ms: [Message]) { lock.withLock { messages += ms } }
    var all: [Message] { lock.withLock { messages } }

    func wait(for count: Int, timeout: Duration = .seconds(20)) async -> [Message] {
        let deadline = ContinuousClock.now + timeout
        while all.count < count && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return all
    }
}

/// The lines logged through `logger`, for tests that look for what a component reported.
final class LogLines: Sendable {
    private let stored = Locked<[String]>([])
    var lines: [String] { stored.current }

    var logger: Logger { Logger(label: "test") { _ in Handler(lines: self.stored) } }

    private struct Handler: LogHandler {
        let lines: Locked<[String]>
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { lines.withLock { $0.append("\(event.message)") } }
    }
}

@Suite(.serialized) struct PeerTransportTests {
    @Test func messagesArriveInOrderInBatchesAndAfterAReconnect() async throws {
        let a = PeerTransport(id: 1, clusterID: 77, logger: Logger(label: "test"))
        let inbox = Inbox()
        var b = PeerTransport(id: 2, clusterID: 77, logger: Logger(label: "test"))
        b.setReceiver { inbox.add($0) }
        let addressB = try await b.listen(host: "127.0.0.1", port: 0)
        a.setPeer(2, address: addressB)
        // The first send dials; messages sent while the handshake runs wait in the queue.
        let first = (1...500).map { Message(kind: .heartbeat, from: 1, to: 2, term: 1, context: UInt64($0)) }
        for m in first { a.send([m]) }
        let got = await inbox.wait(for: 500)
        #expect(got.map(\.context) == (1...500).map(UInt64.init))
        // The listener goes away and comes back on the same port: the sender dials again.
        b.shutdown()
        b = PeerTransport(id: 2, clusterID: 77, logger: Logger(label: "test"))
        b.setReceiver { inbox.add($0) }
        _ = try await b.listen(host: "127.0.0.1", port: addressB.port)
        let deadline = ContinuousClock.now + .seconds(20)
        while inbox.all.count == 500 && ContinuousClock.now < deadline {
            a.send([Message(kind: .heartbeat, from: 1, to: 2, term: 2, context: 1000)])
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(inbox.all.count > 500)
        #expect(inbox.all.dropFirst(500).allSatisfy { $0.term == 2 })
        a.shutdown()
        b.shutdown()
    }

    /// A snapshot bigger than a chunk travels in pieces and arrives whole, between the small
    /// messages sent before and after it, in order.
    @Test func aLargeSnapshotArrivesInChunks() async throws {
        let a = PeerTransport(id: 1, clusterID: 77, logger: Logger(label: "test"))
        let inbox = Inbox()
        let b = PeerTransport(id: 2, clusterID: 77, logger: Logger(label: "test"))
        b.setReceiver { inbox.add($0) }
        a.setPeer(2, address: try await b.listen(host: "127.0.0.1", port: 0))
        defer {
            a.shutdown()
            b.shutdown()
        }
        let data = (0..<(5 * PeerFrame.snapshotChunkBytes + 123)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let snapshot = Message(
            kind: .snapshot, from: 1, to: 2, term: 3,
            snapshot: Snapshot(metadata: SnapshotMetadata(index: 900, term: 3, confState: ConfState(voters: [1, 2])), data: data))
        // Dial first, so that nothing is dropped while the handshake runs.
        let deadline = ContinuousClock.now + .seconds(20)
        while inbox.all.isEmpty && ContinuousClock.now < deadline {
            a.send([Message(kind: .heartbeat, from: 1, to: 2, term: 3, context: 1)])
            try await Task.sleep(for: .milliseconds(20))
        }
        let before = inbox.all.count
        a.send([Message(kind: .heartbeat, from: 1, to: 2, term: 3, context: 2), snapshot])
        a.send([Message(kind: .heartbeat, from: 1, to: 2, term: 3, context: 3)])
        let got = Array(await inbox.wait(for: before + 3).dropFirst(before))
        #expect(got.count == 3)
        #expect(got.first { $0.kind == .snapshot } == snapshot)
        #expect(got.filter { $0.kind == .heartbeat }.map(\.context) == [2, 3])
    }

    @Test func aMemberOfAnotherClusterIsRefused() async throws {
        let log = LogLines()
        let stranger = PeerTransport(id: 1, clusterID: 1111, logger: log.logger)
        let inbox = Inbox()
        let member = PeerTransport(id: 2, clusterID: 2222, logger: log.logger)
        member.setReceiver { inbox.add($0) }
        let address = try await member.listen(host: "127.0.0.1", port: 0)
        stranger.setPeer(2, address: address)
        let deadline = ContinuousClock.now + .seconds(20)
        while !log.lines.contains(where: { $0.contains("cluster ID mismatch") }) && ContinuousClock.now < deadline {
            stranger.send([Message(kind: .heartbeat, from: 1, to: 2, term: 1)])
            try await Task.sleep(for: .milliseconds(50))
        }
        // Both sides say why; nothing was delivered.
        #expect(log.lines.contains { $0.contains("refused a peer connection") && $0.contains("cluster ID mismatch") })
        #expect(log.lines.contains { $0.contains("cannot reach peer 2") && $0.contains("refused: cluster ID mismatch") })
        #expect(inbox.all.isEmpty)
        // A hello meant for another member, and one from a removed member, are refused too.
        #expect(member.admit(version: PeerFrame.version, clusterID: 2222, from: 1, to: 3)?.contains("not 3") == true)
        member.removePeer(5)
        #expect(member.admit(version: PeerFrame.version, clusterID: 2222, from: 5, to: 2)?.contains("removed") == true)
        #expect(member.admit(version: PeerFrame.version + 1, clusterID: 2222, from: 1, to: 2) != nil)
        #expect(member.admit(version: PeerFrame.version, clusterID: 2222, from: 1, to: 2) == nil)
        stranger.shutdown()
        member.shutdown()
    }

    /// `sharedLoop`: each member's turns and its peer connections on one event loop of its own,
    /// as `capstan store` runs them (with its client port); otherwise the member makes its own
    /// loop and the transports share the process's. `walOnLoop`: the turns write and sync the
    /// WAL themselves (`--experimental-wal-on-loop`).
    @Test(arguments: [(false, false), (true, false), (true, true)])
    func threeMembersOverTCPElectAndReplicate(sharedLoop: Bool, walOnLoop: Bool) async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-tcp-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: base) }
        let ids: [NodeID] = [1, 2, 3]
        var transports: [NodeID: PeerTransport] = [:]
        var bound: [NodeID: PeerTransport.Address] = [:]
        var loops: [NodeID: MultiThreadedEventLoopGroup] = [:]
        for id in ids {
            if sharedLoop { loops[id] = MultiThreadedEventLoopGroup(numberOfThreads: 1) }
            let t = PeerTransport(id: id, clusterID: 9, group: loops[id], logger: Logger(label: "test"))
            bound[id] = try await t.listen(host: "127.0.0.1", port: 0)
            transports[id] = t
        }
        var members: [NodeID: Member] = [:]
        let addresses = bound
        let observedOffLoop = Locked(false)
        for id in ids {
            var c = MemberConfig(id: id, initialMembers: ids, dataDirectory: "\(base)/m\(id.rawValue)", watchEncoder: EtcdWatchEncoder())
            c.tick = .milliseconds(50)
            c.requestTimeout = .seconds(30)
            c.bootstrapMembers = ids.map { ClusterMember(id: $0, name: "m\($0.rawValue)", peerURLs: ["http://\(addresses[$0]!)"]) }
            c.name = "m\(id.rawValue)"
            c.clientURLs = ["http://127.0.0.1:\(2379 + Int(id.rawValue))"]
            c.eventLoop = loops[id]?.next()
            c.walWritesOnLoop = walOnLoop
            let t = transports[id]!
            let loop = c.eventLoop
            let m = try Member(config: c, transport: t) { list in
                // Called on the member's loop: the one given, when given.
                if let loop, !loop.inEventLoop { observedOffLoop.withLock { $0 = true } }
                for other in list.sorted where other.id != id { t.setPeer(other.id, address: addresses[other.id]!) }
            }
            t.setReceiver { m.receive($0) }
            members[id] = m
        }
        defer {
            for m in members.values { m.stop() }
            for t in transports.values { t.shutdown() }
            for l in loops.values { l.shutdownGracefully { _ in } }
        }
        // Writes through every member (followers forward), then every member has them all.
        for (i, id) in ids.enumerated() {
            var done = false
            let deadline = ContinuousClock.now + .seconds(60)
            while !done {
                do {
                    _ = try await members[id]!.write(.put(PutRequest(key: b("k\(i)"), value: b("v\(i)"))))
                    done = true
                } catch {
                    guard ContinuousClock.now < deadline else { throw error }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        for id in ids {
            let r = try await members[id]!.range(RangeRequest(key: b("k"), rangeEnd: b("l")))
            #expect(r.kvs.map { String(decoding: $0.value, as: UTF8.self) } == ["v0", "v1", "v2"])
        }
        // Every member published its name and client URL through the log.
        let deadline = ContinuousClock.now + .seconds(30)
        while members[1]!.members.contains(where: { $0.clientURLs.isEmpty }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(members[1]!.members.map(\.name) == ["m1", "m2", "m3"])
        #expect(members[1]!.members.map(\.clientURLs) == [["http://127.0.0.1:2380"], ["http://127.0.0.1:2381"], ["http://127.0.0.1:2382"]])
        #expect(members[1]!.members.map(\.peerURLs) == ids.map { ["http://\(addresses[$0]!)"] })
        #expect(!observedOffLoop.current)
    }
}

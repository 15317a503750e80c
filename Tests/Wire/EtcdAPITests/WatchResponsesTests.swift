import EtcdProto
import EtcdWire
import Foundation
import SwiftProtobuf
import Testing

@testable import EtcdAPI
@testable import MVCC

/// How a drain's frames become responses: batches for the same watchers queued together go
/// out as one response (the later header, every event in order) and nothing else changes.
@Suite struct WatchResponsesTests {
    /// A frame of events at `revisions` (a key each, `valueSize` bytes of value) for the
    /// watchers `ids` of group `group`, its header at the last revision.
    static func events(_ revisions: [Int64], to ids: [Int64], group: ObjectIdentifier, valueSize: Int = 3) throws -> WatchFrame {
        var header = Etcdserverpb_ResponseHeader()
        header.clusterID = 11
        header.memberID = 22
        header.revision = revisions.last!
        header.raftTerm = 3
        let headerOnly = try Etcdserverpb_WatchResponse.with { $0.header = header }.serializedBytes() as [UInt8]
        let body =
            try Etcdserverpb_WatchResponse.with { r in
                r.header = header
                r.events = revisions.map { rev in
                    Mvccpb_Event.with {
                        $0.kv.key = Data("k\(rev)".utf8)
                        $0.kv.modRevision = rev
                        $0.kv.createRevision = rev
                        $0.kv.version = 1
                        $0.kv.value = Data(repeating: 0x76, count: valueSize)
                    }
                }
            }.serializedBytes() as [UInt8]
        let one = WatchFrame(
            watchID: ids[0], idBytes: WatchFrame.idFieldSize(ids[0]), body: body, eventCount: revisions.count,
            eventsOffset: headerOnly.count, group: group)
        return ids.count == 1 ? one : WatchFrame(one, to: ids[...], EtcdWatchEncoder())
    }

    /// A response that is not events (here: a progress notification to every watcher).
    static func progress(_ revision: Int64) throws -> WatchFrame {
        let body = try Etcdserverpb_WatchResponse.with { $0.header.revision = revision }.serializedBytes() as [UInt8]
        return WatchFrame(watchID: -1, idBytes: WatchFrame.idFieldSize(-1), body: body, eventCount: 0)
    }

    /// Every response written, decoded, in order.
    static func written(_ frames: [WatchFrame]) throws -> [Etcdserverpb_WatchResponse] {
        let responses = WatchResponses(frames)
        return try responses.sizes.indices.map { i in
            var bytes = [UInt8](repeating: 0xEE, count: responses.sizes[i] + 1)
            bytes.withUnsafeMutableBytes { out in responses.withWriter { $0(i, out.baseAddress!) } }
            #expect(bytes.last == 0xEE, "response \(i) overran its size")
            return try Etcdserverpb_WatchResponse(serializedBytes: Array(bytes.dropLast()))
        }
    }

    static func summary(_ r: [Etcdserverpb_WatchResponse]) -> [String] {
        r.map { "\($0.watchID)@\($0.header.revision):" + $0.events.map { String($0.kv.modRevision) }.joined(separator: ",") }
    }

    final class Group {}

    @Test func batchesForTheSameWatchersAreJoinedAcrossOtherGroups() throws {
        let a = Group()
        let b = Group()
        let frames = [
            try Self.events([5], to: [1, 2], group: ObjectIdentifier(a)),
            try Self.events([5], to: [7], group: ObjectIdentifier(b)),
            try Self.events([6, 7], to: [1, 2], group: ObjectIdentifier(a)),
            try Self.events([8], to: [7], group: ObjectIdentifier(b)),
            try Self.events([9], to: [1, 2], group: ObjectIdentifier(a))
        ]
        let r = try Self.written(frames)
        #expect(Self.summary(r) == ["1@9:5,6,7,9", "2@9:5,6,7,9", "7@8:5,8"])
        #expect(r[0].events.map(\.kv.key) == [5, 6, 7, 9].map { Data("k\($0)".utf8) })
        #expect(r[0].header.clusterID == 11 && r[0].header.memberID == 22 && r[0].header.raftTerm == 3)
    }

    @Test func otherResponsesAreNotJumpedOver() throws {
        let a = Group()
        let frames = [
            try Self.events([5], to: [1, 2], group: ObjectIdentifier(a)),
            try Self.progress(5),
            try Self.events([6], to: [1, 2], group: ObjectIdentifier(a)),
            try Self.events([7], to: [1, 2], group: ObjectIdentifier(a))
        ]
        #expect(Self.summary(try Self.written(frames)) == ["1@5:5", "2@5:5", "-1@5:", "1@7:6,7", "2@7:6,7"])
    }

    /// A batch of the group for other watchers (a share split, a watcher catching up alone)
    /// may overlap: no later batch joins one before it.
    @Test func aBatchForOtherWatchersOfTheGroupEndsTheJoin() throws {
        let a = Group()
        let frames = [
            try Self.events([5], to: [1, 2], group: ObjectIdentifier(a)),
            try Self.events([6], to: [1], group: ObjectIdentifier(a)),
            try Self.events([7], to: [1, 2], group: ObjectIdentifier(a)),
            try Self.events([8], to: [1, 2], group: ObjectIdentifier(a))
        ]
        #expect(Self.summary(try Self.written(frames)) == ["1@5:5", "2@5:5", "1@6:6", "1@8:7,8", "2@8:7,8"])
    }

    @Test func aJoinedResponseStaysWithinItsLimit() throws {
        let a = Group()
        // Two fit in the limit, three do not.
        let frames = try (5...8).map {
            try Self.events([Int64($0)], to: [3], group: ObjectIdentifier(a), valueSize: WatchResponses.maxJoinedBytes * 2 / 5)
        }
        let r = try Self.written(frames)
        #expect(Self.summary(r) == ["3@6:5,6", "3@8:7,8"])
        #expect(WatchResponses(frames).sizes.allSatisfy { $0 <= WatchResponses.maxJoinedBytes + 2 })
        // One frame larger than the limit goes out as it is.
        let huge = try Self.events([9], to: [3], group: ObjectIdentifier(a), valueSize: 2 * WatchResponses.maxJoinedBytes)
        #expect(Self.summary(try Self.written([huge, frames[0]])) == ["3@9:9", "3@5:5"])
    }
}

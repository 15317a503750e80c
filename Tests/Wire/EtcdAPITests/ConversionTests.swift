import EtcdProto
import EtcdWire
import Foundation
import GRPCWire
import MVCC
import NIOCore
import SwiftProtobuf
import Testing

@testable import EtcdAPI

@Suite struct ConversionTests {
    let h = ResponseHeaderInfo(clusterID: 11, memberID: 22, raftTerm: 3)

    /// A Kubernetes-shaped update Txn, as bytes on the wire, through the mapping and the
    /// state machine and back to bytes that decode to what etcd would answer.
    @Test func txnFromWireBytesToWireBytes() throws {
        var put = Etcdserverpb_PutRequest()
        put.key = Data("/registry/pods/a".utf8)
        put.value = Data("v1".utf8)
        var cmp = Etcdserverpb_Compare()
        cmp.key = put.key
        cmp.target = .mod
        cmp.result = .equal
        cmp.targetUnion = .modRevision(0)
        var get = Etcdserverpb_RangeRequest()
        get.key = put.key
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [cmp]
        var op = Etcdserverpb_RequestOp()
        op.request = .requestPut(put)
        txn.success = [op]
        var fallback = Etcdserverpb_RequestOp()
        fallback.request = .requestRange(get)
        txn.failure = [fallback]
        let bytes: [UInt8] = try txn.serializedBytes()

        let store = KVStore()
        let decoded = try Etcdserverpb_TxnRequest(serializedBytes: bytes)
        let first = try store.txn(Wire.request(decoded))
        let second = try store.txn(Wire.request(decoded))
        let out1 = Wire.response(first, h)
        let out2: Etcdserverpb_TxnResponse = try Etcdserverpb_TxnResponse(
            serializedBytes: Wire.response(second, h).serializedBytes() as [UInt8])
        #expect(out1.succeeded && out1.header.revision == 2 && out1.header.memberID == 22 && out1.header.raftTerm == 3)
        #expect(!out2.succeeded)
        let kv = out2.responses[0].responseRange.kvs[0]
        #expect(kv.key == put.key && kv.value == put.value && kv.createRevision == 2 && kv.modRevision == 2 && kv.version == 1)
        #expect(out2.responses[0].responseRange.count == 1)
    }

    @Test func everyRangeFieldCrosses() throws {
        var r = Etcdserverpb_RangeRequest()
        r.key = Data([1, 2])
        r.rangeEnd = Data([0])
        r.limit = 7
        r.revision = 9
        r.sortOrder = .descend
        r.sortTarget = .mod
        r.keysOnly = true
        r.countOnly = true
        r.minModRevision = 1
        r.maxModRevision = 2
        r.minCreateRevision = 3
        r.maxCreateRevision = 4
        #expect(
            try Wire.request(r)
                == RangeRequest(
                    key: [1, 2], rangeEnd: [0], limit: 7, revision: 9, sortOrder: .descend,
                    sortTarget: .mod, keysOnly: true, countOnly: true, minModRevision: 1,
                    maxModRevision: 2, minCreateRevision: 3, maxCreateRevision: 4))
        r.sortOrder = .UNRECOGNIZED(7)
        #expect(throws: GRPCStatus.invalidSortOption) { try Wire.request(r) }
    }

    @Test func compareTargetsAndDefaults() throws {
        var c = Etcdserverpb_Compare()
        c.key = Data("k".utf8)
        c.target = .value
        c.result = .notEqual
        // No target_union set: the operand is the field's default, as etcd reads it.
        #expect(try Wire.compare(c) == Compare(key: Array("k".utf8), .value([]), .notEqual))
        c.target = .lease
        c.targetUnion = .lease(5)
        c.result = .greater
        #expect(try Wire.compare(c) == Compare(key: Array("k".utf8), .lease(5), .greater))
        c.target = .UNRECOGNIZED(9)
        #expect(throws: GRPCStatus.invalidCompare) { try Wire.compare(c) }
    }

    @Test func errorsKeepEtcdsCodeAndMessage() {
        let e = GRPCStatus(MVCCError.compacted)
        #expect(e.code == .outOfRange && e.message == "etcdserver: mvcc: required revision has been compacted")
        #expect(GRPCStatus(MVCCError.leaseNotFound).code == .notFound)
        #expect(GRPCStatus(MVCCError.noSpace).code == .resourceExhausted)
        #expect(GRPCStatus(MVCCError.duplicateKey).message == "etcdserver: duplicate key given in txn request")
    }

    /// A watch response written straight into a DATA frame's memory is the same message as the
    /// hub's own encoding, for watch ids of every varint length (0 left out, negative ids as 10 bytes).
    @Test func watchFramesAreWrittenAsTheirMessages() throws {
        var event = Mvccpb_Event()
        event.kv.key = Data("k".utf8)
        let body = try Etcdserverpb_WatchResponse.with { $0.events = [event] }.serializedBytes() as [UInt8]
        for id: Int64 in [0, 1, 127, 128, 300, 1 << 40, -1] {
            let frame = WatchFrame(watchID: id, idBytes: WatchFrame.idFieldSize(id), body: body, eventCount: 1)
            let responses = WatchResponses([frame])
            #expect(responses.sizes == [frame.size])
            // One guard byte past the frame's size: written exactly `size` bytes, no more.
            var written = [UInt8](repeating: 0xEE, count: frame.size + 1)
            written.withUnsafeMutableBytes { out in responses.withWriter { $0(0, out.baseAddress!) } }
            #expect(written.last == 0xEE)
            let message = Array(written.dropLast())
            #expect(message == frame.serialized())
            #expect(try Etcdserverpb_WatchResponse(serializedBytes: message).watchID == id)
        }
    }
}

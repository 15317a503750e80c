public import EtcdProto
import Foundation
public import GRPCWire
public import MVCC

/// Mapping between etcd's wire messages (`EtcdProto`) and the state machine's requests and
/// answers (`MVCC`): one function per message, no logic beyond the mapping. Bytes cross as one
/// copy each way (`Data` on the wire side, `[UInt8]` in the state machine).

/// etcd's errors are gRPC statuses: the code and etcd's exact message, which clients match on.
extension GRPCStatus {
    /// The status an etcd client gets for a state machine error.
    public init(_ e: MVCCError) {
        let code: Code =
            switch e.code {
            case .invalidArgument: .invalidArgument
            case .notFound: .notFound
            case .resourceExhausted: .resourceExhausted
            case .failedPrecondition: .failedPrecondition
            case .outOfRange: .outOfRange
            }
        self.init(code, e.description)
    }

    /// A compare whose target or result this server does not know (etcd has no check of its own).
    public static let invalidCompare = GRPCStatus(.invalidArgument, "etcdserver: invalid compare in txn request")
    public static let invalidSortOption = GRPCStatus(MVCCError.invalidSortOption)
}

public enum Wire {
    // MARK: - Requests in

    public static func request(_ r: Etcdserverpb_RangeRequest) throws(GRPCStatus) -> RangeRequest {
        guard let order = SortOrder(rawValue: r.sortOrder.rawValue),
            let target = SortTarget(rawValue: r.sortTarget.rawValue)
        else { throw .invalidSortOption }
        return RangeRequest(
            key: [UInt8](r.key), rangeEnd: [UInt8](r.rangeEnd), limit: r.limit, revision: r.revision,
            sortOrder: order, sortTarget: target, keysOnly: r.keysOnly, countOnly: r.countOnly,
            minModRevision: r.minModRevision, maxModRevision: r.maxModRevision,
            minCreateRevision: r.minCreateRevision, maxCreateRevision: r.maxCreateRevision)
    }

    public static func request(_ r: Etcdserverpb_PutRequest) -> PutRequest {
        PutRequest(
            key: [UInt8](r.key), value: [UInt8](r.value), lease: r.lease, prevKV: r.prevKv,
            ignoreValue: r.ignoreValue, ignoreLease: r.ignoreLease)
    }

    public static func request(_ r: Etcdserverpb_DeleteRangeRequest) -> DeleteRangeRequest {
        DeleteRangeRequest(key: [UInt8](r.key), rangeEnd: [UInt8](r.rangeEnd), prevKV: r.prevKv)
    }

    public static func compare(_ c: Etcdserverpb_Compare) throws(GRPCStatus) -> Compare {
        let operand: CompareOperand
        switch c.target {
        case .version: operand = .version(c.version)
        case .create: operand = .createRevision(c.createRevision)
        case .mod: operand = .modRevision(c.modRevision)
        case .value: operand = .value([UInt8](c.value))
        case .lease: operand = .lease(c.lease)
        case .UNRECOGNIZED: throw .invalidCompare
        }
        let result: CompareResult
        switch c.result {
        case .equal: result = .equal
        case .greater: result = .greater
        case .less: result = .less
        case .notEqual: result = .notEqual
        case .UNRECOGNIZED: throw .invalidCompare
        }
        return Compare(key: [UInt8](c.key), rangeEnd: [UInt8](c.rangeEnd), operand, result)
    }

    public static func request(_ r: Etcdserverpb_TxnRequest) throws(GRPCStatus) -> TxnRequest {
        func ops(_ list: [Etcdserverpb_RequestOp]) throws(GRPCStatus) -> [RequestOp] {
            var out: [RequestOp] = []
            out.reserveCapacity(list.count)
            for op in list {
                switch op.request {
                case .requestRange(let q): out.append(.range(try request(q)))
                case .requestPut(let p): out.append(.put(request(p)))
                case .requestDeleteRange(let d): out.append(.deleteRange(request(d)))
                case .requestTxn(let t): out.append(.txn(try request(t)))
                // etcd treats an empty op as a no-op range answer; Capstan refuses it plainly.
                case nil: throw GRPCStatus(.invalidArgument, "etcdserver: empty operation in txn request")
                }
            }
            return out
        }
        var compares: [Compare] = []
        compares.reserveCapacity(r.compare.count)
        for c in r.compare { compares.append(try compare(c)) }
        return TxnRequest(compare: compares, success: try ops(r.success), failure: try ops(r.failure))
    }

    // MARK: - Answers out

    public static func header(_ h: ResponseHeaderInfo, revision: Int64) -> Etcdserverpb_ResponseHeader {
        var out = Etcdserverpb_ResponseHeader()
        out.clusterID = h.clusterID
        out.memberID = h.memberID
        out.raftTerm = h.raftTerm
        out.revision = revision
        return out
    }

    public static func keyValue(_ kv: KeyValue) -> Mvccpb_KeyValue {
        var out = Mvccpb_KeyValue()
        out.key = Data(kv.key)
        out.createRevision = kv.createRevision
        out.modRevision = kv.modRevision
        out.version = kv.version
        out.value = Data(kv.value)
        out.lease = kv.lease
        return out
    }

    public static func response(_ r: RangeResponse, _ h: ResponseHeaderInfo) -> Etcdserverpb_RangeResponse {
        var out = Etcdserverpb_RangeResponse()
        out.header = header(h, revision: r.revision)
        out.kvs = r.kvs.map(keyValue)
        out.more = r.more
        out.count = r.count
        return out
    }

    public static func response(_ r: PutResponse, _ h: ResponseHeaderInfo) -> Etcdserverpb_PutResponse {
        var out = Etcdserverpb_PutResponse()
        out.header = header(h, revision: r.revision)
        if let p = r.prevKV { out.prevKv = keyValue(p) }
        return out
    }

    public static func response(_ r: DeleteRangeResponse, _ h: ResponseHeaderInfo) -> Etcdserverpb_DeleteRangeResponse {
        var out = Etcdserverpb_DeleteRangeResponse()
        out.header = header(h, revision: r.revision)
        out.deleted = r.deleted
        out.prevKvs = r.prevKVs.map(keyValue)
        return out
    }

    public static func response(_ r: TxnResponse, _ h: ResponseHeaderInfo) -> Etcdserverpb_TxnResponse {
        var out = Etcdserverpb_TxnResponse()
        out.header = header(h, revision: r.revision)
        out.succeeded = r.succeeded
        // As etcd: the responses inside a txn carry only the revision in their header.
        let inner = ResponseHeaderInfo(clusterID: 0, memberID: 0, raftTerm: 0)
        out.responses = r.responses.map { op in
            var o = Etcdserverpb_ResponseOp()
            switch op {
            case .range(let x): o.response = .responseRange(response(x, inner))
            case .put(let x): o.response = .responsePut(response(x, inner))
            case .deleteRange(let x): o.response = .responseDeleteRange(response(x, inner))
            case .txn(let x): o.response = .responseTxn(response(x, inner))
            }
            return o
        }
        return out
    }
}

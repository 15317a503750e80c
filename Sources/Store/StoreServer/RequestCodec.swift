public import Base
public import MVCC

/// A write the state machine applies, as it travels through the log.
public enum StateRequest: Equatable, Sendable {
    case put(PutRequest)
    case deleteRange(DeleteRangeRequest)
    case txn(TxnRequest)
    case compact(revision: Int64)
    case leaseGrant(id: Int64, ttl: Int64)
    case leaseRevoke(id: Int64)
    case alarm(activate: Bool, AlarmMember)
    /// A member's name and client URLs, published by the member itself when it starts.
    case publish(member: UInt64, name: String, clientURLs: [String])
    /// New peer URLs for a member (etcd's MemberUpdate).
    case updateMember(member: UInt64, peerURLs: [String])
}

/// What applying a `StateRequest` gave.
public enum StateResult: Equatable, Sendable {
    case put(PutResponse)
    case deleteRange(DeleteRangeResponse)
    case txn(TxnResponse)
    case compact(CompactResponse)
    case leaseGrant(LeaseGrantResponse)
    case leaseRevoke(revision: Int64)
    case alarm(revision: Int64)
    case member
}

/// The log entry payload: u64 origin (the proposing member's ID) and u64 sequence number (the
/// proposer's own counter), which together find the waiting caller on the member that proposed
/// it and on no other, then the request. Integers little-endian, byte strings as u32 length + bytes, booleans one byte.
/// `decode` checks every length, so a damaged entry is refused, not trusted.
public enum RequestCodec {
    public static func encode(origin: UInt64, sequence: UInt64, _ r: StateRequest) -> [UInt8] {
        var w = ByteWriter()
        w.int(origin)
        w.int(sequence)
        switch r {
        case .put(let p):
            w.u8(1)
            w.put(p)
        case .deleteRange(let d):
            w.u8(2)
            w.delete(d)
        case .txn(let t):
            w.u8(3)
            w.txn(t)
        case .compact(let rev):
            w.u8(4)
            w.int(rev)
        case .leaseGrant(let id, let ttl):
            w.u8(5)
            w.int(id)
            w.int(ttl)
        case .leaseRevoke(let id):
            w.u8(6)
            w.int(id)
        case .alarm(let on, let a):
            w.u8(7)
            w.bool(on)
            w.int(a.memberID)
            w.u8(UInt8(a.alarm.rawValue))
        case .publish(let member, let name, let urls):
            w.u8(8)
            w.int(member)
            w.lengthPrefixed(Array(name.utf8))
            w.strings(urls)
        case .updateMember(let member, let urls):
            w.u8(9)
            w.int(member)
            w.strings(urls)
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> (origin: UInt64, sequence: UInt64, request: StateRequest) {
        var r = ByteReader(bytes)
        let origin: UInt64 = try r.int()
        let sequence: UInt64 = try r.int()
        let request: StateRequest
        switch try r.u8() {
        case 1: request = .put(try r.put())
        case 2: request = .deleteRange(try r.delete())
        case 3: request = .txn(try r.txn(depth: 0))
        case 4: request = .compact(revision: try r.int())
        case 5: request = .leaseGrant(id: try r.int(), ttl: try r.int())
        case 6: request = .leaseRevoke(id: try r.int())
        case 7:
            let on = try r.bool()
            let member: UInt64 = try r.int()
            let at = r.offset
            guard let type = AlarmType(rawValue: Int(try r.u8())) else { throw DecodeError(offset: at, what: "alarm type") }
            request = .alarm(activate: on, AlarmMember(memberID: member, alarm: type))
        case 8:
            request = .publish(member: try r.int(), name: String(decoding: try r.byteString(), as: UTF8.self), clientURLs: try r.strings())
        case 9: request = .updateMember(member: try r.int(), peerURLs: try r.strings())
        case let t: throw DecodeError(offset: 16, what: "request type \(t)")
        }
        guard r.offset == bytes.count else { throw DecodeError(offset: r.offset, what: "trailing bytes") }
        return (origin, sequence, request)
    }
}

/// The request payload's parts, written in `ByteReader`'s formats.
extension ByteWriter {
    mutating func strings(_ list: [String]) {
        int(UInt32(list.count))
        for s in list { lengthPrefixed(Array(s.utf8)) }
    }
    mutating func put(_ p: PutRequest) {
        lengthPrefixed(p.key)
        lengthPrefixed(p.value)
        int(p.lease)
        bool(p.prevKV)
        bool(p.ignoreValue)
        bool(p.ignoreLease)
    }
    mutating func delete(_ d: DeleteRangeRequest) {
        lengthPrefixed(d.key)
        lengthPrefixed(d.rangeEnd)
        bool(d.prevKV)
    }
    mutating func range(_ q: RangeRequest) {
        lengthPrefixed(q.key)
        lengthPrefixed(q.rangeEnd)
        int(q.limit)
        int(q.revision)
        u8(UInt8(q.sortOrder.rawValue))
        u8(UInt8(q.sortTarget.rawValue))
        bool(q.keysOnly)
        bool(q.countOnly)
        int(q.minModRevision)
        int(q.maxModRevision)
        int(q.minCreateRevision)
        int(q.maxCreateRevision)
    }
    mutating func txn(_ t: TxnRequest) {
        int(UInt32(t.compare.count))
        for c in t.compare {
            lengthPrefixed(c.key)
            lengthPrefixed(c.rangeEnd)
            u8(UInt8(c.result.rawValue))
            switch c.operand {
            case .version(let x):
                u8(0)
                int(x)
            case .createRevision(let x):
                u8(1)
                int(x)
            case .modRevision(let x):
                u8(2)
                int(x)
            case .value(let v):
                u8(3)
                lengthPrefixed(v)
            case .lease(let x):
                u8(4)
                int(x)
            }
        }
        for branch in [t.success, t.failure] {
            int(UInt32(branch.count))
            for op in branch {
                switch op {
                case .range(let q):
                    u8(0)
                    range(q)
                case .put(let p):
                    u8(1)
                    put(p)
                case .deleteRange(let d):
                    u8(2)
                    delete(d)
                case .txn(let inner):
                    u8(3)
                    txn(inner)
                }
            }
        }
    }
}

/// The request payload's parts, read back (every count checked against the bytes left).
extension ByteReader {
    mutating func strings() throws(DecodeError) -> [String] {
        let n = Int(try int(UInt32.self))
        guard n <= (remaining) / 4 else { throw DecodeError(offset: offset, what: "string count \(n)") }
        var out: [String] = []
        for _ in 0..<n { out.append(String(decoding: try byteString(), as: UTF8.self)) }
        return out
    }
    mutating func put() throws(DecodeError) -> PutRequest {
        PutRequest(
            key: try byteString(), value: try byteString(), lease: try int(), prevKV: try bool(),
            ignoreValue: try bool(), ignoreLease: try bool())
    }
    mutating func delete() throws(DecodeError) -> DeleteRangeRequest {
        DeleteRangeRequest(key: try byteString(), rangeEnd: try byteString(), prevKV: try bool())
    }
    mutating func range() throws(DecodeError) -> RangeRequest {
        let key = try byteString()
        let end = try byteString()
        let limit: Int64 = try int()
        let revision: Int64 = try int()
        let at = offset
        guard let order = SortOrder(rawValue: Int(try u8())), let target = SortTarget(rawValue: Int(try u8())) else {
            throw DecodeError(offset: at, what: "sort option")
        }
        return RangeRequest(
            key: key, rangeEnd: end, limit: limit, revision: revision, sortOrder: order, sortTarget: target,
            keysOnly: try bool(), countOnly: try bool(), minModRevision: try int(),
            maxModRevision: try int(), minCreateRevision: try int(), maxCreateRevision: try int())
    }
    mutating func txn(depth: Int) throws(DecodeError) -> TxnRequest {
        guard depth < 128 else { throw DecodeError(offset: offset, what: "transactions nested too deep") }
        var t = TxnRequest()
        let compares = Int(try int(UInt32.self))
        guard compares <= remaining else { throw DecodeError(offset: offset, what: "compare count") }
        for _ in 0..<compares {
            let key = try byteString()
            let end = try byteString()
            let at = offset
            guard let result = CompareResult(rawValue: Int(try u8())) else { throw DecodeError(offset: at, what: "compare result") }
            let operand: CompareOperand
            switch try u8() {
            case 0: operand = .version(try int())
            case 1: operand = .createRevision(try int())
            case 2: operand = .modRevision(try int())
            case 3: operand = .value(try byteString())
            case 4: operand = .lease(try int())
            default: throw DecodeError(offset: offset - 1, what: "compare target")
            }
            t.compare.append(Compare(key: key, rangeEnd: end, operand, result))
        }
        for branch in 0..<2 {
            let n = Int(try int(UInt32.self))
            guard n <= remaining else { throw DecodeError(offset: offset, what: "operation count") }
            var ops: [RequestOp] = []
            for _ in 0..<n {
                switch try u8() {
                case 0: ops.append(.range(try range()))
                case 1: ops.append(.put(try put()))
                case 2: ops.append(.deleteRange(try delete()))
                case 3: ops.append(.txn(try txn(depth: depth + 1)))
                default: throw DecodeError(offset: offset - 1, what: "operation type")
                }
            }
            if branch == 0 { t.success = ops } else { t.failure = ops }
        }
        return t
    }
}

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
    public struct DecodeError: Error, Equatable, Sendable {
        public var offset: Int
        public var what: String
    }

    public static func encode(origin: UInt64, sequence: UInt64, _ r: StateRequest) -> [UInt8] {
        var w = Writer()
        w.int(origin)
        w.int(sequence)
        switch r {
        case .put(let p): w.byte(1); w.put(p)
        case .deleteRange(let d): w.byte(2); w.delete(d)
        case .txn(let t): w.byte(3); w.txn(t)
        case .compact(let rev): w.byte(4); w.int(rev)
        case .leaseGrant(let id, let ttl): w.byte(5); w.int(id); w.int(ttl)
        case .leaseRevoke(let id): w.byte(6); w.int(id)
        case .alarm(let on, let a): w.byte(7); w.bool(on); w.int(a.memberID); w.byte(UInt8(a.alarm.rawValue))
        case .publish(let member, let name, let urls): w.byte(8); w.int(member); w.bytes(Array(name.utf8)); w.strings(urls)
        case .updateMember(let member, let urls): w.byte(9); w.int(member); w.strings(urls)
        }
        return w.out
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> (origin: UInt64, sequence: UInt64, request: StateRequest) {
        var r = Reader(data: bytes)
        let origin: UInt64 = try r.int()
        let sequence: UInt64 = try r.int()
        let request: StateRequest
        switch try r.byte() {
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
            guard let type = AlarmType(rawValue: Int(try r.byte())) else { throw DecodeError(offset: at, what: "alarm type") }
            request = .alarm(activate: on, AlarmMember(memberID: member, alarm: type))
        case 8: request = .publish(member: try r.int(), name: String(decoding: try r.bytes(), as: UTF8.self), clientURLs: try r.strings())
        case 9: request = .updateMember(member: try r.int(), peerURLs: try r.strings())
        case let t: throw DecodeError(offset: 16, what: "request type \(t)")
        }
        guard r.offset == bytes.count else { throw DecodeError(offset: r.offset, what: "trailing bytes") }
        return (origin, sequence, request)
    }

    struct Writer {
        var out: [UInt8] = []
        mutating func byte(_ b: UInt8) { out.append(b) }
        mutating func bool(_ b: Bool) { out.append(b ? 1 : 0) }
        mutating func int<T: FixedWidthInteger>(_ x: T) { withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) } }
        mutating func bytes(_ b: [UInt8]) { int(UInt32(b.count)); out += b }
        mutating func strings(_ list: [String]) {
            int(UInt32(list.count))
            for s in list { bytes(Array(s.utf8)) }
        }
        mutating func put(_ p: PutRequest) {
            bytes(p.key); bytes(p.value); int(p.lease); bool(p.prevKV); bool(p.ignoreValue); bool(p.ignoreLease)
        }
        mutating func delete(_ d: DeleteRangeRequest) { bytes(d.key); bytes(d.rangeEnd); bool(d.prevKV) }
        mutating func range(_ q: RangeRequest) {
            bytes(q.key); bytes(q.rangeEnd); int(q.limit); int(q.revision); byte(UInt8(q.sortOrder.rawValue))
            byte(UInt8(q.sortTarget.rawValue)); bool(q.keysOnly); bool(q.countOnly); int(q.minModRevision)
            int(q.maxModRevision); int(q.minCreateRevision); int(q.maxCreateRevision)
        }
        mutating func txn(_ t: TxnRequest) {
            int(UInt32(t.compare.count))
            for c in t.compare {
                bytes(c.key); bytes(c.rangeEnd); byte(UInt8(c.result.rawValue))
                switch c.operand {
                case .version(let x): byte(0); int(x)
                case .createRevision(let x): byte(1); int(x)
                case .modRevision(let x): byte(2); int(x)
                case .value(let v): byte(3); bytes(v)
                case .lease(let x): byte(4); int(x)
                }
            }
            for branch in [t.success, t.failure] {
                int(UInt32(branch.count))
                for op in branch {
                    switch op {
                    case .range(let q): byte(0); range(q)
                    case .put(let p): byte(1); put(p)
                    case .deleteRange(let d): byte(2); delete(d)
                    case .txn(let inner): byte(3); txn(inner)
                    }
                }
            }
        }
    }

    struct Reader {
        let data: [UInt8]
        var offset = 0
        mutating func byte() throws(DecodeError) -> UInt8 {
            guard offset < data.count else { throw DecodeError(offset: offset, what: "truncated") }
            defer { offset += 1 }
            return data[offset]
        }
        mutating func bool() throws(DecodeError) -> Bool {
            let at = offset
            switch try byte() {
            case 0: return false
            case 1: return true
            default: throw DecodeError(offset: at, what: "boolean")
            }
        }
        mutating func int<T: FixedWidthInteger>() throws(DecodeError) -> T {
            let n = MemoryLayout<T>.size
            guard data.count - offset >= n else { throw DecodeError(offset: offset, what: "truncated") }
            var x: T = 0
            for i in 0..<n { x |= T(truncatingIfNeeded: data[offset + i]) << (8 * i) }
            offset += n
            return x
        }
        mutating func bytes() throws(DecodeError) -> [UInt8] {
            let n = Int(try int() as UInt32)
            guard data.count - offset >= n else { throw DecodeError(offset: offset, what: "byte string of \(n)") }
            defer { offset += n }
            return Array(data[offset..<offset + n])
        }
        mutating func strings() throws(DecodeError) -> [String] {
            let n = Int(try int() as UInt32)
            guard n <= (data.count - offset) / 4 else { throw DecodeError(offset: offset, what: "string count \(n)") }
            var out: [String] = []
            for _ in 0..<n { out.append(String(decoding: try bytes(), as: UTF8.self)) }
            return out
        }
        mutating func put() throws(DecodeError) -> PutRequest {
            PutRequest(key: try bytes(), value: try bytes(), lease: try int(), prevKV: try bool(),
                       ignoreValue: try bool(), ignoreLease: try bool())
        }
        mutating func delete() throws(DecodeError) -> DeleteRangeRequest {
            DeleteRangeRequest(key: try bytes(), rangeEnd: try bytes(), prevKV: try bool())
        }
        mutating func range() throws(DecodeError) -> RangeRequest {
            let key = try bytes(), end = try bytes()
            let limit: Int64 = try int(), revision: Int64 = try int()
            let at = offset
            guard let order = SortOrder(rawValue: Int(try byte())), let target = SortTarget(rawValue: Int(try byte())) else {
                throw DecodeError(offset: at, what: "sort option")
            }
            return RangeRequest(key: key, rangeEnd: end, limit: limit, revision: revision, sortOrder: order, sortTarget: target,
                                keysOnly: try bool(), countOnly: try bool(), minModRevision: try int(),
                                maxModRevision: try int(), minCreateRevision: try int(), maxCreateRevision: try int())
        }
        mutating func txn(depth: Int) throws(DecodeError) -> TxnRequest {
            guard depth < 128 else { throw DecodeError(offset: offset, what: "transactions nested too deep") }
            var t = TxnRequest()
            let compares = Int(try int() as UInt32)
            guard compares <= data.count - offset else { throw DecodeError(offset: offset, what: "compare count") }
            for _ in 0..<compares {
                let key = try bytes(), end = try bytes()
                let at = offset
                guard let result = CompareResult(rawValue: Int(try byte())) else { throw DecodeError(offset: at, what: "compare result") }
                let operand: CompareOperand
                switch try byte() {
                case 0: operand = .version(try int())
                case 1: operand = .createRevision(try int())
                case 2: operand = .modRevision(try int())
                case 3: operand = .value(try bytes())
                case 4: operand = .lease(try int())
                default: throw DecodeError(offset: offset - 1, what: "compare target")
                }
                t.compare.append(Compare(key: key, rangeEnd: end, operand, result))
            }
            for branch in 0..<2 {
                let n = Int(try int() as UInt32)
                guard n <= data.count - offset else { throw DecodeError(offset: offset, what: "operation count") }
                var ops: [RequestOp] = []
                for _ in 0..<n {
                    switch try byte() {
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
}

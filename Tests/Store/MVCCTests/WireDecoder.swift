import EtcdWire

@testable import MVCC

/// A minimal protobuf reader for the tests: enough to read back the WatchResponse bytes the hub
/// writes, field by field, so the tests check the wire format rather than our own structs.
struct WireReader {
    let bytes: [UInt8]
    var at = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func varint() -> UInt64 {
        var x: UInt64 = 0
        var shift: UInt64 = 0
        while at < bytes.count {
            let b = bytes[at]
            at += 1
            x |= UInt64(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
        }
        return x
    }

    /// (field, varint value, length-delimited bytes)
    mutating func next() -> (Int, UInt64, [UInt8])? {
        guard at < bytes.count else { return nil }
        let tag = varint()
        switch tag & 7 {
        case 0: return (Int(tag >> 3), varint(), [])
        case 2:
            let n = Int(varint())
            let b = Array(bytes[at..<min(at + n, bytes.count)])
            at += n
            return (Int(tag >> 3), 0, b)
        default: fatalError("unexpected wire type \(tag & 7)")
        }
    }
}

struct DecodedEvent: Equatable, CustomStringConvertible {
    var deleted: Bool
    var kv: KeyValue
    var prev: KeyValue?
    var description: String { "\(deleted ? "DEL" : "PUT") \(kv)\(prev.map { " prev \($0)" } ?? "")" }
}

struct DecodedResponse {
    var watchID: Int64 = 0
    var revision: Int64 = 0
    var clusterID: UInt64 = 0
    var memberID: UInt64 = 0
    var raftTerm: UInt64 = 0
    var created = false
    var canceled = false
    var compactRevision: Int64 = 0
    var cancelReason = ""
    var fragment = false
    var events: [DecodedEvent] = []

    init(_ frame: WatchFrame) { self.init(bytes: frame.serialized()) }

    init(bytes: [UInt8]) {
        var r = WireReader(bytes)
        while let (field, v, b) = r.next() {
            switch field {
            case 1:
                var h = WireReader(b)
                while let (f, x, _) = h.next() {
                    switch f {
                    case 1: clusterID = x
                    case 2: memberID = x
                    case 3: revision = Int64(bitPattern: x)
                    case 4: raftTerm = x
                    default: break
                    }
                }
            case 2: watchID = Int64(bitPattern: v)
            case 3: created = v != 0
            case 4: canceled = v != 0
            case 5: compactRevision = Int64(bitPattern: v)
            case 6: cancelReason = String(decoding: b, as: UTF8.self)
            case 7: fragment = v != 0
            case 11: events.append(Self.event(b))
            default: break
            }
        }
    }

    static func keyValue(_ b: [UInt8]) -> KeyValue {
        var kv = KeyValue(key: [])
        var r = WireReader(b)
        while let (f, x, bytes) = r.next() {
            switch f {
            case 1: kv.key = bytes
            case 2: kv.createRevision = Int64(bitPattern: x)
            case 3: kv.modRevision = Int64(bitPattern: x)
            case 4: kv.version = Int64(bitPattern: x)
            case 5: kv.value = bytes
            case 6: kv.lease = Int64(bitPattern: x)
            default: break
            }
        }
        return kv
    }

    static func event(_ b: [UInt8]) -> DecodedEvent {
        var e = DecodedEvent(deleted: false, kv: KeyValue(key: []), prev: nil)
        var r = WireReader(b)
        while let (f, x, bytes) = r.next() {
            switch f {
            case 1: e.deleted = x == 1
            case 2: e.kv = keyValue(bytes)
            case 3: e.prev = keyValue(bytes)
            default: break
            }
        }
        return e
    }
}

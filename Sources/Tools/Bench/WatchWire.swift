import Foundation

/// A reader of etcd's WatchResponse straight from its protobuf bytes, for the watch workloads:
/// a benchmark client that fully decoded every event of a 10,000-watcher fan-out would measure
/// itself. It reads what the workloads need (watch id, created/canceled, compact revision, and
/// per event its type, mod revision and the put's send stamp in the value's first 8 bytes) and
/// skips the rest. Field numbers are etcd's (rpc.proto, kv.proto).
public struct WatchResponseView: Equatable, Sendable {
    public var watchID: Int64 = 0
    public var created = false
    public var canceled = false
    public var compactRevision: Int64 = 0
    public var cancelReason = ""
    public var events = 0

    public struct Event: Equatable, Sendable {
        public var isDelete = false
        public var modRevision: Int64 = 0
        /// The value's first 8 bytes, little-endian (the benchmark's send time), if it has 8.
        public var stamp: UInt64?
    }

    public struct Malformed: Error, CustomStringConvertible {
        public var offset: Int
        public var description: String { "malformed WatchResponse at byte \(offset)" }
    }

    public init() {}

    /// The events of the last response read with it, kept with their bytes. The watchers of one
    /// stream on one prefix get the same events as byte-identical fields (only the header and
    /// the watch id differ between their responses), so a response whose event fields are the
    /// same bytes as the last one's has the same events: it is compared, not parsed again, and
    /// its events are counted until `flush` reports them once with how many responses had them.
    public struct EventMemo: Sendable {
        /// The event fields (tags included) the events were parsed from.
        var bytes: [UInt8] = []
        var events: [Event] = []
        /// Responses with these events not yet reported.
        var repeats = 0

        public init() {}

        /// Reports the events of the responses matched since the last flush, each with their count.
        public mutating func flush(_ onEvents: (Event, _ count: Int) -> Void) {
            guard repeats > 0 else { return }
            for e in events { onEvents(e, repeats) }
            repeats = 0
        }
    }

    /// Reads `bytes`, calling `onEvent` for each event in order.
    public static func read(_ bytes: UnsafeRawBufferPointer, onEvent: (Event) -> Void) throws -> WatchResponseView {
        var memo = EventMemo()
        return try read(bytes, memo: &memo, remember: false) { e, _ in onEvent(e) }
    }

    /// Reads `bytes` with `memo`: events that are the same bytes as the memo's are counted in it
    /// (reported by its `flush`); others are reported to `onEvents` at once (count 1), after the
    /// memo's pending ones, and become the memo's when they are the response's last fields.
    public static func read(
        _ bytes: UnsafeRawBufferPointer, memo: inout EventMemo,
        onEvents: (Event, _ count: Int) -> Void
    ) throws -> WatchResponseView {
        try read(bytes, memo: &memo, remember: true, onEvents: onEvents)
    }

    static func read(
        _ bytes: UnsafeRawBufferPointer, memo: inout EventMemo, remember: Bool,
        onEvents: (Event, _ count: Int) -> Void
    ) throws -> WatchResponseView {
        var view = WatchResponseView()
        var r = Reader(bytes: bytes, position: 0, end: bytes.count)
        // Where the event fields began, while every field since has been an event (their events
        // go into the memo, whose bytes stay empty until the response is read to its end).
        var eventsStart: Int? = nil
        while !r.atEnd {
            let tagStart = r.position
            let (field, wire) = try r.tag()
            if (field, wire) != (11, 2) {
                eventsStart = nil
            } else if remember, eventsStart == nil {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[tagStart...])
                if memo.bytes.count == rest.count,
                    memo.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, rest.baseAddress!, rest.count) == 0 })
                {
                    memo.repeats += 1
                    view.events += memo.events.count
                    return view
                }
                memo.flush(onEvents)
                memo.bytes.removeAll(keepingCapacity: true)
                memo.events.removeAll(keepingCapacity: true)
                eventsStart = tagStart
            }
            switch (field, wire) {
            case (2, 0): view.watchID = Int64(bitPattern: try r.varint())
            case (3, 0): view.created = try r.varint() != 0
            case (4, 0): view.canceled = try r.varint() != 0
            case (5, 0): view.compactRevision = Int64(bitPattern: try r.varint())
            case (6, 2):
                let (start, end) = try r.lengthDelimited()
                view.cancelReason = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            case (11, 2):
                let (start, end) = try r.lengthDelimited()
                let e = try readEvent(bytes, start, end)
                onEvents(e, 1)
                if eventsStart != nil { memo.events.append(e) }
                view.events += 1
            default: try r.skip(wire)
            }
        }
        if let start = eventsStart {
            memo.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
        }
        return view
    }

    static func readEvent(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) throws -> Event {
        var e = Event()
        var r = Reader(bytes: bytes, position: start, end: end)
        while !r.atEnd {
            let (field, wire) = try r.tag()
            switch (field, wire) {
            case (1, 0): e.isDelete = try r.varint() == 1
            case (2, 2):
                let (kvStart, kvEnd) = try r.lengthDelimited()
                var kv = Reader(bytes: bytes, position: kvStart, end: kvEnd)
                while !kv.atEnd {
                    let (f, w) = try kv.tag()
                    switch (f, w) {
                    case (3, 0): e.modRevision = Int64(bitPattern: try kv.varint())
                    case (5, 2):
                        let (vStart, vEnd) = try kv.lengthDelimited()
                        if vEnd - vStart >= 8 {
                            e.stamp =
                                UnsafeRawBufferPointer(rebasing: bytes[vStart..<vStart + 8]).loadUnaligned(as: UInt64.self).littleEndian
                        }
                    default: try kv.skip(w)
                    }
                }
            default: try r.skip(wire)
            }
        }
        return e
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        let end: Int

        var atEnd: Bool { position >= end }

        mutating func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < end, shift < 64 {
                let b = bytes[position]
                position += 1
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            throw Malformed(offset: position)
        }

        mutating func tag() throws -> (field: UInt64, wire: UInt64) {
            let t = try varint()
            guard t >> 3 > 0 else { throw Malformed(offset: position) }
            return (t >> 3, t & 7)
        }

        mutating func lengthDelimited() throws -> (Int, Int) {
            let length = try varint()
            guard length <= UInt64(end - position) else { throw Malformed(offset: position) }
            let start = position
            position += Int(length)
            return (start, position)
        }

        mutating func skip(_ wire: UInt64) throws {
            switch wire {
            case 0: _ = try varint()
            case 1: position += 8
            case 2: _ = try lengthDelimited()
            case 5: position += 4
            default: throw Malformed(offset: position)
            }
            if position > end { throw Malformed(offset: end) }
        }
    }
}

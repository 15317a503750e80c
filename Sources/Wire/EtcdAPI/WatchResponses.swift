import EtcdWire
import MVCC

/// The responses one drain of a watch stream writes: the hub's frames in order, except that a
/// frame of events joins an earlier frame of events to the same watchers in the same drain
/// (one response: the later header, then the events of both, in revision order), as long as
/// no other kind of response (created, canceled, progress, a fragment) lies between them and
/// the joined response stays within `maxJoinedBytes`.
///
/// Several batches for the same watchers are queued only when the stream could not write
/// for a while (the client's connection was backed up); sending them as one response then
/// saves a header, a watch id and a message prefix per batch and per watcher. etcd sends the
/// events of many revisions in one response to a watcher that fell behind, too; a client sees
/// every event once, in order, and a header revision at least that of the last event.
struct WatchResponses {
    /// A joined response's body stays within this (etcd's clients take 2–4 MiB responses).
    static let maxJoinedBytes = 1 << 16
    /// How many earlier responses a frame looks back at for its watchers.
    static let lookBack = 16

    /// One response body for the watchers of `frames[frame]`.
    private struct Entry {
        var frame: Int
        /// The bytes when frames were joined: the last one's header, then each one's events.
        var joined: [UInt8]?
    }

    /// Where response `i`'s body is in `bodies`, and its watch id.
    private struct Target {
        var offset: Int
        var count: Int
        var id: Int64
    }

    /// Each response's message size, in the order they go out.
    private(set) var sizes: [Int] = []
    private var targets: [Target] = []
    /// Every distinct body, one after another: written from one buffer, a response costs no
    /// reference counting (it showed as a sixth of the members' CPU in a watch burst).
    private var bodies: [UInt8] = []

    init(_ frames: [WatchFrame]) {
        var entries: [Entry] = []
        entries.reserveCapacity(frames.count)
        func bodySize(_ e: Entry) -> Int { e.joined?.count ?? frames[e.frame].body.count }
        // Entries that a later frame of events may join (since the last frame of another kind).
        var open: [Int] = []
        for (i, f) in frames.enumerated() {
            guard f.eventsOffset > 0 else {
                open.removeAll()
                entries.append(Entry(frame: i))
                continue
            }
            // At most one open entry per group: a frame of the group that cannot join it closes
            // it, since their watchers may overlap (a share split, a watcher that caught up).
            if let k = open.firstIndex(where: { frames[entries[$0].frame].group == f.group }) {
                let e = open[k]
                let earlier = frames[entries[e].frame]
                if earlier.sameWatchers(as: f), bodySize(entries[e]) - earlier.eventsOffset + f.body.count <= Self.maxJoinedBytes {
                    // The later header, the earlier events, the later events.
                    let old = entries[e].joined ?? earlier.body
                    var joined: [UInt8] = []
                    joined.reserveCapacity(old.count - earlier.eventsOffset + f.body.count)
                    joined += f.body[..<f.eventsOffset]
                    joined += old[earlier.eventsOffset...]
                    joined += f.body[f.eventsOffset...]
                    entries[e] = Entry(frame: i, joined: joined)
                    continue
                }
                open.remove(at: k)
            }
            open.append(entries.count)
            if open.count > Self.lookBack { open.removeFirst() }
            entries.append(Entry(frame: i))
        }
        bodies.reserveCapacity(entries.reduce(0) { $0 + bodySize($1) })
        let responses = entries.reduce(0) { $0 + frames[$1.frame].responseCount }
        sizes.reserveCapacity(responses)
        targets.reserveCapacity(responses)
        for entry in entries {
            let offset = bodies.count
            bodies += entry.joined ?? frames[entry.frame].body
            let count = bodies.count - offset
            let f = frames[entry.frame]
            if f.sharedIDs.isEmpty {
                sizes.append(count + WatchFrame.idFieldSize(f.watchID))
                targets.append(Target(offset: offset, count: count, id: f.watchID))
            } else {
                for id in f.sharedIDs {
                    sizes.append(count + WatchFrame.idFieldSize(id))
                    targets.append(Target(offset: offset, count: count, id: id))
                }
            }
        }
    }

    /// Calls `body` with a writer of response `i` at a pointer (exactly `sizes[i]` bytes): the
    /// watch id (field 2, left out when 0 as proto3 does), then the body.
    func withWriter<R>(_ body: ((Int, UnsafeMutableRawPointer) -> Void) -> R) -> R {
        bodies.withUnsafeBytes { all in
            targets.withUnsafeBufferPointer { targets in
                body { i, at in
                    let t = targets[i]
                    var p = at
                    if t.id != 0 {
                        p.storeBytes(of: UInt8(2 << 3), as: UInt8.self)
                        p += 1
                        var v = UInt64(bitPattern: t.id)
                        while v >= 0x80 {
                            p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, as: UInt8.self)
                            p += 1
                            v >>= 7
                        }
                        p.storeBytes(of: UInt8(v), as: UInt8.self)
                        p += 1
                    }
                    if t.count > 0 { p.copyMemory(from: all.baseAddress! + t.offset, byteCount: t.count) }
                }
            }
        }
    }
}

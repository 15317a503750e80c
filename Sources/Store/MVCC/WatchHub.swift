import Base

/// A watch request (etcd's `WatchCreateRequest`).
public struct WatchCreate: Equatable, Sendable {
    public var key: [UInt8]
    /// Empty: the single key. `[0]`: every key >= key. Otherwise [key, rangeEnd).
    public var rangeEnd: [UInt8]
    /// 0: from the next revision. In the past: catch up from history first.
    public var startRevision: Int64
    public var progressNotify: Bool
    public var noPut: Bool
    public var noDelete: Bool
    public var prevKV: Bool
    /// 0: the hub picks the next free id on the stream.
    public var watchID: Int64
    public var fragment: Bool
    public init(
        key: [UInt8], rangeEnd: [UInt8] = [], startRevision: Int64 = 0, progressNotify: Bool = false,
        noPut: Bool = false, noDelete: Bool = false, prevKV: Bool = false, watchID: Int64 = 0, fragment: Bool = false
    ) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.startRevision = startRevision
        self.progressNotify = progressNotify
        self.noPut = noPut
        self.noDelete = noDelete
        self.prevKV = prevKV
        self.watchID = watchID
        self.fragment = fragment
    }
}

/// Named limits of the watch hub. The server exposes each as a flag.
public struct WatchLimits: Sendable {
    /// Watchers one stream may hold; a create beyond it is refused (created and canceled, with a reason).
    public var maxWatchersPerStream = 100_000
    /// Responses waiting to be written on one stream. A synced watcher whose response does not
    /// fit falls back to catching up from history; nothing is dropped.
    public var maxQueuedFramesPerStream = 65_536
    /// Bytes waiting to be written on one stream (each response counted in full).
    public var maxQueuedBytesPerStream = 64 << 20
    /// Events bytes in one catch-up response (whole revisions; at least one revision).
    public var maxCatchUpBytes = 1 << 20
    /// Responses of watchers that asked for fragments are split above this size (etcd's
    /// `--max-request-bytes`, 1.5 MiB by default).
    public var maxResponseBytes = 1_572_864
    /// Unsynced watchers served by one `catchUp` call.
    public var catchUpBatch = 512
    public init() {}
}

/// One response ready to write: the watch id, and every other field already encoded. The
/// `body` of an event batch is the same buffer for every watcher it goes to; only the watch
/// id, a few bytes, is written per watcher. A frame from `drainShared` may stand for the same
/// response to several watchers of its stream (`sharedIDs`: the synced watchers of one group
/// on one stream get each batch as one queue entry, whatever their number).
public struct WatchFrame: Sendable {
    /// The watcher (the first of `sharedIDs` when there are several).
    public let watchID: Int64
    public let body: [UInt8]
    /// Events in one response.
    public let eventCount: Int
    /// Empty: the response goes to `watchID` alone. Otherwise every watcher it goes to, each
    /// with its own response (the array the hub keeps for them, shared, not copied).
    public let sharedIDs: [Int64]
    /// The bytes of the watch-id fields of all of the responses.
    let idBytes: Int
    /// Where the events begin in `body`, when the body is the header (its first field) and
    /// events and nothing else: such responses to the same watchers may be sent as one (the
    /// last one's header, then the events of each). 0 for every other response (created,
    /// canceled, progress, a fragment).
    public let eventsOffset: Int
    /// The group of watchers whose events these are, when `eventsOffset` is not 0: a watcher is
    /// in one group only, so frames of different groups never go to the same watcher.
    public let group: ObjectIdentifier?

    public init(watchID: Int64, body: [UInt8], eventCount: Int, eventsOffset: Int = 0, group: ObjectIdentifier? = nil) {
        self.watchID = watchID
        self.body = body
        self.eventCount = eventCount
        self.eventsOffset = eventsOffset
        self.group = group
        sharedIDs = []
        idBytes = ProtoWire.intSize(2, watchID)
    }

    /// The same response as `frame`, to watcher `id`.
    init(_ frame: WatchFrame, to id: Int64) {
        self.init(watchID: id, body: frame.body, eventCount: frame.eventCount, eventsOffset: frame.eventsOffset, group: frame.group)
    }

    /// The same response as `frame` to each of `ids` (not empty), whose watch-id fields take `idBytes`.
    init(_ frame: WatchFrame, to ids: [Int64], idBytes: Int) {
        watchID = ids[0]
        body = frame.body
        eventCount = frame.eventCount
        eventsOffset = frame.eventsOffset
        group = frame.group
        sharedIDs = ids.count == 1 ? [] : ids
        self.idBytes = idBytes
    }

    init(_ frame: WatchFrame, to ids: ArraySlice<Int64>) {
        self.init(frame, to: Array(ids), idBytes: ids.reduce(0) { $0 + ProtoWire.intSize(2, $1) })
    }

    /// The bytes of a response's watch-id field (field 2; none for 0, as proto3 leaves it out).
    public static func idFieldSize(_ id: Int64) -> Int { ProtoWire.intSize(2, id) }
    /// The size of the response to `watchID`.
    public var size: Int { body.count + Self.idFieldSize(watchID) }
    /// How many responses the frame stands for.
    public var responseCount: Int { sharedIDs.isEmpty ? 1 : sharedIDs.count }
    /// The bytes of all of them.
    var totalSize: Int { responseCount * body.count + idBytes }

    /// Whether `other` goes to the same watchers, in the same order.
    public func sameWatchers(as other: WatchFrame) -> Bool {
        if sharedIDs.isEmpty || other.sharedIDs.isEmpty {
            return sharedIDs.isEmpty && other.sharedIDs.isEmpty && watchID == other.watchID
        }
        guard sharedIDs.count == other.sharedIDs.count else { return false }
        // A share's batches hold the same array until its watchers change.
        let sameArray = sharedIDs.withUnsafeBufferPointer { a in other.sharedIDs.withUnsafeBufferPointer { a.baseAddress == $0.baseAddress }
        }
        return sameArray || sharedIDs == other.sharedIDs
    }

    /// The first `n` responses, and the rest (0 < n < responseCount).
    func split(at n: Int) -> (WatchFrame, WatchFrame) {
        (WatchFrame(self, to: sharedIDs[..<n]), WatchFrame(self, to: sharedIDs[n...]))
    }

    /// One frame per response.
    var responses: [WatchFrame] {
        sharedIDs.isEmpty ? [self] : sharedIDs.map { WatchFrame(self, to: $0) }
    }

    /// The whole `etcdserverpb.WatchResponse` message.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size)
        ProtoWire.int(2, watchID, into: &out)
        out += body
        return out
    }
}

/// The watchers with the same range and options share a group: matched once per event, and
/// the batch encoded once for all of them.
final class WatchGroup {
    struct Key: Hashable {
        var key: [UInt8]
        var end: [UInt8]
        var flags: UInt8
    }
    let key: Key
    var noPut: Bool { key.flags & 1 != 0 }
    var noDelete: Bool { key.flags & 2 != 0 }
    var prevKV: Bool { key.flags & 4 != 0 }
    var fragment: Bool { key.flags & 8 != 0 }
    /// Watchers that are up to date and get each batch as it is applied, by stream.
    var shares: [StreamShare] = []
    var shareOf: [ObjectIdentifier: StreamShare] = [:]
    /// Every watcher using this group, synced or not.
    var users = 0
    /// Indices (into the batch being notified) of events that match, filters applied.
    var pending: [Int] = []

    init(_ key: Key) { self.key = key }

    func accepts(_ v: KeyVersion) -> Bool { v.isTombstone ? !noDelete : !noPut }

    func contains(_ k: UnsafeRawBufferPointer) -> Bool {
        if key.end.isEmpty { return key.key.withUnsafeBytes { compareBytes($0, k) == 0 } }
        if key.key.withUnsafeBytes({ compareBytes($0, k) }) > 0 { return false }
        return key.end == [0] || key.end.withUnsafeBytes { compareBytes(k, $0) } < 0
    }
}

/// The synced watchers of one group on one stream: each batch goes to them as one queue entry
/// (`WatchFrame.sharedIDs` is `ids`, shared), so the fan-out costs per stream, not per watcher.
final class StreamShare {
    let stream: WatchStream
    /// Aligned: watcher `i` has id `ids[i]` (and `slot` i).
    var watchers: [Watcher] = []
    var ids: [Int64] = []
    /// The bytes of the watch-id fields of `ids`.
    var idBytes = 0
    /// A batch went to these watchers since the last progress tick.
    var sentSinceTick = false
    /// Position in the group's `shares`.
    var index = 0

    init(stream: WatchStream) { self.stream = stream }
}

final class Watcher {
    let id: Int64
    let stream: WatchStream
    let group: WatchGroup
    /// Unsynced: the next revision to send. Synced: the hub's notified revision + 1.
    var nextRevision: Int64
    /// Position in `share.watchers` when synced, in the hub's unsynced list otherwise.
    var slot = -1
    /// Its group's share of its stream, while synced.
    var share: StreamShare?
    var synced = false
    let progressNotify: Bool
    var sentSinceTick = false

    init(id: Int64, stream: WatchStream, group: WatchGroup, nextRevision: Int64, progressNotify: Bool) {
        self.id = id
        self.stream = stream
        self.group = group
        self.nextRevision = nextRevision
        self.progressNotify = progressNotify
    }
}

/// One client stream (one gRPC Watch call): its watchers and its queue of responses. All of
/// its state is guarded by the hub's lock.
public final class WatchStream: @unchecked Sendable {
    fileprivate var queue: [WatchFrame] = []
    fileprivate var head = 0
    fileprivate var queuedBytes = 0
    /// Responses queued (a queue entry may stand for several: `WatchFrame.sharedIDs`).
    fileprivate var queuedResponses = 0
    fileprivate var watchers: [Int64: Watcher] = [:]
    fileprivate var nextID: Int64 = 0
    fileprivate var unsynced = 0
    fileprivate var progressPending = false
    fileprivate var closed = false
    /// Called (outside the lock) when responses become available on an empty queue.
    let onReadable: (@Sendable () -> Void)?

    init(onReadable: (@Sendable () -> Void)?) { self.onReadable = onReadable }

    fileprivate var queuedFrames: Int { queuedResponses }
}

/// Statistics, read with `WatchHub.stats`.
public struct WatchStats: Equatable, Sendable {
    public var watchers = 0
    public var unsynced = 0
    public var groups = 0
    public var streams = 0
    /// Bytes of response bodies built (events and headers), over the hub's life.
    public var bytesEncoded = 0
    /// Events handed to watchers (an event sent to n watchers counts n), over the hub's life.
    public var eventsDelivered = 0
    /// Synced watchers that fell back to catch-up because their stream was full.
    public var demotions = 0
}

/// The watch hub. The apply loop calls `notify` after each applied batch with the newest read
/// view; matching goes through an index of groups (not a scan of watchers) and never waits for
/// a consumer: a watcher whose stream is full drops to the unsynced set and later catches up
/// from history (`catchUp`, run by a background task). All methods are thread-safe.
public final class WatchHub: @unchecked Sendable {
    public let limits: WatchLimits
    private let lock = Lock()
    private var notified: Int64
    private var compactRevision: Int64 = -1
    private var header: ResponseHeaderInfo
    private var groups: [WatchGroup.Key: WatchGroup] = [:]
    private var singleKeyGroups: [[UInt8]: [WatchGroup]] = [:]
    private var rangeGroups = IntervalIndex<WatchGroup>()
    private var unsynced: [Watcher] = []
    /// Told when a watcher falls behind while none was (see `whenCatchUpNeeded`).
    private var catchUpNeeded: (@Sendable () -> Void)?
    private var catchUpCursor = 0
    private var streamCount = 0
    private var counters = WatchStats()

    /// Planted bug `dropWatchEvent`: deliveries counted, one in 100 skipped.
    private let dropsEvents: Bool
    private var deliveries = 0

    /// A hub whose watchers start after `revision` (the store's revision when the hub starts).
    public init(
        revision: Int64, header: ResponseHeaderInfo = ResponseHeaderInfo(), limits: WatchLimits = WatchLimits(),
        dropsEvents: Bool = false
    ) {
        self.notified = revision
        self.header = header
        self.limits = limits
        self.dropsEvents = dropsEvents
    }

    public var stats: WatchStats {
        lock.withLock {
            var s = counters
            s.unsynced = unsynced.count
            s.groups = groups.count
            s.streams = streamCount
            return s
        }
    }

    public var notifiedRevision: Int64 { lock.withLock { notified } }

    public func setHeader(_ info: ResponseHeaderInfo) { lock.withLock { header = info } }

    /// `observer` is called when a watcher becomes unsynced while every other watcher is
    /// synced: whoever calls `catchUp` may wait for it once `catchUp` returns false, instead of
    /// polling. Called under the hub's lock: it must only hand over (signal, enqueue).
    public func whenCatchUpNeeded(_ observer: @escaping @Sendable () -> Void) {
        lock.withLock { catchUpNeeded = observer }
    }

    // MARK: - Streams and watchers

    public func openStream(onReadable: (@Sendable () -> Void)? = nil) -> WatchStream {
        lock.withLock { streamCount += 1 }
        return WatchStream(onReadable: onReadable)
    }

    /// Ends a stream: every watcher on it goes, and its queue is dropped.
    public func close(_ stream: WatchStream) {
        lock.withLock {
            guard !stream.closed else { return }
            stream.closed = true
            for w in Array(stream.watchers.values) { remove(w) }
            stream.queue = []
            stream.head = 0
            stream.queuedBytes = 0
            stream.queuedResponses = 0
            streamCount -= 1
        }
    }

    /// Creates a watcher. Its `created` response (or a refusal: created and canceled, id -1,
    /// with the reason) is queued on the stream. Returns the watch id, or -1.
    @discardableResult
    public func watch(_ c: WatchCreate, on stream: WatchStream) -> Int64 {
        let (id, wake) = lock.withLock { () -> (Int64, Bool) in
            guard !stream.closed else { return (-1, false) }
            let wasEmpty = stream.queuedFrames == 0
            func refuse(_ reason: String) -> (Int64, Bool) {
                var body: [UInt8] = []
                WatchEncoding.header(header, revision: notified, into: &body)
                ProtoWire.bool(3, true, into: &body)
                ProtoWire.bool(4, true, into: &body)
                reason.utf8CString.withUnsafeBytes { ProtoWire.bytes(6, UnsafeRawBufferPointer(rebasing: $0.dropLast()), into: &body) }
                enqueue(WatchFrame(watchID: -1, body: body, eventCount: 0), on: stream)
                return (-1, wasEmpty)
            }
            if !c.rangeEnd.isEmpty && c.rangeEnd != [0] && compareBytes(c.key, c.rangeEnd) >= 0 {
                return refuse("mvcc: watcher range is empty")
            }
            if stream.watchers.count >= limits.maxWatchersPerStream {
                return refuse("capstan: too many watchers on this stream (limit \(limits.maxWatchersPerStream))")
            }
            var id = c.watchID
            if id == 0 {
                while stream.watchers[stream.nextID] != nil { stream.nextID += 1 }
                id = stream.nextID
                stream.nextID += 1
            } else if stream.watchers[id] != nil || id < 0 {
                return refuse("mvcc: duplicate watch ID provided on the WatchStream")
            }
            let flags: UInt8 = (c.noPut ? 1 : 0) | (c.noDelete ? 2 : 0) | (c.prevKV ? 4 : 0) | (c.fragment ? 8 : 0)
            let group = group(for: WatchGroup.Key(key: c.key, end: c.rangeEnd, flags: flags))
            group.users += 1
            let start = c.startRevision > 0 ? c.startRevision : notified + 1
            let w = Watcher(id: id, stream: stream, group: group, nextRevision: start, progressNotify: c.progressNotify)
            stream.watchers[id] = w
            counters.watchers += 1
            var body: [UInt8] = []
            WatchEncoding.header(header, revision: notified, into: &body)
            ProtoWire.bool(3, true, into: &body)
            enqueue(WatchFrame(watchID: id, body: body, eventCount: 0), on: stream)
            if start == notified + 1 { makeSynced(w) } else { makeUnsynced(w) }
            return (id, wasEmpty)
        }
        if wake { stream.onReadable?() }
        return id
    }

    /// Cancels a watcher at the client's request; unknown ids are ignored, as etcd does.
    public func cancel(_ id: Int64, on stream: WatchStream) {
        let wake = lock.withLock { () -> Bool in
            guard !stream.closed, let w = stream.watchers[id] else { return false }
            let wasEmpty = stream.queuedFrames == 0
            var body: [UInt8] = []
            WatchEncoding.header(header, revision: notified, into: &body)
            ProtoWire.bool(4, true, into: &body)
            // The cancel goes out before any progress response its removal releases.
            enqueue(WatchFrame(watchID: id, body: body, eventCount: 0), on: stream)
            remove(w)
            return wasEmpty
        }
        if wake { stream.onReadable?() }
    }

    /// A progress request on the stream: answered (watch id -1, the current revision) once
    /// every watcher on the stream is synced, so the revision it reports covers every event
    /// already sent; until then it waits.
    public func requestProgress(on stream: WatchStream) {
        let wake = lock.withLock { () -> Bool in
            guard !stream.closed else { return false }
            if stream.unsynced > 0 {
                stream.progressPending = true
                return false
            }
            let wasEmpty = stream.queuedFrames == 0
            sendProgress(id: -1, on: stream)
            return wasEmpty
        }
        if wake { stream.onReadable?() }
    }

    /// Periodic progress (etcd's `progress_notify`): every synced watcher that asked for it and
    /// was sent nothing since the last tick gets an empty response with the current revision.
    public func tickProgress(_ streams: [WatchStream]) {
        var wake: [WatchStream] = []
        lock.withLock {
            for s in streams where !s.closed {
                let wasEmpty = s.queuedFrames == 0
                let asked = s.watchers.values.filter(\.progressNotify)
                for w in asked where w.synced && !w.sentSinceTick && !(w.share?.sentSinceTick ?? false) && hasRoom(s, bytes: 64) {
                    sendProgress(id: w.id, on: s)
                }
                for w in asked {
                    w.sentSinceTick = false
                    w.share?.sentSinceTick = false
                }
                if wasEmpty && s.queuedFrames > 0 { wake.append(s) }
            }
        }
        for s in wake { s.onReadable?() }
    }

    /// Takes up to `max` queued responses, oldest first, one frame per response.
    public func drain(_ stream: WatchStream, max: Int = .max) -> [WatchFrame] {
        drainShared(stream, max: max).flatMap(\.responses)
    }

    /// Takes up to `max` queued responses, oldest first; a frame may stand for several
    /// (`WatchFrame.sharedIDs`: the same body to several watchers of the stream).
    public func drainShared(_ stream: WatchStream, max: Int = .max) -> [WatchFrame] {
        lock.withLock {
            var n = 0
            var out: [WatchFrame] = []
            while n < max && stream.head < stream.queue.count {
                var f = stream.queue[stream.head]
                if n + f.responseCount > max {
                    let rest: WatchFrame
                    (f, rest) = f.split(at: max - n)
                    stream.queue[stream.head] = rest
                } else {
                    stream.head += 1
                }
                n += f.responseCount
                stream.queuedBytes -= f.totalSize
                out.append(f)
            }
            guard n > 0 else { return [] }
            stream.queuedResponses -= n
            if stream.head == stream.queue.count {
                stream.queue.removeAll(keepingCapacity: stream.queue.count <= 1024)
                stream.head = 0
            } else if stream.head > 4096 && stream.head * 2 > stream.queue.count {
                stream.queue.removeSubrange(0..<stream.head)
                stream.head = 0
            }
            return out
        }
    }

    /// Watchers on a stream not yet caught up (tests, metrics).
    public func unsyncedCount(on stream: WatchStream) -> Int { lock.withLock { stream.unsynced } }
    public func queuedFrames(on stream: WatchStream) -> Int { lock.withLock { stream.queuedFrames } }

    // MARK: - Notify (apply loop)

    /// Delivers every event after the last notified revision up to `view.revision` to the
    /// synced watchers. One response per watcher per call; a revision is never split.
    public func notify(_ view: ReadView) {
        var wake: [WatchStream] = []
        lock.withLock {
            compactRevision = view.compactRevision
            guard view.revision > notified else { return }
            var events: [KeyVersion] = []
            view.events.forEach(from: notified + 1) {
                events.append($0)
                return true
            }
            var touched: [WatchGroup] = []
            for (i, v) in events.enumerated() {
                func offer(_ g: WatchGroup) {
                    guard !g.shares.isEmpty, g.accepts(v) else { return }
                    if g.pending.isEmpty { touched.append(g) }
                    g.pending.append(i)
                }
                if !singleKeyGroups.isEmpty, let gs = singleKeyGroups[v.key] { gs.forEach(offer) }
                if rangeGroups.count > 0 { v.withKey { k in rangeGroups.forEachContaining(k, offer) } }
            }
            let firstNew = notified + 1
            for g in touched {
                let (frames, encoded) = Self.encode(
                    g.pending.lazy.map { events[$0] }, group: g, header: header,
                    view: view, limits: limits)
                counters.bytesEncoded += encoded
                g.pending.removeAll(keepingCapacity: true)
                let frameBytes = frames.reduce(0) { $0 + $1.body.count }
                var j = 0
                while j < g.shares.count {
                    let share = g.shares[j]
                    let s = share.stream
                    var ids = share.ids
                    var idBytes = share.idBytes
                    if dropsEvents {
                        // One delivery in 100 skipped.
                        ids = ids.filter { _ in
                            deliveries += 1
                            return deliveries % 100 != 0
                        }
                        idBytes = ids.reduce(0) { $0 + ProtoWire.intSize(2, $1) }
                        if ids.isEmpty {
                            j += 1
                            continue
                        }
                    }
                    let wasEmpty = s.queuedFrames == 0
                    // As many of them as the stream has room for (the first always, on an empty queue).
                    let fit = room(s, responses: ids.count, frames: frames.count, bytes: frameBytes + idBytes / ids.count + 1)
                    if fit > 0 {
                        if frames.count == 1 {
                            // One entry for all of them, holding the share's own id array when all fit.
                            let f = frames[0]
                            enqueue(fit == ids.count ? WatchFrame(f, to: ids, idBytes: idBytes) : WatchFrame(f, to: ids[..<fit]), on: s)
                        } else {
                            for id in ids[..<fit] { for f in frames { enqueue(WatchFrame(f, to: id), on: s) } }
                        }
                        share.sentSinceTick = true
                        if wasEmpty { wake.append(s) }
                    }
                    // Full: the others catch up from history, starting with this batch (the
                    // share leaves the group's list with its last watcher).
                    for id in ids[fit...] {
                        guard let w = s.watchers[id] else { continue }
                        w.nextRevision = firstNew
                        makeUnsynced(w)
                        counters.demotions += 1
                    }
                    if g.shares.count > j && g.shares[j] === share { j += 1 }
                }
            }
            notified = view.revision
        }
        for s in wake { s.onReadable?() }
    }

    // MARK: - Catch-up (background)

    /// Serves up to `limits.catchUpBatch` unsynced watchers whose streams have room: each gets
    /// the history from its next revision (bounded by `maxCatchUpBytes`, whole revisions),
    /// rejoins the synced set once it reaches the notified revision, or is cancelled with the
    /// compaction revision if its history is gone. History is read from `view` outside the
    /// lock. Pass the newest view. Returns whether unsynced watchers remain.
    @discardableResult
    public func catchUp(_ view: ReadView) -> Bool {
        struct Job {
            let group: WatchGroup
            let from: Int64
            var watchers: [Watcher] = []
            var frames: [WatchFrame] = []
            var through: Int64 = 0
            var compacted = false
        }
        // 1. Choose, under the lock.
        var jobs: [Job] = []
        let header = lock.withLock { self.header }
        var encoded = 0
        lock.withLock {
            var index: [ObjectIdentifier: [Int64: Int]] = [:]
            var taken = 0
            // No more watchers per stream than its queue has room for. The scan starts where
            // the previous call stopped, so every unsynced watcher gets its turn.
            var planned: [ObjectIdentifier: Int] = [:]
            let n = unsynced.count
            let first = n == 0 ? 0 : catchUpCursor % n
            for k in 0..<n {
                let w = unsynced[(first + k) % n]
                if taken == limits.catchUpBatch {
                    catchUpCursor = first + k
                    break
                }
                let sid = ObjectIdentifier(w.stream)
                let room =
                    w.stream.closed
                    ? 0
                    : (w.stream.queuedFrames == 0
                        ? max(1, limits.maxQueuedFramesPerStream) : limits.maxQueuedFramesPerStream - w.stream.queuedFrames)
                guard planned[sid, default: 0] < room else { continue }
                planned[sid, default: 0] += 1
                taken += 1
                let gid = ObjectIdentifier(w.group)
                if let j = index[gid]?[w.nextRevision] {
                    jobs[j].watchers.append(w)
                } else {
                    index[gid, default: [:]][w.nextRevision] = jobs.count
                    jobs.append(Job(group: w.group, from: w.nextRevision, watchers: [w]))
                }
            }
        }
        guard !jobs.isEmpty else { return lock.withLock { !unsynced.isEmpty } }
        // 2. Read history and encode, once per (group, start revision), without the lock.
        for j in jobs.indices {
            let from = jobs[j].from
            if from < view.compactRevision {
                jobs[j].compacted = true
                continue
            }
            let g = jobs[j].group
            var picked: [KeyVersion] = []
            var bytes = 0
            var through = view.revision
            var lastRevision: Int64 = -1
            view.events.forEach(from: from) { v in
                if v.modMain > view.revision { return false }
                if bytes >= limits.maxCatchUpBytes && v.modMain != lastRevision {
                    through = lastRevision
                    return false
                }
                guard v.withKey({ g.contains($0) }), g.accepts(v) else { return true }
                picked.append(v)
                lastRevision = v.modMain
                bytes += v.keyCount + v.valueCount + 16
                return true
            }
            jobs[j].through = max(through, from - 1)
            if !picked.isEmpty {
                let (frames, bytes) = Self.encode(picked, group: g, header: header, view: view, limits: limits)
                jobs[j].frames = frames
                encoded += bytes
            }
        }
        // 3. Deliver, under the lock, to the watchers that are still where they were.
        var wake: [WatchStream] = []
        let remaining = lock.withLock { () -> Bool in
            counters.bytesEncoded += encoded
            for job in jobs {
                for w in job.watchers where !w.synced && w.stream.watchers[w.id] === w && w.nextRevision == job.from {
                    let s = w.stream
                    let wasEmpty = s.queuedFrames == 0
                    if job.compacted {
                        var body: [UInt8] = []
                        WatchEncoding.header(header, revision: notified, into: &body)
                        ProtoWire.bool(4, true, into: &body)
                        ProtoWire.int(5, view.compactRevision, into: &body)
                        enqueue(WatchFrame(watchID: w.id, body: body, eventCount: 0), on: s)
                        remove(w)
                    } else {
                        if !job.frames.isEmpty {
                            guard hasRoom(s, bytes: job.frames.reduce(0) { $0 + $1.body.count }, frames: job.frames.count) else { continue }
                            for f in job.frames { enqueue(WatchFrame(f, to: w.id), on: s) }
                            w.sentSinceTick = true
                        }
                        w.nextRevision = max(w.nextRevision, job.through + 1)
                        if w.nextRevision == notified + 1 { makeSynced(w) }
                    }
                    if s.unsynced == 0 && s.progressPending {
                        s.progressPending = false
                        sendProgress(id: -1, on: s)
                    }
                    if wasEmpty && s.queuedFrames > 0 { wake.append(s) }
                }
            }
            return !unsynced.isEmpty
        }
        for s in wake { s.onReadable?() }
        return remaining
    }

    // MARK: - Internals (lock held)

    private func group(for key: WatchGroup.Key) -> WatchGroup {
        if let g = groups[key] { return g }
        let g = WatchGroup(key)
        groups[key] = g
        if key.end.isEmpty {
            singleKeyGroups[key.key, default: []].append(g)
        } else {
            rangeGroups.insert(start: key.key, end: key.end == [0] ? nil : key.end, g)
        }
        return g
    }

    private func release(_ g: WatchGroup) {
        g.users -= 1
        guard g.users == 0 else { return }
        groups[g.key] = nil
        if g.key.end.isEmpty {
            singleKeyGroups[g.key.key]?.removeAll { $0 === g }
            if singleKeyGroups[g.key.key]?.isEmpty == true { singleKeyGroups[g.key.key] = nil }
        } else {
            rangeGroups.remove(g)
        }
    }

    private func makeSynced(_ w: Watcher) {
        if !w.synced && w.slot >= 0 { takeOut(w) }
        w.synced = true
        let g = w.group
        let key = ObjectIdentifier(w.stream)
        let share: StreamShare
        if let existing = g.shareOf[key] {
            share = existing
        } else {
            share = StreamShare(stream: w.stream)
            share.index = g.shares.count
            g.shares.append(share)
            g.shareOf[key] = share
        }
        w.slot = share.watchers.count
        w.share = share
        share.watchers.append(w)
        share.ids.append(w.id)
        share.idBytes += ProtoWire.intSize(2, w.id)
    }

    private func makeUnsynced(_ w: Watcher) {
        if w.synced && w.slot >= 0 { takeOut(w) }
        if w.slot >= 0 { return }
        w.synced = false
        w.slot = unsynced.count
        unsynced.append(w)
        w.stream.unsynced += 1
        if unsynced.count == 1 { catchUpNeeded?() }
    }

    /// Removes the watcher from whichever list holds it (swap with the last).
    private func takeOut(_ w: Watcher) {
        if w.synced, let share = w.share {
            let last = share.watchers[share.watchers.count - 1]
            share.watchers[w.slot] = last
            share.ids[w.slot] = last.id
            last.slot = w.slot
            share.watchers.removeLast()
            share.ids.removeLast()
            share.idBytes -= ProtoWire.intSize(2, w.id)
            w.share = nil
            if share.watchers.isEmpty {
                let g = w.group
                let moved = g.shares[g.shares.count - 1]
                g.shares[share.index] = moved
                moved.index = share.index
                g.shares.removeLast()
                g.shareOf[ObjectIdentifier(share.stream)] = nil
            }
        } else {
            let last = unsynced[unsynced.count - 1]
            unsynced[w.slot] = last
            last.slot = w.slot
            unsynced.removeLast()
            w.stream.unsynced -= 1
        }
        w.slot = -1
    }

    private func remove(_ w: Watcher) {
        if w.slot >= 0 { takeOut(w) }
        w.stream.watchers[w.id] = nil
        counters.watchers -= 1
        release(w.group)
        let s = w.stream
        if s.unsynced == 0 && s.progressPending {
            s.progressPending = false
            sendProgress(id: -1, on: s)
        }
    }

    /// How many of `responses` responses of `frames` frames and about `bytes` bytes each fit in
    /// the stream's queue: the first always does when the queue is empty.
    private func room(_ s: WatchStream, responses: Int, frames: Int, bytes: Int) -> Int {
        if s.closed { return 0 }
        // How many of `each` fit in `left` (a response taking none fits while `left` is not negative).
        func count(_ left: Int, _ each: Int) -> Int { each > 0 ? left / each : (left >= 0 ? responses : 0) }
        let byFrames = count(limits.maxQueuedFramesPerStream - s.queuedFrames, frames)
        let byBytes = count(limits.maxQueuedBytesPerStream - s.queuedBytes, bytes)
        let fit = max(0, min(responses, byFrames, byBytes))
        return s.queuedFrames == 0 ? max(fit, 1) : fit
    }

    private func hasRoom(_ s: WatchStream, bytes: Int, frames: Int = 1) -> Bool {
        room(s, responses: 1, frames: frames, bytes: bytes) == 1
    }

    /// Queues a frame: one response, or one to each of its `sharedIDs`.
    private func enqueue(_ f: WatchFrame, on s: WatchStream) {
        s.queue.append(f)
        s.queuedBytes += f.totalSize
        s.queuedResponses += f.responseCount
        counters.eventsDelivered += f.eventCount * f.responseCount
    }

    private func sendProgress(id: Int64, on s: WatchStream) {
        var body: [UInt8] = []
        WatchEncoding.header(header, revision: notified, into: &body)
        enqueue(WatchFrame(watchID: id, body: body, eventCount: 0), on: s)
    }

    /// The response bodies for a batch of events to one group: one body, or several with
    /// `fragment` set on all but the last when the group asked for fragments and it is large.
    /// Returns the frames and the bytes encoded. Touches no hub state, so it runs without the lock.
    private static func encode(
        _ events: some Collection<KeyVersion>, group g: WatchGroup, header: ResponseHeaderInfo,
        view: ReadView, limits: WatchLimits
    ) -> ([WatchFrame], Int) {
        var head: [UInt8] = []
        WatchEncoding.header(header, revision: view.revision, into: &head)
        var body = head
        for v in events { WatchEncoding.event(v, prevKV: g.prevKV, compactRevision: view.compactRevision, into: &body) }
        guard g.fragment && body.count >= limits.maxResponseBytes && events.count > 1 else {
            return (
                [
                    WatchFrame(
                        watchID: 0, body: body, eventCount: events.count, eventsOffset: events.isEmpty ? 0 : head.count,
                        group: ObjectIdentifier(g))
                ], body.count
            )
        }
        // Fragments: events are added until one would take the response past the limit.
        var frames: [WatchFrame] = []
        var current = head
        var n = 0
        for v in events {
            var one: [UInt8] = []
            WatchEncoding.event(v, prevKV: g.prevKV, compactRevision: view.compactRevision, into: &one)
            if n > 0 && current.count + one.count + 2 > limits.maxResponseBytes {
                ProtoWire.bool(7, true, into: &current)
                frames.append(WatchFrame(watchID: 0, body: current, eventCount: n))
                current = head
                n = 0
            }
            current += one
            n += 1
        }
        frames.append(WatchFrame(watchID: 0, body: current, eventCount: n))
        return (frames, body.count + frames.reduce(0) { $0 + $1.body.count })
    }
}

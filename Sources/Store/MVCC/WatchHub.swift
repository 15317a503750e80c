import Base

/// The watch hub. The apply loop calls `notify` after each applied batch with the newest read
/// view; matching goes through an index of groups (not a scan of watchers) and never waits for
/// a consumer: a watcher whose stream is full drops to the unsynced set and later catches up
/// from history (`catchUp`, run by a background task). All methods are thread-safe.
public final class WatchHub: @unchecked Sendable {
    public let limits: WatchLimits
    /// Writes the responses' bytes (the wire layer's; see `WatchResponseEncoder`).
    let encoder: any WatchResponseEncoder
    let lock = Lock()
    var notified: Int64
    var compactRevision: Int64 = -1
    var header: ResponseHeaderInfo
    var groups: [WatchGroup.Key: WatchGroup] = [:]
    var singleKeyGroups: [[UInt8]: [WatchGroup]] = [:]
    var rangeGroups = IntervalIndex<WatchGroup>()
    var unsynced: [Watcher] = []
    /// Told when a watcher falls behind while none was (see `whenCatchUpNeeded`).
    var catchUpNeeded: (@Sendable () -> Void)?
    var catchUpCursor = 0
    var streamCount = 0
    var counters = WatchStats()

    /// Planted bug `dropWatchEvent`: deliveries counted, one in 100 skipped.
    let dropsEvents: Bool
    var deliveries = 0

    /// A hub whose watchers start after `revision` (the store's revision when the hub starts).
    public init(
        revision: Int64, encoder: any WatchResponseEncoder, header: ResponseHeaderInfo = ResponseHeaderInfo(),
        limits: WatchLimits = WatchLimits(), dropsEvents: Bool = false
    ) {
        self.notified = revision
        self.encoder = encoder
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
                let body = encoder.control(
                    header: header, revision: notified, created: true, canceled: true, compactRevision: 0, reason: reason)
                enqueue(frame(to: -1, body), on: stream)
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
            let body = encoder.control(header: header, revision: notified, created: true, canceled: false, compactRevision: 0, reason: "")
            enqueue(frame(to: id, body), on: stream)
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
            let body = encoder.control(header: header, revision: notified, created: false, canceled: true, compactRevision: 0, reason: "")
            // The cancel goes out before any progress response its removal releases.
            enqueue(frame(to: id, body), on: stream)
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
        drainShared(stream, max: max).flatMap { $0.responses(encoder) }
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
                    (f, rest) = f.split(at: max - n, encoder)
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

    // MARK: - Internals (lock held)

    func group(for key: WatchGroup.Key) -> WatchGroup {
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

    func release(_ g: WatchGroup) {
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

    func makeSynced(_ w: Watcher) {
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
        share.idBytes += encoder.watchIDSize(w.id)
    }

    func makeUnsynced(_ w: Watcher) {
        if w.synced && w.slot >= 0 { takeOut(w) }
        if w.slot >= 0 { return }
        w.synced = false
        w.slot = unsynced.count
        unsynced.append(w)
        w.stream.unsynced += 1
        if unsynced.count == 1 { catchUpNeeded?() }
    }

    /// Removes the watcher from whichever list holds it (swap with the last).
    func takeOut(_ w: Watcher) {
        if w.synced, let share = w.share {
            let last = share.watchers[share.watchers.count - 1]
            share.watchers[w.slot] = last
            share.ids[w.slot] = last.id
            last.slot = w.slot
            share.watchers.removeLast()
            share.ids.removeLast()
            share.idBytes -= encoder.watchIDSize(w.id)
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

    func remove(_ w: Watcher) {
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
    func room(_ s: WatchStream, responses: Int, frames: Int, bytes: Int) -> Int {
        if s.closed { return 0 }
        // How many of `each` fit in `left` (a response taking none fits while `left` is not negative).
        func count(_ left: Int, _ each: Int) -> Int { each > 0 ? left / each : (left >= 0 ? responses : 0) }
        let byFrames = count(limits.maxQueuedFramesPerStream - s.queuedFrames, frames)
        let byBytes = count(limits.maxQueuedBytesPerStream - s.queuedBytes, bytes)
        let fit = max(0, min(responses, byFrames, byBytes))
        return s.queuedFrames == 0 ? max(fit, 1) : fit
    }

    func hasRoom(_ s: WatchStream, bytes: Int, frames: Int = 1) -> Bool {
        room(s, responses: 1, frames: frames, bytes: bytes) == 1
    }

    /// Queues a frame: one response, or one to each of its `sharedIDs`.
    func enqueue(_ f: WatchFrame, on s: WatchStream) {
        s.queue.append(f)
        s.queuedBytes += f.totalSize
        s.queuedResponses += f.responseCount
        counters.eventsDelivered += f.eventCount * f.responseCount
    }

    func sendProgress(id: Int64, on s: WatchStream) {
        let body = encoder.control(header: header, revision: notified, created: false, canceled: false, compactRevision: 0, reason: "")
        enqueue(frame(to: id, body), on: s)
    }

    /// A response without events to watcher `id`.
    func frame(to id: Int64, _ body: [UInt8]) -> WatchFrame {
        WatchFrame(watchID: id, idBytes: encoder.watchIDSize(id), body: body, eventCount: 0)
    }
}

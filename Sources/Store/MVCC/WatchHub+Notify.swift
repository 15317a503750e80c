import Base

/// Notify (the apply loop): each applied batch's events matched to the groups that want them,
/// encoded once per group, and queued once per stream share.
extension WatchHub {
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
            let firstNew = notified + 1
            for g in match(events) {
                let (frames, encoded) = encode(g.pending.lazy.map { events[$0] }, group: g, view: view, header: header)
                counters.bytesEncoded += encoded
                g.pending.removeAll(keepingCapacity: true)
                deliver(frames, to: g, firstNew: firstNew, wake: &wake)
            }
            notified = view.revision
        }
        for s in wake { s.onReadable?() }
    }

    /// The groups with synced watchers that want some of `events`, each with the indices of
    /// those events in `pending`. Lock held.
    private func match(_ events: [KeyVersion]) -> [WatchGroup] {
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
        return touched
    }

    /// Queues a group's frames on each of its stream shares, as far as each stream has room;
    /// the watchers that do not fit drop to catch-up from `firstNew`. Lock held.
    private func deliver(_ frames: [WatchFrame], to g: WatchGroup, firstNew: Int64, wake: inout [WatchStream]) {
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
                idBytes = ids.reduce(0) { $0 + encoder.watchIDSize($1) }
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
                    enqueue(fit == ids.count ? WatchFrame(f, to: ids, idBytes: idBytes) : WatchFrame(f, to: ids[..<fit], encoder), on: s)
                } else {
                    for id in ids[..<fit] { for f in frames { enqueue(WatchFrame(f, to: id, encoder), on: s) } }
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

    /// The response bodies for a batch of events to one group: one body, or several with
    /// `fragment` set on all but the last when the group asked for fragments and it is large.
    /// Returns the frames and the bytes encoded. Touches no hub state (the caller reads `header`
    /// under the lock), so the catch-up runs it without the lock.
    func encode(
        _ events: some Collection<KeyVersion>, group g: WatchGroup, view: ReadView, header: ResponseHeaderInfo
    ) -> ([WatchFrame], Int) {
        var head: [UInt8] = []
        encoder.eventsHead(header: header, revision: view.revision, into: &head)
        var body = head
        for v in events { encoder.event(v, prevKV: g.prevKV, compactRevision: view.compactRevision, into: &body) }
        guard g.fragment && body.count >= limits.maxResponseBytes && events.count > 1 else {
            let offset = events.isEmpty ? 0 : head.count
            let frame = WatchFrame(
                watchID: 0, idBytes: 0, body: body, eventCount: events.count, eventsOffset: offset, group: ObjectIdentifier(g))
            return ([frame], body.count)
        }
        // Fragments: events are added until one would take the response past the limit.
        var frames: [WatchFrame] = []
        var current = head
        var n = 0
        for v in events {
            var one: [UInt8] = []
            encoder.event(v, prevKV: g.prevKV, compactRevision: view.compactRevision, into: &one)
            if n > 0 && current.count + one.count + 2 > limits.maxResponseBytes {
                encoder.markFragment(into: &current)
                frames.append(WatchFrame(watchID: 0, idBytes: 0, body: current, eventCount: n))
                current = head
                n = 0
            }
            current += one
            n += 1
        }
        frames.append(WatchFrame(watchID: 0, idBytes: 0, body: current, eventCount: n))
        return (frames, body.count + frames.reduce(0) { $0 + $1.body.count })
    }
}

import Base

/// Catch-up (a background job): unsynced watchers served from history in rounds, then moved
/// back to the synced set once they reach the notified revision.
extension WatchHub {
    /// Watchers of one group that start at the same revision: their history is read and encoded once.
    struct CatchUpJob {
        let group: WatchGroup
        let from: Int64
        var watchers: [Watcher] = []
        var frames: [WatchFrame] = []
        var through: Int64 = 0
        var compacted = false
    }

    /// Serves up to `limits.catchUpBatch` unsynced watchers whose streams have room: each gets
    /// the history from its next revision (bounded by `maxCatchUpBytes`, whole revisions),
    /// rejoins the synced set once it reaches the notified revision, or is cancelled with the
    /// compaction revision if its history is gone. History is read from `view` outside the
    /// lock. Pass the newest view. Returns whether unsynced watchers remain.
    @discardableResult
    public func catchUp(_ view: ReadView) -> Bool {
        // 1. Choose, under the lock.
        let (chosen, header) = lock.withLock { (chooseCatchUpJobs(), self.header) }
        guard !chosen.isEmpty else { return lock.withLock { !unsynced.isEmpty } }
        // 2. Read history and encode, once per (group, start revision), without the lock.
        var jobs = chosen
        var encoded = 0
        for j in jobs.indices { encoded += readHistory(&jobs[j], view: view, header: header) }
        // 3. Deliver, under the lock, to the watchers that are still where they were.
        var wake: [WatchStream] = []
        let remaining = lock.withLock { () -> Bool in
            counters.bytesEncoded += encoded
            for job in jobs { deliver(job, view: view, header: header, wake: &wake) }
            return !unsynced.isEmpty
        }
        for s in wake { s.onReadable?() }
        return remaining
    }

    /// The next round's jobs: no more watchers per stream than its queue has room for; the scan
    /// starts where the previous round stopped, so every unsynced watcher gets its turn. Lock held.
    private func chooseCatchUpJobs() -> [CatchUpJob] {
        var jobs: [CatchUpJob] = []
        var index: [ObjectIdentifier: [Int64: Int]] = [:]
        var taken = 0
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
                jobs.append(CatchUpJob(group: w.group, from: w.nextRevision, watchers: [w]))
            }
        }
        return jobs
    }

    /// Reads a job's history from `view` (whole revisions, up to `maxCatchUpBytes`) and encodes
    /// it, or marks the job compacted; returns the bytes encoded. Without the lock.
    private func readHistory(_ job: inout CatchUpJob, view: ReadView, header: ResponseHeaderInfo) -> Int {
        let from = job.from
        if from < view.compactRevision {
            job.compacted = true
            return 0
        }
        let g = job.group
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
        job.through = max(through, from - 1)
        guard !picked.isEmpty else { return 0 }
        let (frames, encoded) = encode(picked, group: g, view: view, header: header)
        job.frames = frames
        return encoded
    }

    /// Queues a job's history to each of its watchers still where it was chosen (or cancels
    /// them with the compaction revision), and moves those that caught up to the synced set. Lock held.
    private func deliver(_ job: CatchUpJob, view: ReadView, header: ResponseHeaderInfo, wake: inout [WatchStream]) {
        for w in job.watchers where !w.synced && w.stream.watchers[w.id] === w && w.nextRevision == job.from {
            let s = w.stream
            let wasEmpty = s.queuedFrames == 0
            if job.compacted {
                let body = encoder.control(
                    header: header, revision: notified, created: false, canceled: true, compactRevision: view.compactRevision, reason: "")
                enqueue(frame(to: w.id, body), on: s)
                remove(w)
            } else {
                if !job.frames.isEmpty {
                    guard hasRoom(s, bytes: job.frames.reduce(0) { $0 + $1.body.count }, frames: job.frames.count) else { continue }
                    for f in job.frames { enqueue(WatchFrame(f, to: w.id, encoder), on: s) }
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
}

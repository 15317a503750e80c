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
    var queue: [WatchFrame] = []
    var head = 0
    var queuedBytes = 0
    /// Responses queued (a queue entry may stand for several: `WatchFrame.sharedIDs`).
    var queuedResponses = 0
    var watchers: [Int64: Watcher] = [:]
    var nextID: Int64 = 0
    var unsynced = 0
    var progressPending = false
    var closed = false
    /// Called (outside the lock) when responses become available on an empty queue.
    let onReadable: (@Sendable () -> Void)?

    init(onReadable: (@Sendable () -> Void)?) { self.onReadable = onReadable }

    var queuedFrames: Int { queuedResponses }
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

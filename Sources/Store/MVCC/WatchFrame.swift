import Base

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

    /// A response to `watchID`, whose watch id takes `idBytes` on the wire (`WatchResponseEncoder.watchIDSize`).
    public init(watchID: Int64, idBytes: Int, body: [UInt8], eventCount: Int, eventsOffset: Int = 0, group: ObjectIdentifier? = nil) {
        self.watchID = watchID
        self.body = body
        self.eventCount = eventCount
        self.eventsOffset = eventsOffset
        self.group = group
        sharedIDs = []
        self.idBytes = idBytes
    }

    /// The same response as `frame`, to watcher `id`.
    init(_ frame: WatchFrame, to id: Int64, _ encoder: any WatchResponseEncoder) {
        self.init(
            watchID: id, idBytes: encoder.watchIDSize(id), body: frame.body, eventCount: frame.eventCount,
            eventsOffset: frame.eventsOffset, group: frame.group)
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

    /// The same response as `frame` to each of `ids` (not empty).
    public init(_ frame: WatchFrame, to ids: ArraySlice<Int64>, _ encoder: any WatchResponseEncoder) {
        self.init(frame, to: Array(ids), idBytes: ids.reduce(0) { $0 + encoder.watchIDSize($1) })
    }
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
    func split(at n: Int, _ encoder: any WatchResponseEncoder) -> (WatchFrame, WatchFrame) {
        (WatchFrame(self, to: sharedIDs[..<n], encoder), WatchFrame(self, to: sharedIDs[n...], encoder))
    }

    /// One frame per response.
    func responses(_ encoder: any WatchResponseEncoder) -> [WatchFrame] {
        sharedIDs.isEmpty ? [self] : sharedIDs.map { WatchFrame(self, to: $0, encoder) }
    }
}

/// How watch responses become bytes. The hub decides what a response says and to whom; the
/// client port's wire layer decides how it is written (`EtcdWatchEncoder`, in the Wire room,
/// writes etcd's `WatchResponse`), so the state machine knows no field number. A response is a
/// body encoded once per batch, shared by every watcher it goes to, and the watcher's id,
/// written per watcher when the response goes out.
public protocol WatchResponseEncoder: Sendable {
    /// The body of a response without events: the header at `revision`, then `created`,
    /// `canceled`, the compaction revision a watcher was canceled for (0: none) and the reason
    /// a watch was refused (empty: none). All false, 0 and empty: a progress notification.
    func control(
        header: ResponseHeaderInfo, revision: Int64, created: Bool, canceled: Bool, compactRevision: Int64, reason: String
    ) -> [UInt8]
    /// Starts a body of events: the header at `revision`.
    func eventsHead(header: ResponseHeaderInfo, revision: Int64, into out: inout [UInt8])
    /// Appends one event to a body, with the key's previous version when `prevKV` is asked for
    /// and that revision is not compacted (`compactRevision`).
    func event(_ v: KeyVersion, prevKV: Bool, compactRevision: Int64, into out: inout [UInt8])
    /// Marks a body of events as a fragment: more of the same revisions follow.
    func markFragment(into out: inout [UInt8])
    /// The bytes a response's watch id adds to it.
    func watchIDSize(_ id: Int64) -> Int
}

/// The parts of every response header that come from the member, not the store: one type for
/// the watch hub's frames and the API's unary answers alike.
public struct ResponseHeaderInfo: Equatable, Sendable {
    public var clusterID: UInt64
    public var memberID: UInt64
    public var raftTerm: UInt64
    public init(clusterID: UInt64 = 0, memberID: UInt64 = 0, raftTerm: UInt64 = 0) {
        self.clusterID = clusterID
        self.memberID = memberID
        self.raftTerm = raftTerm
    }
}

import Base
public import CoreMetrics
import MVCC

/// A member's metrics, under etcd's names where etcd has the metric (so existing dashboards
/// work), through swift-metrics: the process picks the backend (Prometheus in `capstan store`)
/// by handing a factory to each member, so several members in one process keep apart.
public final class MemberMetrics: Sendable {
    let hasLeader: Gauge
    let isLeader: Gauge
    let leaderChanges: Counter
    let term: Gauge
    let proposalsCommitted: Gauge
    let proposalsApplied: Gauge
    let proposalsPending: Gauge
    let proposalsFailed: Counter
    let walFsync: Timer
    let apply: Timer
    let snapshotSave: Timer
    let watchers: Gauge
    let watchStreams: Gauge
    let watchEvents: Counter
    let dbSize: Gauge
    private let delivered = Locked(0)

    /// Buckets of the duration histograms, in seconds, by metric name (etcd's for the WAL fsync:
    /// 1 ms doubling to 8 s; 0.1 ms doubling for apply).
    public static let durationBuckets: [String: [Duration]] = [
        "etcd_disk_wal_fsync_duration_seconds": (0..<14).map { .microseconds(1000 << $0) },
        "etcd_server_apply_duration_seconds": (0..<16).map { .microseconds(100 << $0) },
        "etcd_debugging_snap_save_total_duration_seconds": (0..<14).map { .microseconds(1000 << $0) }
    ]

    public init(factory: any MetricsFactory) {
        hasLeader = Gauge(label: "etcd_server_has_leader", factory: factory)
        isLeader = Gauge(label: "etcd_server_is_leader", factory: factory)
        leaderChanges = Counter(label: "etcd_server_leader_changes_seen_total", factory: factory)
        term = Gauge(label: "capstan_server_raft_term", factory: factory)
        proposalsCommitted = Gauge(label: "etcd_server_proposals_committed_total", factory: factory)
        proposalsApplied = Gauge(label: "etcd_server_proposals_applied_total", factory: factory)
        proposalsPending = Gauge(label: "etcd_server_proposals_pending", factory: factory)
        proposalsFailed = Counter(label: "etcd_server_proposals_failed_total", factory: factory)
        walFsync = Timer(label: "etcd_disk_wal_fsync_duration_seconds", factory: factory)
        apply = Timer(label: "etcd_server_apply_duration_seconds", factory: factory)
        snapshotSave = Timer(label: "etcd_debugging_snap_save_total_duration_seconds", factory: factory)
        watchers = Gauge(label: "etcd_debugging_mvcc_watcher_total", factory: factory)
        watchStreams = Gauge(label: "etcd_debugging_mvcc_watch_stream_total", factory: factory)
        watchEvents = Counter(label: "etcd_debugging_mvcc_events_total", factory: factory)
        dbSize = Gauge(label: "etcd_mvcc_db_total_size_in_bytes", factory: factory)
    }

    /// A member with no metrics backend records into nothing.
    public static let none = MemberMetrics(factory: NOOPMetricsHandler.instance)

    /// Brings the values read at scrape time up to date: what the member and the hub report.
    func refresh(status: MemberStatus, pending: Int, watch: WatchStats) {
        hasLeader.record(status.leader == nil ? 0 : 1)
        isLeader.record(status.role == .leader ? 1 : 0)
        term.record(Double(status.term.rawValue))
        proposalsCommitted.record(Double(status.commitIndex.rawValue))
        proposalsApplied.record(Double(status.appliedIndex.rawValue))
        proposalsPending.record(pending)
        dbSize.record(status.dbSize)
        watchers.record(watch.watchers)
        watchStreams.record(watch.streams)
        // The hub counts over its life; the counter takes the difference since the last scrape.
        let delta = delivered.withLock { last -> Int in
            defer { last = watch.eventsDelivered }
            return max(0, watch.eventsDelivered - last)
        }
        if delta > 0 { watchEvents.increment(by: delta) }
    }
}

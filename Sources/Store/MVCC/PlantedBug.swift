/// Bugs a member can be started with on purpose (`capstan store --inject-bug NAME`, hidden), so
/// that the robustness checkers are shown to catch them (issue 7). Never on by default.
public enum PlantedBug: String, CaseIterable, Sendable {
    /// Linearizable reads answered from the member's own state, without a ReadIndex round: a
    /// follower (or a deposed leader) serves stale data.
    case localReads = "local-reads"
    /// The WAL reports records durable before they are written: its writes reach the segment
    /// files about 300 ms later (`LateWritingFileSystem`), so a crash of every member loses
    /// writes already acknowledged.
    case ackBeforeFsync = "ack-before-fsync"
    /// The watch fan-out skips one delivery in 100 to one watcher.
    case dropWatchEvent = "drop-watch-event"
}

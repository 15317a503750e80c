import ArgumentParser
import Dispatch
import Raft
import Storage

#if canImport(Glibc)
import Glibc
#endif

/// Tools for testing and operating storage; not part of the etcd-compatible surface.
struct Debug: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Storage and measurement tools for tests and operators.",
        shouldDisplay: false,
        subcommands: [WALAppend.self, NullServer.self, WatchHubBench.self]
    )
}

/// Appends entries to a WAL until killed, printing "acked INDEX" once each is durable.
/// The crash test kills it with SIGKILL and checks that every printed index survived.
struct WALAppend: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wal-append")

    @Option(help: "The WAL directory.")
    var dir: String

    @Option(help: "Appends in flight at once.")
    var concurrency: Int = 8

    @Option(help: "Bytes of data per entry.")
    var entryBytes: Int = 256

    @Option(help: "Segment size in bytes (small values exercise rollover).")
    var segmentBytes: Int = StorageLimits.walSegmentBytesDefault

    func run() throws {
        guard concurrency > 0, entryBytes >= 0, segmentBytes >= 4096 else {
            throw ValidationError("concurrency must be positive, entry bytes not negative, segments at least 4096 bytes")
        }
        let (wal, contents) = try WAL.open(directory: dir, segmentBytes: segmentBytes)
        let state = AppendState(next: (contents.entries.last?.index ?? contents.snapshot?.index ?? 0) + 1)
        let size = entryBytes
        @Sendable func appendOne() {
            // Indexes go to the WAL in order, as a Raft member's log appends do.
            state.submitNext { index, done in
                let entry = Entry(term: 1, index: index, data: WALAppend.payload(index: index, bytes: size))
                wal.append([.entry(entry)], completion: done)
            } completion: { index, result in
                guard case .success = result else {
                    emit("failed \(index): \(result)")
                    Glibc.exit(1)
                }
                state.acknowledge(index) { emit("acked \($0)") }
                appendOne()
            }
        }
        for _ in 0..<concurrency { appendOne() }
        while true { sleep(60) }
    }

    /// The data an entry at `index` carries, so the test can verify it.
    static func payload(index: LogIndex, bytes: Int) -> [UInt8] {
        (0..<bytes).map { UInt8(truncatingIfNeeded: Int(index.rawValue) &+ $0) }
    }
}

/// Writes a line to standard output at once, unbuffered: a SIGKILL must not lose an
/// acknowledgement that was already reported.
func emit(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = Glibc.write(1, bytes.baseAddress, bytes.count) }
}

/// Hands out consecutive indexes and prints acknowledgements in index order: an entry counts as
/// acknowledged only when every entry before it is durable too (as Raft's log requires).
final class AppendState: @unchecked Sendable {
    private let lock = DispatchSemaphore(value: 1)
    private var next: LogIndex
    private var durable: Set<LogIndex> = []
    private var acknowledged: LogIndex

    init(next: LogIndex) {
        self.next = next
        acknowledged = next - 1
    }

    /// Takes the next index and submits it (under the lock, so submissions stay in order).
    func submitNext(
        _ submit: (LogIndex, @escaping WAL.Completion) -> Void,
        completion: @escaping @Sendable (LogIndex, Result<ArraySlice<RecordPosition>, WALError>) -> Void
    ) {
        lock.wait()
        defer { lock.signal() }
        let index = next
        next = next + 1
        submit(index) { completion(index, $0) }
    }

    func acknowledge(_ index: LogIndex, report: (LogIndex) -> Void) {
        lock.wait()
        defer { lock.signal() }
        durable.insert(index)
        while durable.remove(acknowledged + 1) != nil {
            acknowledged = acknowledged + 1
            report(acknowledged)
        }
    }
}

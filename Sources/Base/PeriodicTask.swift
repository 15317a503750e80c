/// Runs `body` every `interval` as a task on the cooperative pool until stopped: a periodic job
/// (auto-compaction, the consistency check, the fault file) without an OS thread of its own.
/// The first run comes one interval after the start; `stop` ends the wait at once and lets a
/// run under way finish. `body` must not block for long (it shares the pool's threads).
public final class PeriodicTask: Sendable {
    private let task: Task<Void, Never>

    public init(interval: Duration, body: @escaping @Sendable () async -> Void) {
        task = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                await body()
            }
        }
    }

    /// Stops the job (a run under way finishes; no other starts).
    public func stop() { task.cancel() }

    deinit { task.cancel() }
}

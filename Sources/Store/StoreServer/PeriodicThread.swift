import Base
import Foundation

/// A thread that runs `body` every `interval` until stopped (the wait ends at once on `stop`).
/// `body` may block (it runs on its own thread, not on the cooperative pool).
final class PeriodicThread: @unchecked Sendable {
    private let condition = Lock()
    private var stopping = false

    init(name: String, interval: Duration, body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while true {
                let quit = condition.withLock { () -> Bool in
                    if !stopping { condition.wait(for: interval) }
                    return stopping
                }
                if quit { return }
                body()
            }
        }
        thread.name = name
        thread.start()
    }

    func stop() {
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
    }

    /// Runs an async call to completion from this (non-cooperative) thread.
    static func wait(_ work: @escaping @Sendable () async -> Void) {
        let done = DispatchSemaphore(value: 0)
        Task {
            await work()
            done.signal()
        }
        done.wait()
    }
}

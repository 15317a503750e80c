#if canImport(Glibc)
public import Glibc
#elseif canImport(Darwin)
public import Darwin
#endif

/// The one lock of the house: a pthread mutex with its condition variable.
///
/// pthreads rather than `Synchronization.Mutex`: on Linux that one waits with raw futex calls
/// ThreadSanitizer cannot see, so every access it guards shows up as a race; with pthreads,
/// `swift test --sanitize=thread` checks the locking for real. State guarded by a lock and
/// nothing else is kept in a `Locked` value; a `Lock` of its own is for code that also waits on
/// the condition (a writer thread's queue, a published view) or guards several fields together.
public final class Lock: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        precondition(pthread_cond_init(condition, nil) == 0, "pthread_cond_init failed")
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deinitialize(count: 1)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` holding the lock. Inlinable, as are `lock`, `unlock` and `Locked.withLock`:
    /// called from other modules they specialize and inline there (a generic call without its
    /// body goes through a thunk on every critical section).
    @inlinable
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Takes the lock, for code whose critical section does not fit one closure (it ends early
    /// on several paths); prefer `withLock`.
    @inlinable
    public func lock() { pthread_mutex_lock(mutex) }

    /// Gives the lock back after `lock()`.
    @inlinable
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits for a signal; call only inside `withLock` (the lock is released while waiting).
    public func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits for a signal or until `microseconds` have passed; call only inside `withLock`.
    /// False when the time ran out.
    @discardableResult
    public func wait(microseconds: Int) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var deadline = now
        deadline.tv_nsec += microseconds * 1000
        deadline.tv_sec += deadline.tv_nsec / 1_000_000_000
        deadline.tv_nsec %= 1_000_000_000
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }

    /// Waits for a signal or until `duration` has passed; call only inside `withLock`.
    /// False when the time ran out.
    @discardableResult
    public func wait(for duration: Duration) -> Bool {
        let (seconds, attoseconds) = duration.components
        return wait(microseconds: max(0, Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000)))
    }

    /// Waits for a signal or until `deadline`; call only inside `withLock`. False when the
    /// deadline has passed.
    @discardableResult
    public func wait(until deadline: ContinuousClock.Instant) -> Bool {
        let left = deadline - .now
        return left > .zero && wait(for: left)
    }

    /// Wakes one waiter.
    public func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiter.
    public func broadcast() { pthread_cond_broadcast(condition) }
}

/// A value that threads share, guarded by a `Lock`: every read and write goes through
/// `withLock`, so a read-modify-write is one critical section.
public final class Locked<Value>: @unchecked Sendable {
    @usableFromInline let lock = Lock()
    @usableFromInline var value: Value

    public init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, holding the lock.
    @inlinable
    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try lock.withLock { () throws(E) -> R in try body(&value) }
    }

    /// A copy of the value.
    @inlinable public var current: Value { withLock { $0 } }
}

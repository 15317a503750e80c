/// The time a component keeps its deadlines and timers by. Injected (`MemberConfig.clock`), so
/// that a simulation can run the code on a clock it moves itself; measurements of how long
/// something took (metrics) read the system's clock directly.
public protocol MonotonicClock: Sendable {
    /// Now, on a clock that never goes back.
    var now: ContinuousClock.Instant { get }
}

extension MonotonicClock {
    /// Now as nanoseconds since a fixed point of this process (for code that keeps time in integers).
    public var nanoseconds: Int64 { (now - processStart).nanoseconds }
}

extension Duration {
    /// The duration in whole nanoseconds (Int64 holds about 292 years of them).
    @inlinable public var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}

/// The system's monotonic clock.
public struct SystemClock: MonotonicClock {
    public init() {}
    public var now: ContinuousClock.Instant { ContinuousClock.now }
}

/// A clock that moves only when told to (tests and simulations).
public final class ManualClock: MonotonicClock {
    private let current: Locked<ContinuousClock.Instant>

    public init(start: ContinuousClock.Instant = ContinuousClock.now) { current = Locked(start) }

    public var now: ContinuousClock.Instant { current.current }

    /// Moves the clock forward by `d`.
    public func advance(by d: Duration) { current.withLock { $0 += d } }
}

/// The fixed point `nanoseconds` counts from: set once, the first time a clock is read that way.
private let processStart = ContinuousClock.now

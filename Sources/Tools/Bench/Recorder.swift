import Base
import Foundation
public import Histogram
import Synchronization

/// Monotonic nanoseconds (CLOCK_MONOTONIC): request timing and the put→event lag stamp.
@inline(__always) public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Latencies in microseconds, an HDR histogram (1 µs to 10 min, three significant digits).
public typealias LatencyHistogram = Histogram<UInt64>

public func newLatencyHistogram() -> LatencyHistogram {
    LatencyHistogram(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
}

extension Histogram where Count == UInt64 {
    /// Records a duration in nanoseconds as microseconds, within the histogram's range.
    mutating func record(nanos: UInt64, count: UInt64 = 1) {
        _ = record(Swift.min(Swift.max(nanos / 1000, 1), 600_000_000), count: count)
    }

    /// Records the put→event lag of `count` deliveries of `e` read at `now` (a method, not a
    /// closure: a closure here was retained and released per watch response).
    mutating func recordLag(of e: WatchResponseView.Event, at now: UInt64, count: Int) {
        if let s = e.stamp, now > s { record(nanos: now - s, count: UInt64(count)) }
    }
}

/// What every client of a workload shares: the latency histogram, the count of operations and
/// errors (with the first few distinct messages), behind one lock (held for nanoseconds).
public final class Recorder: Sendable {
    struct State {
        var histogram = newLatencyHistogram()
        var ops = 0
        var errors = 0
        var messages: [String: Int] = [:]
    }

    private let state = Locked(State())

    public init() {}

    /// A completed operation that took `nanos`.
    public func record(nanos: UInt64) {
        state.withLock { s in
            s.ops += 1
            s.histogram.record(nanos: nanos)
        }
    }

    /// A failed operation.
    public func fail(_ error: any Error) {
        let message = "\(error)"
        state.withLock { s in
            s.errors += 1
            if s.messages.count < 10 || s.messages[message] != nil { s.messages[message, default: 0] += 1 }
        }
    }

    public var ops: Int { state.withLock { $0.ops } }
    public var errors: Int { state.withLock { $0.errors } }
    public var histogram: LatencyHistogram { state.withLock { $0.histogram } }
    public var errorMessages: [String: Int] { state.withLock { $0.messages } }
}

/// Hands out operation numbers 0..<total to the clients and, with a rate, holds each one until
/// its time (start + n / rate), so that the offered load is steady whatever the latency.
public final class Pacer: Sendable {
    public let total: Int
    public let rate: Double
    private let next = Atomic<Int>(0)
    private let start = Locked<UInt64?>(nil)

    public init(total: Int, rate: Double) {
        self.total = total
        self.rate = rate
    }

    /// The next operation's number, or nil when all are handed out.
    public func take() async -> Int? {
        let n = next.add(1, ordering: .relaxed).oldValue
        guard n < total else { return nil }
        if rate > 0 {
            let begin = start.withLock { s in
                if s == nil { s = monotonicNanos() }
                return s!
            }
            let due = begin + UInt64(Double(n) / rate * 1e9)
            let now = monotonicNanos()
            if due > now + 200_000 { try? await Task.sleep(nanoseconds: due - now) }
        }
        return n
    }

}

/// Keys as etcd's benchmark makes them: `--key-size` bytes holding the key's number (sequential
/// over `--key-space-size`, or random in it), zero-padded.
public struct KeyMaker: Sendable {
    public let size: Int
    public let space: Int
    public let sequential: Bool
    public let prefix: [UInt8]

    public init(size: Int, space: Int, sequential: Bool, prefix: [UInt8] = []) {
        self.size = size
        self.space = max(space, 1)
        self.sequential = sequential
        self.prefix = prefix
    }

    /// The key of operation `n`.
    public func key(_ n: Int) -> [UInt8] {
        key(number: sequential ? n % space : Int.random(in: 0..<space))
    }

    /// The key numbered `number`: the prefix, then the number in decimal, left-padded with
    /// zeros (or cut) to `size` bytes, so that keys sort in number order.
    public func key(number: Int) -> [UInt8] {
        var digits = Array(String(number).utf8)
        if digits.count < size { digits = [UInt8](repeating: UInt8(ascii: "0"), count: size - digits.count) + digits }
        if digits.count > size { digits = Array(digits.suffix(size)) }
        return prefix + digits
    }
}

/// An atomic counter that closures can share.
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    public init() {}

    public func add(_ n: Int = 1) { value.add(n, ordering: .relaxed) }
    public var count: Int { value.load(ordering: .relaxed) }
}

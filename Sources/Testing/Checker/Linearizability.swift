/// A linearizability checker for recorded histories (issue 7): the Wing–Gong search with Lowe's
/// memoization, as Porcupine does it, with histories split into independent parts where the
/// model allows (P-compositionality: for a key-value store, one part per key).
///
/// A history is a set of operations, each with its call and return times as the client saw
/// them. The history is linearizable when every operation can be placed at one instant between
/// its call and its return so that the model, run in that order, gives every operation the
/// output that was recorded. An operation whose outcome is unknown (a write that timed out) is
/// given a return time of `.max` and an output the model accepts either way; it may then take
/// effect at any later point, or — placed after everything else — not at all.

/// What the checker needs of a system's model: its initial state and a step function that says
/// whether an operation with this input could have produced this output, and the next state.
public protocol LinearizabilityModel {
    associatedtype State: Hashable
    associatedtype Input
    associatedtype Output

    static var initial: State { get }
    static func step(_ state: State, _ input: Input, _ output: Output) -> (ok: Bool, next: State)
    /// Splits a history into parts that can be checked independently (default: one part).
    static func partition(_ operations: [Operation<Input, Output>]) -> [[Operation<Input, Output>]]
    /// For each operation, the operations whose effect its output shows (a read that returned
    /// what a write wrote). The minimizer keeps them, so that a reported history still explains
    /// every value it shows (default: nothing depends on anything).
    static func sources(in operations: [Operation<Input, Output>]) -> [[Int]]
}

extension LinearizabilityModel {
    public static func partition(_ operations: [Operation<Input, Output>]) -> [[Operation<Input, Output>]] { [operations] }
    public static func sources(in operations: [Operation<Input, Output>]) -> [[Int]] { operations.map { _ in [] } }
}

/// One recorded operation. Times are any monotonic clock's (the recorder's), `call < ret`.
public struct Operation<Input, Output> {
    public var client: Int
    public var input: Input
    public var call: UInt64
    public var output: Output
    public var ret: UInt64

    public init(client: Int, input: Input, call: UInt64, output: Output, ret: UInt64) {
        self.client = client
        self.input = input
        self.call = call
        self.output = output
        self.ret = ret
    }
}

extension Operation: Sendable where Input: Sendable, Output: Sendable {}

public enum CheckResult<Input, Output> {
    case linearizable
    /// Not linearizable: a smallest failing part of the history (no operation can be removed
    /// from it without it becoming linearizable), and the part it came from.
    case violation(minimal: [Operation<Input, Output>], part: [Operation<Input, Output>])
    /// The search gave up (its step budget ran out) on this part.
    case unknown(part: [Operation<Input, Output>])

    public var isLinearizable: Bool {
        if case .linearizable = self { return true }
        return false
    }
}

public enum Linearizability {
    /// Checks a history against a model; `budget` bounds the search steps per part.
    public static func check<M: LinearizabilityModel>(
        _ model: M.Type, _ history: [Operation<M.Input, M.Output>],
        budget: Int = 5_000_000
    ) -> CheckResult<M.Input, M.Output> {
        for part in M.partition(history) {
            switch search(model, part, budget: budget) {
            case .some(true): continue
            case .none: return .unknown(part: part)
            case .some(false): return .violation(minimal: minimize(model, part, budget: budget), part: part)
            }
        }
        return .linearizable
    }

    /// Removes operations while the rest stays non-linearizable — in chunks, halved down to one
    /// at a time, pass after pass until one removes nothing (a 1-minimal failing sub-history:
    /// what a person reads to see the bug) or `timeLimit` runs out. An operation goes together
    /// with every operation that observed its effect (and theirs, and so on), so that every
    /// value the remaining ones show is still explained.
    static func minimize<M: LinearizabilityModel>(
        _ model: M.Type, _ part: [Operation<M.Input, M.Output>], budget: Int,
        timeLimit: Duration = .seconds(60)
    ) -> [Operation<M.Input, M.Output>] {
        let deadline = ContinuousClock.now + timeLimit
        var ops = part
        var removedAny = true
        while removedAny && ContinuousClock.now < deadline {
            removedAny = false
            var dependents = [[Int]](repeating: [], count: ops.count)
            for (j, sources) in M.sources(in: ops).enumerated() {
                for i in sources where i != j { dependents[i].append(j) }
            }
            var gone = Set<Int>()
            /// The operations `seeds` and everything that depends on them, not yet gone.
            func unit(_ seeds: some Sequence<Int>) -> Set<Int> {
                var found = Set<Int>()
                var stack = seeds.filter { !gone.contains($0) }
                while let i = stack.popLast() {
                    guard found.insert(i).inserted else { continue }
                    stack += dependents[i].filter { !gone.contains($0) && !found.contains($0) }
                }
                return found
            }
            var chunk = max(ops.count / 2, 1)
            while ContinuousClock.now < deadline {
                var start = 0
                while start < ops.count && ContinuousClock.now < deadline {
                    let candidates = unit(start..<min(start + chunk, ops.count))
                    start += chunk
                    guard !candidates.isEmpty, candidates.count + gone.count < ops.count else { continue }
                    let trial = ops.indices.filter { !gone.contains($0) && !candidates.contains($0) }.map { ops[$0] }
                    if search(model, trial, budget: budget) == false {
                        gone.formUnion(candidates)
                        removedAny = true
                    }
                }
                if chunk == 1 { break }
                chunk /= 2
            }
            ops = ops.indices.filter { !gone.contains($0) }.map { ops[$0] }
        }
        return ops
    }

    /// The search: true (linearizable), false (not), nil (budget exhausted).
    static func search<M: LinearizabilityModel>(_ model: M.Type, _ ops: [Operation<M.Input, M.Output>], budget: Int) -> Bool? {
        let n = ops.count
        if n == 0 { return true }
        // Events in time order; at equal times calls come before returns (overlap is allowed).
        var events: [HistoryEvent] = []
        events.reserveCapacity(2 * n)
        for (i, op) in ops.enumerated() {
            events.append(HistoryEvent(op: i, isCall: true, time: op.call))
            events.append(HistoryEvent(op: i, isCall: false, time: op.ret))
        }
        events.sort { ($0.time, $0.isCall ? 0 : 1, $0.op) < ($1.time, $1.isCall ? 0 : 1, $1.op) }
        // A doubly linked list over the events, with each call knowing its return.
        let count = events.count
        var next = Array(1...count)
        var prev = Array(-1..<(count - 1))
        var returnOf = [Int](repeating: -1, count: n)
        for (position, e) in events.enumerated() where !e.isCall { returnOf[e.op] = position }
        var head = 0  // first event still in the list (count: empty)
        func unlink(_ p: Int) {
            if prev[p] >= 0 { next[prev[p]] = next[p] } else { head = next[p] }
            if next[p] < count { prev[next[p]] = prev[p] }
        }
        func relink(_ p: Int) {
            if prev[p] >= 0 { next[prev[p]] = p } else { head = p }
            if next[p] < count { prev[next[p]] = p }
        }
        var linearized = Bitset(count: n)
        var cache = Set<CacheKey<M.State>>()
        var state = M.initial
        var stack: [(call: Int, state: M.State)] = []
        var entry = head
        var steps = 0
        while head < count {
            steps += 1
            if steps > budget { return nil }
            let e = events[entry]
            if e.isCall {
                let op = ops[e.op]
                let (ok, after) = M.step(state, op.input, op.output)
                if ok {
                    var bits = linearized
                    bits.set(e.op)
                    if cache.insert(CacheKey(bits: bits, state: after)).inserted {
                        stack.append((entry, state))
                        state = after
                        linearized = bits
                        unlink(entry)
                        unlink(returnOf[e.op])
                        entry = head
                        continue
                    }
                }
                entry = next[entry]
            } else {
                // A return reached: the operations called before it could not all be placed.
                guard let (call, before) = stack.popLast() else { return false }
                let op = events[call].op
                state = before
                linearized.clear(op)
                relink(returnOf[op])
                relink(call)
                entry = next[call]
            }
        }
        return true
    }
}

/// A call or a return, in the search's time-ordered list.
struct HistoryEvent {
    var op: Int
    var isCall: Bool
    var time: UInt64
}

struct Bitset: Hashable {
    var words: [UInt64]
    init(count: Int) { words = [UInt64](repeating: 0, count: (count + 63) / 64) }
    mutating func set(_ i: Int) { words[i >> 6] |= 1 << UInt64(i & 63) }
    mutating func clear(_ i: Int) { words[i >> 6] &= ~(1 << UInt64(i & 63)) }
}

struct CacheKey<State: Hashable>: Hashable {
    var bits: Bitset
    var state: State
}

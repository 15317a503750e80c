/// The etcd key-value API as a linearizability model, one key at a time: reads, puts, deletes
/// and compare-and-set (a txn comparing the value, then putting: the Kubernetes update shape
/// compares mod_revision, which a model of values covers when every write writes a unique
/// value). Operations on different keys are independent, so a history is checked per key.
public enum KVModel: LinearizabilityModel {
    public enum Input: Equatable, Sendable {
        case get(key: String)
        case put(key: String, value: String)
        case delete(key: String)
        /// Put `new` if the value is `expected` (nil: the key is absent).
        case cas(key: String, expected: String?, new: String)

        public var key: String {
            switch self {
            case .get(let k), .put(let k, _), .delete(let k), .cas(let k, _, _): k
            }
        }
    }

    public enum Output: Equatable, Sendable {
        /// A read's answer (nil: no such key).
        case value(String?)
        /// A write acknowledged.
        case ok
        /// A compare-and-set's answer: whether it wrote.
        case cas(Bool)
        /// No answer (timed out, connection lost): the write may or may not have happened.
        case unknown
    }

    /// The key's value (nil: absent).
    public typealias State = String?

    public static var initial: String? { nil }

    public static func step(_ state: String?, _ input: Input, _ output: Output) -> (ok: Bool, next: String?) {
        switch input {
        case .get:
            if case .value(let v) = output { return (v == state, state) }
            return (output == .unknown, state)
        case .put(_, let value):
            return (output == .ok || output == .unknown, value)
        case .delete:
            return (output == .ok || output == .unknown, nil)
        case .cas(_, let expected, let new):
            let matches = state == expected
            switch output {
            case .cas(let wrote): return (wrote == matches, matches ? new : state)
            case .unknown: return (true, matches ? new : state)
            default: return (false, state)
            }
        }
    }

    /// A read (or a compare-and-set's compare) that saw the value a write wrote — or saw the key
    /// absent, which every delete may explain (so the minimizer never drops the deletes that make
    /// a remaining "absent" possible, and reports a failure for a reason that is really there).
    public static func observes(_ observer: Operation<Input, Output>, _ source: Operation<Input, Output>) -> Bool {
        let written: String?
        switch source.input {
        case .put(_, let v): written = v
        case .cas(_, _, let v) where source.output != .cas(false): written = v
        case .delete: written = nil
        default: return false
        }
        switch (observer.input, observer.output) {
        case (.get, .value(let seen)): return seen == written
        case (.cas(_, let expected, _), .cas(true)): return expected == written
        default: return false
        }
    }

    public static func partition(_ operations: [Operation<Input, Output>]) -> [[Operation<Input, Output>]] {
        var byKey: [String: [Operation<Input, Output>]] = [:]
        var order: [String] = []
        for op in operations {
            if byKey[op.input.key] == nil { order.append(op.input.key) }
            byKey[op.input.key, default: []].append(op)
        }
        return order.map { byKey[$0]! }
    }
}

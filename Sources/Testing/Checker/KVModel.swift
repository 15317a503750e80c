/// The etcd key-value API as a linearizability model (issue 7): gets, ranges over several keys,
/// puts (with or without a lease), deletes, compare-and-set, txns (compares on values and on
/// existence, then a branch of gets, puts and deletes, all at once), and leases (grant with a
/// chosen ID, revoke — which deletes every key attached). The Kubernetes update shape compares
/// mod_revision, which a model of values covers when every write writes a unique value.
///
/// A history is split into parts that share no key and no lease (`partition`): an operation
/// joins every key and lease it names, so a txn over two keys, or puts attached to one lease,
/// put those keys into one part.
public enum KVModel: LinearizabilityModel {
    public indirect enum Input: Hashable, Sendable {
        case get(key: String)
        /// A range over these keys (the output lists their values in this order).
        case range(keys: [String])
        case put(key: String, value: String, lease: Int64 = 0)
        case delete(key: String)
        /// Put `new` if the value is `expected` (nil: the key is absent).
        case cas(key: String, expected: String?, new: String)
        /// If every compare holds, `success` (gets, puts and deletes, in order), else `failure`.
        case txn(compares: [Compare], success: [Input], failure: [Input])
        /// LeaseGrant with a chosen ID (long enough a TTL that it does not expire in the run).
        case leaseGrant(id: Int64)
        case leaseRevoke(id: Int64)

        /// The keys it reads or writes (a revoke's keys are whichever are attached to its lease).
        public var keys: [String] {
            switch self {
            case .get(let k), .put(let k, _, _), .delete(let k), .cas(let k, _, _): [k]
            case .range(let ks): ks
            case .txn(let compares, let success, let failure): compares.map(\.key) + (success + failure).flatMap(\.keys)
            case .leaseGrant, .leaseRevoke: []
            }
        }

        /// The leases it names.
        public var leases: [Int64] {
            switch self {
            case .put(_, _, let lease) where lease != 0: [lease]
            case .leaseGrant(let id), .leaseRevoke(let id): [id]
            case .txn(_, let success, let failure): (success + failure).flatMap(\.leases)
            default: []
            }
        }

        public var isWrite: Bool {
            switch self {
            case .get, .range: false
            case .txn(_, let success, let failure): (success + failure).contains(where: \.isWrite)
            default: true
            }
        }
    }

    public enum Compare: Hashable, Sendable {
        /// The key's value equals (`equal`) or differs from `value`. Like etcd's, a compare of
        /// the value of an absent key fails either way.
        case value(key: String, value: String, equal: Bool)
        /// version > 0 (`exists`) or version == 0.
        case exists(key: String, Bool)

        public var key: String {
            switch self {
            case .value(let k, _, _), .exists(let k, _): k
            }
        }

        /// The compare of a compare-and-set: the value is `expected` (nil: the key is absent).
        public static func valueIs(_ key: String, _ expected: String?) -> Compare {
            expected.map { .value(key: key, value: $0, equal: true) } ?? .exists(key: key, false)
        }

        func holds(in state: State) -> Bool {
            switch self {
            case .value(let key, let value, let equal):
                guard let current = state.keys[key] else { return false }
                return (current.value == value) == equal
            case .exists(let key, let exists):
                return (state.keys[key] != nil) == exists
            }
        }
    }

    public enum Output: Hashable, Sendable {
        /// A get's answer (nil: no such key).
        case value(String?)
        /// A range's answer, one per key asked.
        case values([String?])
        /// A put or a lease call acknowledged.
        case ok
        /// A delete's answer: how many keys it deleted.
        case deleted(Int)
        /// A compare-and-set's answer: whether it wrote.
        case cas(Bool)
        /// A txn's answer: the branch taken and each of its operations' output.
        case txn(succeeded: Bool, results: [Output])
        /// etcd's "requested lease not found" (a put or txn naming a lease that is not there, or
        /// a revoke of one); nothing changed.
        case leaseNotFound
        /// etcd's "lease already exists" (a grant of an ID in use).
        case leaseExists
        /// No answer (timed out, connection lost): the write may or may not have happened.
        case unknown
    }

    public struct Entry: Hashable, Sendable {
        public var value: String
        public var lease: Int64
    }

    /// The keys present, and the leases granted and not revoked.
    public struct State: Hashable, Sendable {
        public var keys: [String: Entry] = [:]
        public var leases: Set<Int64> = []
    }

    public static var initial: State { State() }

    public static func step(_ state: State, _ input: Input, _ output: Output) -> (ok: Bool, next: State) {
        let (expected, next) = execute(state, input)
        return (output == .unknown || output == expected, next)
    }

    /// What the store answers to `input` in `state`, and the state after.
    public static func execute(_ state: State, _ input: Input) -> (Output, State) {
        var s = state
        switch input {
        case .get(let key):
            return (.value(s.keys[key]?.value), s)
        case .range(let keys):
            return (.values(keys.map { s.keys[$0]?.value }), s)
        case .put(let key, let value, let lease):
            if lease != 0 && !s.leases.contains(lease) { return (.leaseNotFound, state) }
            s.keys[key] = Entry(value: value, lease: lease)
            return (.ok, s)
        case .delete(let key):
            return (.deleted(s.keys.removeValue(forKey: key) == nil ? 0 : 1), s)
        case .cas(let key, let expected, let new):
            guard Compare.valueIs(key, expected).holds(in: s) else { return (.cas(false), s) }
            s.keys[key] = Entry(value: new, lease: 0)
            return (.cas(true), s)
        case .txn(let compares, let success, let failure):
            let succeeded = compares.allSatisfy { $0.holds(in: s) }
            var results: [Output] = []
            for op in succeeded ? success : failure {
                let (out, after) = execute(s, op)
                // A txn naming a missing lease fails whole.
                if out == .leaseNotFound { return (.leaseNotFound, state) }
                results.append(out)
                s = after
            }
            return (.txn(succeeded: succeeded, results: results), s)
        case .leaseGrant(let id):
            guard s.leases.insert(id).inserted else { return (.leaseExists, state) }
            return (.ok, s)
        case .leaseRevoke(let id):
            guard s.leases.remove(id) != nil else { return (.leaseNotFound, state) }
            s.keys = s.keys.filter { $0.value.lease != id }
            return (.ok, s)
        }
    }

    /// What an answer showed of one key.
    enum Observation: Equatable {
        case value(String, String)
        case absent(String)
        /// Present, with a value the answer does not show.
        case present(String)
        /// Not the value expected: written (or deleted) by somebody since.
        case changed(String)
    }

    /// For each operation, the operations whose effect its answer shows: the write of a value it saw
    /// (values are unique), a grant of a lease a put was accepted with, a revoke of a lease
    /// reported not found; for a key seen absent (or present without its value), the deletes
    /// and revokes (or the writes) that may explain it — called before it returned, and not
    /// certainly overwritten before it was called. The minimizer keeps them, so that a reported
    /// history explains what it shows, for the reason that is really there.
    public static func sources(in operations: [Operation<Input, Output>]) -> [[Int]] {
        // What each operation may have written, worked out once for every observer.
        let written = operations.map { writes($0.input, $0.output) }
        return operations.indices.map { sources(of: $0, in: operations, written: written) }
    }

    static func sources(of observer: Int, in operations: [Operation<Input, Output>], written: [[(key: String, value: String?)]]) -> [Int] {
        let o = operations[observer]
        var found: [Int] = []
        for seen in observed(o.input, o.output) {
            switch seen {
            case .value(let key, let value):
                found += operations.indices.filter { i in
                    i != observer && written[i].contains { $0.key == key && $0.value == value }
                }
            case .absent(let key), .present(let key), .changed(let key):
                // Writes of a value explain "present", deletes and revokes "absent", any "changed".
                let explains: (String?) -> Bool =
                    switch seen {
                    case .absent: { $0 == nil }
                    case .present: { $0 != nil }
                    default: { _ in true }
                    }
                // The latest call of a write of the key certainly over before the observer began.
                let overwritten =
                    operations.indices.lazy.filter { i in
                        let w = operations[i]
                        return w.output != .unknown && w.ret < o.call && written[i].contains { $0.key == key }
                    }.map { operations[$0].call }.max() ?? 0
                found += operations.indices.filter { i in
                    let s = operations[i]
                    guard i != observer, s.call < o.ret, s.ret >= overwritten else { return false }
                    if explains(nil), case .leaseRevoke = s.input { return s.output != .leaseNotFound }
                    return written[i].contains { $0.key == key && explains($0.value) }
                }
            }
        }
        for lease in o.input.leases {
            found += operations.indices.filter { i in
                switch (operations[i].input, o.output) {
                case (.leaseGrant(lease), let out): return out != .leaseNotFound && out != .unknown && i != observer
                case (.leaseRevoke(lease), .leaseNotFound): return i != observer
                default: return false
                }
            }
        }
        return found
    }

    /// What an answer showed of the keys.
    static func observed(_ input: Input, _ output: Output) -> [Observation] {
        func seen(_ key: String, _ value: String?) -> Observation { value.map { .value(key, $0) } ?? .absent(key) }
        switch (input, output) {
        case (.get(let key), .value(let v)): return [seen(key, v)]
        case (.range(let keys), .values(let vs)): return zip(keys, vs).map(seen)
        case (.cas(let key, let expected, _), .cas(true)): return [seen(key, expected)]
        case (.cas(let key, let expected, _), .cas(false)): return [expected == nil ? .present(key) : .changed(key)]
        case (.delete(let key), .deleted(let n)): return [n == 0 ? .absent(key) : .present(key)]
        // With no answer, what would make its compares hold (kept, so that a remaining write with
        // no answer could still have taken effect as it might have).
        case (.cas(let key, let expected, _), .unknown): return [seen(key, expected)]
        case (.txn(let compares, _, _), .unknown):
            return compares.compactMap { c in
                switch c {
                case .value(let key, let value, true): .value(key, value)
                case .exists(let key, false): .absent(key)
                default: nil
                }
            }
        case (.txn(let compares, let success, let failure), .txn(let succeeded, let results)):
            var all: [Observation] = []
            for c in compares {
                switch (c, succeeded) {
                case (.value(let key, let value, true), true): all.append(.value(key, value))
                case (.value(let key, _, _), true), (.exists(let key, true), true), (.exists(let key, false), false):
                    all.append(.present(key))
                case (.value(let key, _, _), false), (.exists(let key, true), false): all.append(.changed(key))
                case (.exists(let key, false), true): all.append(.absent(key))
                }
            }
            for (op, out) in zip(succeeded ? success : failure, results) { all += observed(op, out) }
            return all
        default: return []
        }
    }

    /// The (key, value) pairs a write may have written (nil: deleted); an unknown outcome may
    /// have taken either branch of a txn.
    static func writes(_ input: Input, _ output: Output) -> [(key: String, value: String?)] {
        switch input {
        case .put(let key, let value, _): return output == .leaseNotFound ? [] : [(key, value)]
        case .delete(let key): return output == .deleted(0) ? [] : [(key, nil)]
        case .cas(let key, _, let new): return output == .cas(false) ? [] : [(key, new)]
        case .txn(_, let success, let failure):
            let branches: [[Input]] =
                switch output {
                case .txn(true, _): [success]
                case .txn(false, _): [failure]
                case .unknown: [success, failure]
                default: []
                }
            return branches.joined().flatMap { writes($0, output == .unknown ? .unknown : .ok) }
        default: return []
        }
    }

    /// Parts that share no key and no lease (union–find over both).
    public static func partition(_ operations: [Operation<Input, Output>]) -> [[Operation<Input, Output>]] {
        var parent: [String: String] = [:]
        func find(_ x: String) -> String {
            var root = x
            while let p = parent[root], p != root { root = p }
            var node = x
            while let p = parent[node], p != root {
                parent[node] = root
                node = p
            }
            return root
        }
        func names(_ input: Input) -> [String] { input.keys.map { "k:" + $0 } + input.leases.map { "l:\($0)" } }
        for op in operations {
            let ns = names(op.input)
            for n in ns where parent[n] == nil { parent[n] = n }
            guard let first = ns.first else { continue }
            let root = find(first)
            for n in ns.dropFirst() {
                let r = find(n)
                if r != root { parent[r] = root }
            }
        }
        var byRoot: [String: [Operation<Input, Output>]] = [:]
        var order: [String] = []
        for op in operations {
            let root = names(op.input).first.map(find) ?? ""
            if byRoot[root] == nil { order.append(root) }
            byRoot[root, default: []].append(op)
        }
        return order.map { byRoot[$0]! }
    }
}

extension KVModel.Input: CustomStringConvertible {
    public var description: String {
        switch self {
        case .get(let key): "get \(key)"
        case .range(let keys): "range \(keys.joined(separator: " "))"
        case .put(let key, let value, let lease): "put \(key)=\(value)" + (lease == 0 ? "" : " lease \(lease)")
        case .delete(let key): "delete \(key)"
        case .cas(let key, let expected, let new): "if \(key) == \(expected ?? "absent") then put \(key)=\(new)"
        case .txn(let compares, let success, let failure):
            "txn if \(compares.map(\.description).joined(separator: " and ")) then \(success.map(\.description).joined(separator: ", "))"
                + (failure.isEmpty ? "" : " else \(failure.map(\.description).joined(separator: ", "))")
        case .leaseGrant(let id): "grant lease \(id)"
        case .leaseRevoke(let id): "revoke lease \(id)"
        }
    }
}

extension KVModel.Compare: CustomStringConvertible {
    public var description: String {
        switch self {
        case .value(let key, let value, let equal): "\(key) \(equal ? "==" : "!=") \(value)"
        case .exists(let key, let exists): "\(key) \(exists ? "exists" : "absent")"
        }
    }
}

extension KVModel.Output: CustomStringConvertible {
    public var description: String {
        switch self {
        case .value(let v): v ?? "absent"
        case .values(let vs): vs.map { $0 ?? "absent" }.joined(separator: " ")
        case .ok: "ok"
        case .deleted(let n): "deleted \(n)"
        case .cas(let wrote): wrote ? "succeeded" : "failed"
        case .txn(let succeeded, let results):
            (succeeded ? "succeeded" : "failed") + (results.isEmpty ? "" : ": " + results.map(\.description).joined(separator: ", "))
        case .leaseNotFound: "lease not found"
        case .leaseExists: "lease already exists"
        case .unknown: "no answer"
        }
    }
}

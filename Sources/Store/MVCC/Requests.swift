/// The requests the state machine applies and the answers it gives, shaped like etcd's
/// `etcdserverpb` messages (the API layer maps the wire types onto these one to one).

public enum SortOrder: Int, Sendable {
    case none = 0
    case ascend = 1
    case descend = 2
}
public enum SortTarget: Int, Sendable {
    case key = 0
    case version = 1
    case create = 2
    case mod = 3
    case value = 4
}

public struct RangeRequest: Equatable, Sendable {
    public var key: [UInt8]
    /// Empty: the single key. `[0]`: every key >= key. Otherwise [key, rangeEnd).
    public var rangeEnd: [UInt8]
    public var limit: Int64
    /// <= 0: the current revision.
    public var revision: Int64
    public var sortOrder: SortOrder
    public var sortTarget: SortTarget
    public var keysOnly: Bool
    public var countOnly: Bool
    public var minModRevision: Int64
    public var maxModRevision: Int64
    public var minCreateRevision: Int64
    public var maxCreateRevision: Int64
    public init(
        key: [UInt8], rangeEnd: [UInt8] = [], limit: Int64 = 0, revision: Int64 = 0,
        sortOrder: SortOrder = .none, sortTarget: SortTarget = .key, keysOnly: Bool = false,
        countOnly: Bool = false, minModRevision: Int64 = 0, maxModRevision: Int64 = 0,
        minCreateRevision: Int64 = 0, maxCreateRevision: Int64 = 0
    ) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.limit = limit
        self.revision = revision
        self.sortOrder = sortOrder
        self.sortTarget = sortTarget
        self.keysOnly = keysOnly
        self.countOnly = countOnly
        self.minModRevision = minModRevision
        self.maxModRevision = maxModRevision
        self.minCreateRevision = minCreateRevision
        self.maxCreateRevision = maxCreateRevision
    }
}

public struct RangeResponse: Equatable, Sendable {
    /// The header revision: the store's revision when the range was served.
    public var revision: Int64
    public var kvs: [KeyValue]
    public var more: Bool
    public var count: Int64
    public init(revision: Int64, kvs: [KeyValue], more: Bool, count: Int64) {
        self.revision = revision
        self.kvs = kvs
        self.more = more
        self.count = count
    }
}

public struct PutRequest: Equatable, Sendable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var lease: Int64
    public var prevKV: Bool
    public var ignoreValue: Bool
    public var ignoreLease: Bool
    public init(
        key: [UInt8], value: [UInt8] = [], lease: Int64 = 0, prevKV: Bool = false,
        ignoreValue: Bool = false, ignoreLease: Bool = false
    ) {
        self.key = key
        self.value = value
        self.lease = lease
        self.prevKV = prevKV
        self.ignoreValue = ignoreValue
        self.ignoreLease = ignoreLease
    }
}

public struct PutResponse: Equatable, Sendable {
    public var revision: Int64
    public var prevKV: KeyValue?
}

public struct DeleteRangeRequest: Equatable, Sendable {
    public var key: [UInt8]
    public var rangeEnd: [UInt8]
    public var prevKV: Bool
    public init(key: [UInt8], rangeEnd: [UInt8] = [], prevKV: Bool = false) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.prevKV = prevKV
    }
}

public struct DeleteRangeResponse: Equatable, Sendable {
    public var revision: Int64
    public var deleted: Int64
    public var prevKVs: [KeyValue]
}

public enum CompareResult: Int, Sendable {
    case equal = 0
    case greater = 1
    case less = 2
    case notEqual = 3
}

/// What a compare looks at, with the operand (etcd's `target` plus its `target_union`).
public enum CompareOperand: Equatable, Sendable {
    case version(Int64)
    case createRevision(Int64)
    case modRevision(Int64)
    case value([UInt8])
    case lease(Int64)
}

public struct Compare: Equatable, Sendable {
    public var result: CompareResult
    public var operand: CompareOperand
    public var key: [UInt8]
    public var rangeEnd: [UInt8]
    public init(key: [UInt8], rangeEnd: [UInt8] = [], _ operand: CompareOperand, _ result: CompareResult) {
        self.key = key
        self.rangeEnd = rangeEnd
        self.operand = operand
        self.result = result
    }
}

public indirect enum RequestOp: Equatable, Sendable {
    case range(RangeRequest)
    case put(PutRequest)
    case deleteRange(DeleteRangeRequest)
    case txn(TxnRequest)
}

public indirect enum ResponseOp: Equatable, Sendable {
    case range(RangeResponse)
    case put(PutResponse)
    case deleteRange(DeleteRangeResponse)
    case txn(TxnResponse)
}

public struct TxnRequest: Equatable, Sendable {
    public var compare: [Compare]
    public var success: [RequestOp]
    public var failure: [RequestOp]
    public init(compare: [Compare] = [], success: [RequestOp] = [], failure: [RequestOp] = []) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }
}

public struct TxnResponse: Equatable, Sendable {
    public var revision: Int64
    public var succeeded: Bool
    public var responses: [ResponseOp]
}

public struct CompactResponse: Equatable, Sendable {
    public var revision: Int64
}

public struct HashKVResponse: Equatable, Sendable {
    /// The store's revision when the hash was taken.
    public var revision: Int64
    public var hash: UInt32
    public var compactRevision: Int64
    /// The revision the hash covers.
    public var hashRevision: Int64
}

public enum AlarmType: Int, Sendable, Comparable {
    case none = 0
    case noSpace = 1
    case corrupt = 2
    public static func < (a: AlarmType, b: AlarmType) -> Bool { a.rawValue < b.rawValue }
}

public struct AlarmMember: Hashable, Sendable, Comparable {
    public var memberID: UInt64
    public var alarm: AlarmType
    public init(memberID: UInt64, alarm: AlarmType) {
        self.memberID = memberID
        self.alarm = alarm
    }
    public static func < (a: AlarmMember, b: AlarmMember) -> Bool {
        a.memberID != b.memberID ? a.memberID < b.memberID : a.alarm < b.alarm
    }
}

/// The state machine's errors, each with etcd's gRPC status code and exact message.
public enum MVCCError: Error, Equatable, Sendable, CustomStringConvertible {
    case compacted
    case futureRevision
    case keyNotFound
    case emptyKey
    case valueProvided
    case leaseProvided
    case tooManyOps
    case duplicateKey
    case invalidSortOption
    case noSpace
    case leaseNotFound
    case leaseExists
    case leaseTTLTooLarge
    case requestTooLarge

    /// gRPC status codes, by number.
    public enum Code: Int, Sendable {
        case invalidArgument = 3, notFound = 5, resourceExhausted = 8, failedPrecondition = 9, outOfRange = 11
    }

    public var code: Code {
        switch self {
        case .compacted, .futureRevision, .leaseTTLTooLarge: .outOfRange
        case .keyNotFound, .emptyKey, .valueProvided, .leaseProvided, .tooManyOps, .duplicateKey,
            .invalidSortOption, .requestTooLarge:
            .invalidArgument
        case .noSpace: .resourceExhausted
        case .leaseNotFound: .notFound
        case .leaseExists: .failedPrecondition
        }
    }

    public var description: String {
        switch self {
        case .compacted: "etcdserver: mvcc: required revision has been compacted"
        case .futureRevision: "etcdserver: mvcc: required revision is a future revision"
        case .keyNotFound: "etcdserver: key not found"
        case .emptyKey: "etcdserver: key is not provided"
        case .valueProvided: "etcdserver: value is provided"
        case .leaseProvided: "etcdserver: lease is provided"
        case .tooManyOps: "etcdserver: too many operations in txn request"
        case .duplicateKey: "etcdserver: duplicate key given in txn request"
        case .invalidSortOption: "etcdserver: invalid sort option"
        case .noSpace: "etcdserver: mvcc: database space exceeded"
        case .leaseNotFound: "etcdserver: requested lease not found"
        case .leaseExists: "etcdserver: lease already exists"
        case .leaseTTLTooLarge: "etcdserver: too large lease TTL"
        case .requestTooLarge: "etcdserver: request is too large"
        }
    }
}

/// Named limits of the state machine. The server exposes each as a flag.
public struct MVCCLimits: Sendable {
    /// etcd's `--max-txn-ops`.
    public var maxTxnOps: Int = 128
    /// How deeply transactions may nest; deeper fails like too many operations.
    public var maxTxnDepth: Int = 64
    /// etcd's `--quota-backend-bytes`: the accounted size above which writes fail with NOSPACE.
    public var quotaBytes: Int64 = 2 << 30
    /// The smallest lease TTL in seconds; shorter grants are raised to it (etcd: 1.5 election
    /// timeouts, rounded up).
    public var minLeaseTTL: Int64 = 2
    /// etcd's MaxLeaseTTL: 9,000,000,000 seconds.
    public var maxLeaseTTL: Int64 = 9_000_000_000
    /// Bytes charged per stored version on top of its key and value (the bookkeeping a
    /// version costs: header, revision, index slot).
    public static let versionOverheadBytes: Int64 = 64
    public init() {}
}

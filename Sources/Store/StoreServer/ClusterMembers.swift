import Base
public import Raft

/// One member of the cluster as etcd's Cluster API shows it. `name` and `clientURLs` are empty
/// until the member has started and published them through the log (etcd shows such a member
/// as "unstarted").
public struct ClusterMember: Equatable, Sendable {
    public var id: NodeID
    public var name: String
    public var peerURLs: [String]
    public var clientURLs: [String]
    public var isLearner: Bool

    public init(id: NodeID, name: String = "", peerURLs: [String], clientURLs: [String] = [], isLearner: Bool = false) {
        self.id = id
        self.name = name
        self.peerURLs = peerURLs
        self.clientURLs = clientURLs
        self.isLearner = isLearner
    }

    /// The context a membership change entry carries: the peer URLs, and the name when the
    /// member was named in the initial cluster. Same encoding rules as `RequestCodec`.
    public func encodedContext() -> [UInt8] {
        var w = ByteWriter()
        w.lengthPrefixed(Array(name.utf8))
        w.strings(peerURLs)
        return w.bytes
    }

    init?(id: NodeID, context: [UInt8], isLearner: Bool) {
        var r = ByteReader(context)
        guard let name = try? r.byteString(), let urls = try? r.strings(), r.offset == context.count else { return nil }
        self.init(id: id, name: String(decoding: name, as: UTF8.self), peerURLs: urls, isLearner: isLearner)
    }
}

/// The membership as the applied log describes it, in member ID order, plus the members that
/// were removed (etcd refuses to let a removed ID back in).
public struct ClusterMembers: Equatable, Sendable {
    public private(set) var members: [NodeID: ClusterMember] = [:]
    public private(set) var removed: Set<NodeID> = []

    public init() {}

    public init(members: [ClusterMember], removed: Set<NodeID>) {
        self.members = Dictionary(members.map { ($0.id, $0) }, uniquingKeysWith: { _, b in b })
        self.removed = removed
    }

    public var sorted: [ClusterMember] { members.values.sorted { $0.id < $1.id } }

    public subscript(id: NodeID) -> ClusterMember? { members[id] }

    /// Applies a committed membership change.
    mutating func apply(_ change: ConfChange) {
        switch change.kind {
        case .addVoter, .addLearner:
            let learner = change.kind == .addLearner
            if var existing = members[change.nodeID] {
                // A promotion (learner to voter) keeps what the member published.
                existing.isLearner = learner
                members[change.nodeID] = existing
            } else if let member = ClusterMember(id: change.nodeID, context: change.context, isLearner: learner) {
                members[change.nodeID] = member
            } else {
                members[change.nodeID] = ClusterMember(id: change.nodeID, peerURLs: [], isLearner: learner)
            }
        case .removeNode:
            members[change.nodeID] = nil
            removed.insert(change.nodeID)
        }
    }

    /// Applies a member's published name and client URLs (ignored for a member not in the cluster).
    mutating func publish(id: NodeID, name: String, clientURLs: [String]) {
        guard var m = members[id] else { return }
        m.name = name
        m.clientURLs = clientURLs
        members[id] = m
    }

    /// Applies a change of a member's peer URLs (etcd's MemberUpdate).
    mutating func update(id: NodeID, peerURLs: [String]) {
        members[id]?.peerURLs = peerURLs
    }
}

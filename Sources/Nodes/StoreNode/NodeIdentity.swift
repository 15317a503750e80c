import Foundation
import Raft
public import StoreServer

/// A member's and its cluster's IDs: derived from the flags as etcd derives them, kept in
/// `<data-dir>/member/identity` so that a restart keeps them whatever the flags say then.
public struct NodeIdentity: Sendable, Equatable {
    public var memberID: UInt64
    public var clusterID: UInt64

    /// FNV-1a: member and cluster IDs are opaque to clients, but must be stable and distinct.
    public static func id(_ parts: [String]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in parts.joined(separator: "\u{0}").utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h == 0 ? 1 : h
    }

    /// A member's ID, as etcd derives it: from its peer URLs and the cluster token.
    public static func memberID(peerURLs: [String], token: String) -> UInt64 { id(peerURLs.sorted() + [token]) }

    /// The initial members as `--initial-cluster` names them, with their derived IDs.
    public static func initialMembers(_ cluster: [String: [String]], token: String) -> [ClusterMember] {
        cluster.map { name, urls in ClusterMember(id: NodeID(memberID(peerURLs: urls, token: token)), name: name, peerURLs: urls) }
    }

    /// The IDs of a new cluster's member: the cluster ID follows from the initial members' IDs
    /// (and the token through them).
    public static func derived(name: String, cluster: [String: [String]], token: String) -> NodeIdentity {
        let members = initialMembers(cluster, token: token)
        return NodeIdentity(
            memberID: memberID(peerURLs: cluster[name] ?? [], token: token),
            clusterID: id(members.map(\.id.rawValue).sorted().map(String.init)))
    }

    /// Reads the identity file (member and cluster IDs in hex), or nil.
    public static func read(_ path: String) -> NodeIdentity? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = UInt64(parts[1], radix: 16) { values[String(parts[0])] = v }
        }
        guard let m = values["member"], let c = values["cluster"] else { return nil }
        return NodeIdentity(memberID: m, clusterID: c)
    }

    /// Writes the identity file unless it exists (the first start's IDs are kept for good).
    public func writeIfAbsent(_ path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        try Data("member \(String(memberID, radix: 16))\ncluster \(String(clusterID, radix: 16))\n".utf8)
            .write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

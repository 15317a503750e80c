import ArgumentParser
import Foundation
import MVCC
import Raft
import Storage
import StoreNode
import StoreServer

/// `capstan snapshot`: what `etcdctl snapshot` does for etcd's files, for Capstan's.
struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Work with snapshot files saved by `etcdctl snapshot save` from a Capstan member.",
        subcommands: [Restore.self]
    )

    /// Builds a new member's data directory from a snapshot file, with etcd's restore flags: every
    /// member of the new cluster is restored from the same file, each with its own --name and
    /// --initial-advertise-peer-urls, then started with `capstan store` and the same cluster flags.
    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restore a member's data directory from a snapshot file.")

        @Argument(help: "The snapshot file (from `etcdctl snapshot save` against a Capstan member).") var file: String
        @Option(help: "Human-readable name for this member.") var name = "default"
        @Option(name: .customLong("data-dir"), help: "Path to the data directory (default: <name>.etcd).") var dataDir: String?
        @Option(name: .customLong("initial-cluster"), help: "Initial cluster configuration for the restored cluster.")
        var initialCluster: String?
        @Option(name: .customLong("initial-cluster-token"), help: "Initial cluster token for the restored cluster.")
        var initialClusterToken = "etcd-cluster"
        @Option(name: .customLong("initial-advertise-peer-urls"), help: "This member's peer URLs to advertise.")
        var initialAdvertisePeerURLs = "http://localhost:2380"
        @Flag(name: .customLong("skip-hash-check"), help: "Accepted for etcd compatibility; the file's checksum is always checked.")
        var skipHashCheck = false

        func run() async throws {
            let root = dataDir ?? "\(name).etcd"
            let memberDirectory = "\(root)/member"
            func fail(_ message: String) -> ExitCode {
                FileHandle.standardError.write(Data("capstan snapshot restore: \(message)\n".utf8))
                return ExitCode(1)
            }
            if FileManager.default.fileExists(atPath: memberDirectory) { throw fail("data-dir \"\(root)\" exists") }
            let cluster = try Store.parseCluster(initialCluster ?? "\(name)=\(initialAdvertisePeerURLs)")
            guard let mine = cluster[name] else { throw fail("--initial-cluster does not name this member ('\(name)')") }
            guard Set(mine) == Set(Store.urls(initialAdvertisePeerURLs)) else {
                throw fail(
                    "--initial-cluster gives \(name) the peer URLs \(mine.joined(separator: ",")), but "
                        + "--initial-advertise-peer-urls says \(initialAdvertisePeerURLs)")
            }
            guard let bytes = FileManager.default.contents(atPath: file) else { throw fail("cannot read \(file)") }
            let (index, term, body): (LogIndex, Term, [UInt8])
            do { (index, term, body) = try SnapshotFile.decode([UInt8](bytes)) } catch { throw fail("\(file): \(error)") }
            let store: KVStore
            do { (store, _) = try MemberSnapshot.decode(body, limits: MVCCLimits()) } catch { throw fail("\(file): \(error)") }
            // The restored cluster has the membership the flags give, as etcd's restore does.
            let members = cluster.map { n, urls in
                ClusterMember(id: NodeID(NodeIdentity.memberID(peerURLs: urls, token: initialClusterToken)), name: n, peerURLs: urls)
            }
            let memberID = NodeIdentity.memberID(peerURLs: mine, token: initialClusterToken)
            let clusterID = NodeIdentity.id(members.map(\.id.rawValue).sorted().map(String.init))
            let snapshot = Snapshot(
                metadata: SnapshotMetadata(index: max(index, 1), term: max(term, 1), confState: ConfState(voters: members.map(\.id))),
                data: MemberSnapshot.encode(store, ClusterMembers(members: members, removed: [])))
            do {
                try FileManager.default.createDirectory(atPath: memberDirectory, withIntermediateDirectories: true)
                let (storage, _) = try DiskLogStorage.open(directory: memberDirectory)
                defer { storage.close() }
                try await storage.save(
                    entries: [], hardState: HardState(term: snapshot.metadata.term, commit: snapshot.metadata.index),
                    snapshot: snapshot)
                try Data("member \(String(memberID, radix: 16))\ncluster \(String(clusterID, radix: 16))\n".utf8)
                    .write(to: URL(fileURLWithPath: "\(memberDirectory)/identity"), options: .atomic)
            } catch {
                throw fail("cannot write \(memberDirectory): \(error)")
            }
            print(
                "capstan snapshot restore: restored revision \(store.revision) (raft index \(snapshot.metadata.index)) into \(root) "
                    + "for member \(name) (\(String(memberID, radix: 16))) of cluster \(String(clusterID, radix: 16))")
        }
    }
}

import Base
import Foundation
import Robustness
import Testing

/// Three `capstan store` processes on loopback, started with etcd's member flags as
/// `etcd-cluster.sh` starts them, driven by the real etcdctl.
@Suite(.serialized) struct ClusterTests {
    typealias E = EtcdctlTests

    /// Ports the kernel says are free right now (bound to port 0, then released).
    static func freePorts(_ n: Int) -> [Int] { StoreCluster.freePorts(n) }

    final class Cluster: @unchecked Sendable {
        let binary: String
        let base: String
        let clientPorts: [Int]
        let peerPorts: [Int]
        var members: [StoreProcessSlot]

        struct StoreProcessSlot {
            var process: E.StoreProcess?
        }

        let extraArguments: [String]
        /// Per member, added after `extraArguments` (e.g. a member's own certificates).
        let memberArguments: [[String]]
        /// "http", or "https" for TLS on both ports (certificates in the arguments).
        let scheme: String

        init(binary: String, extraArguments: [String] = [], memberArguments: [[String]] = [[], [], []], scheme: String = "http") throws {
            self.binary = binary
            self.extraArguments = extraArguments
            self.memberArguments = memberArguments
            self.scheme = scheme
            base =
                FileManager.default.temporaryDirectory.appendingPathComponent("capstan-cluster-\(UInt64.random(in: 0...UInt64.max))").path
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            let ports = ClusterTests.freePorts(6)
            clientPorts = Array(ports[0..<3])
            peerPorts = Array(ports[3..<6])
            members = Array(repeating: StoreProcessSlot(), count: 3)
            for i in 0..<3 { try start(i) }
        }

        var endpoints: [String] { clientPorts.map { "127.0.0.1:\($0)" } }
        var all: String { endpoints.joined(separator: ",") }

        func start(_ i: Int) throws {
            let cluster = (0..<3).map { "m\($0 + 1)=\(scheme)://127.0.0.1:\(peerPorts[$0])" }.joined(separator: ",")
            let dir = "\(base)/m\(i + 1).etcd"
            let state = FileManager.default.fileExists(atPath: dir + "/member") ? "existing" : "new"
            members[i].process = try E.StoreProcess(
                binary: binary, dataDir: dir,
                arguments: [
                    "--name", "m\(i + 1)",
                    "--listen-client-urls", "\(scheme)://127.0.0.1:\(clientPorts[i])",
                    "--advertise-client-urls", "\(scheme)://127.0.0.1:\(clientPorts[i])",
                    "--listen-peer-urls", "\(scheme)://127.0.0.1:\(peerPorts[i])",
                    "--initial-advertise-peer-urls", "\(scheme)://127.0.0.1:\(peerPorts[i])",
                    "--initial-cluster", cluster, "--initial-cluster-token", "e2e-cluster", "--initial-cluster-state", state
                ] + extraArguments + memberArguments[i])
        }

        func shutdown() {
            for m in members { m.process?.stop() }
            try? FileManager.default.removeItem(atPath: base)
        }

        /// The members' IDs in hex, as etcdctl prints them (m1, m2, m3).
        func memberIDs() -> [String] {
            (0..<3).map { i in
                let out = (try? E.etcdctl(endpoints[i], ["endpoint", "status"]).1) ?? ""
                return out.split(separator: ",").dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            }
        }

        /// (member ID, leader ID) as `endpoint status` reports them for one endpoint, or nil.
        func status(_ i: Int) -> (member: String, leader: String)? {
            guard let (code, out, _) = try? E.etcdctl(endpoints[i], ["endpoint", "status", "-w", "json", "--command-timeout", "1s"]),
                code == 0,
                let m = out.firstMatch(of: /"member_id":(\d+)/), let l = out.firstMatch(of: /"leader":(\d+)/)
            else { return nil }
            return (String(m.1), String(l.1))
        }

        /// The index of the member every running member names as leader.
        func leader(among running: [Int], timeout: TimeInterval = 30) -> Int? {
            let deadline = Date().addingTimeInterval(timeout)
            repeat {
                let seen = running.compactMap { i in status(i).map { (i, $0) } }
                if seen.count == running.count, Set(seen.map(\.1.leader)).count == 1,
                    let l = seen.first(where: { $0.1.member == $0.1.leader })
                {
                    return l.0
                }
                usleep(20_000)
            } while Date() < deadline
            return nil
        }
    }

    @Test func aQuorumServesEtcdctlAndSurvivesKillingItsLeader() throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        _ = try #require(E.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let c = try Cluster(binary: capstan)
        defer { c.shutdown() }
        let (healthStatus, _, health) = try E.etcdctl(c.all, ["endpoint", "health"])
        #expect(healthStatus == 0, "\(health)")
        #expect(health.components(separatedBy: "is healthy").count == 4, "\(health)")
        let leader = try #require(c.leader(among: [0, 1, 2]), "no leader")

        // A write through each member (followers forward to the leader); serializable reads
        // on each member then see all three.
        for i in 0..<3 {
            let (code, out, err) = try E.etcdctl(c.endpoints[i], ["put", "via\(i)", "v\(i)"])
            #expect(code == 0 && out == "OK\n", "\(err)")
        }
        for i in 0..<3 {
            let deadline = Date().addingTimeInterval(10)
            var out = ""
            repeat {
                out = try E.etcdctl(c.endpoints[i], ["get", "via", "--prefix", "--print-value-only", "--consistency", "s"]).1
            } while out != "v0\nv1\nv2\n" && Date() < deadline
            #expect(out == "v0\nv1\nv2\n", "member \(i)")
        }

        // Write load from a thread through all endpoints; the leader is killed in the middle.
        let acknowledged = LockedList()
        let stopLoad = LockedFlag()
        let load = Thread {
            var n = 0
            while !stopLoad.value {
                n += 1
                if let (code, _, _) = try? E.etcdctl(c.all, ["put", "load/\(n)", "\(n)"]), code == 0 { acknowledged.append(n) }
            }
        }
        load.start()
        while acknowledged.count < 20 { usleep(20_000) }
        let killedAt = Date()
        c.members[leader].process?.kill9()
        let survivors = [0, 1, 2].filter { $0 != leader }
        let newLeader = c.leader(among: survivors, timeout: 30)
        let electedAfter = Date().timeIntervalSince(killedAt)
        #expect(newLeader != nil, "no new leader among the survivors")
        // etcd's default election timeout is 1 s, randomized in [1 s, 2 s) from the last heartbeat;
        // the poll above sees the winner one etcdctl round later (a process each, slower on a
        // loaded machine: 2.23 s was measured with a build beside the test). One election round,
        // not two: within three seconds.
        #expect(electedAfter < 3.0, "a new leader took \(electedAfter) s")
        let before = acknowledged.count
        let deadline = Date().addingTimeInterval(30)
        while acknowledged.count < before + 20 && Date() < deadline { usleep(20_000) }
        #expect(acknowledged.count >= before + 20, "writes did not resume after the leader was killed")

        // The killed member restarts from its data and catches up; then the load stops.
        try c.start(leader)
        stopLoad.value = true
        while load.isExecuting { usleep(10_000) }
        let written = acknowledged.values
        // No acknowledged write is lost: every one is on every member, the restarted one included.
        for i in 0..<3 {
            let deadline = Date().addingTimeInterval(30)
            var keys: Set<Int> = []
            repeat {
                let out = try E.etcdctl(c.endpoints[i], ["get", "load/", "--prefix", "--print-value-only", "--consistency", "s"]).1
                keys = Set(out.split(separator: "\n").compactMap { Int($0) })
            } while !keys.isSuperset(of: written) && Date() < deadline
            let missing = Set(written).subtracting(keys)
            #expect(missing.isEmpty, "member \(i) lacks acknowledged writes \(missing.sorted().prefix(10))")
        }
        // The members agree on everything: the same hash at the same revision.
        let hashes = try E.etcdctl(c.all, ["endpoint", "hashkv", "-w", "json"]).1
        let values = hashes.matches(of: /"hash":(\d+)/).map { String($0.1) }
        #expect(values.count == 3 && Set(values).count == 1, "\(hashes)")
    }
}

extension ClusterTests {
    /// etcdctl's lease commands against each member (followers forward keep-alives and
    /// TimeToLive to the leader); an unrenewed lease expires and takes its keys on every member.
    @Test func leaseCommandsWorkOnEveryMember() throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        _ = try #require(E.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let c = try Cluster(binary: capstan)
        defer { c.shutdown() }
        _ = try #require(c.leader(among: [0, 1, 2]), "no leader")
        func ok(_ i: Int, _ args: [String]) throws -> String {
            let (status, out, err) = try E.etcdctl(c.endpoints[i], args)
            #expect(status == 0, "etcdctl \(args.joined(separator: " ")) on member \(i) failed: \(err)")
            return out
        }
        var leases: [String] = []
        for i in 0..<3 {
            let granted = try ok(i, ["lease", "grant", "60"])
            let id = try #require(granted.firstMatch(of: /lease ([0-9a-f]+) granted with TTL\(60s\)/)?.1, "\(granted)")
            leases.append(String(id))
            #expect(try ok(i, ["put", "leased/\(i)", "v", "--lease", String(id)]) == "OK\n")
        }
        for i in 0..<3 {
            let other = leases[(i + 1) % 3]
            let ttl = try ok(i, ["lease", "timetolive", other, "--keys"])
            #expect(
                ttl.contains("lease \(other) granted with TTL(60s), remaining(") && ttl.contains("attached keys([leased/\((i + 1) % 3)])"),
                "\(ttl)")
            #expect(try ok(i, ["lease", "keep-alive", "--once", other]) == "lease \(other) keepalived with TTL(60)\n")
        }
        let list = try ok(1, ["lease", "list"])
        #expect(list.hasPrefix("found 3 leases\n") && leases.allSatisfy { list.contains($0) }, "\(list)")
        // Revoke through a follower or the leader: the attached key goes everywhere.
        #expect(try ok(2, ["lease", "revoke", leases[0]]) == "lease \(leases[0]) revoked\n")
        #expect(try ok(0, ["get", "leased/", "--prefix", "--keys-only"]) == "leased/1\n\nleased/2\n\n")
        let (revokeStatus, _, revokeErr) = try E.etcdctl(c.endpoints[1], ["lease", "revoke", leases[0]])
        #expect(revokeStatus != 0 && revokeErr.contains("etcdserver: requested lease not found"), "\(revokeErr)")
        #expect(try ok(1, ["lease", "timetolive", leases[0]]) == "lease \(leases[0]) already expired\n")
        // A short lease nobody renews expires (minimum TTL: 2 s with a 1 s election timeout).
        let short = try ok(1, ["lease", "grant", "1"])
        let shortID = String(try #require(short.firstMatch(of: /lease ([0-9a-f]+) granted with TTL\(2s\)/)?.1, "\(short)"))
        // A loaded machine may start this etcdctl after the 2 s are up: then the put is refused.
        let (putStatus, _, putErr) = try E.etcdctl(c.endpoints[1], ["put", "short", "v", "--lease", shortID])
        #expect(putStatus == 0 || putErr.contains("etcdserver: requested lease not found"), "\(putErr)")
        let deadline = Date().addingTimeInterval(15)
        var left = ""
        repeat {
            usleep(200_000)
            left = try ok(2, ["get", "short", "--consistency", "s"])
        } while !left.isEmpty && Date() < deadline
        #expect(left.isEmpty, "the expired lease's key is still there")
        // etcdctl's --once turns the server's TTL 0 into an error; the streaming form says so and exits.
        let (onceStatus, _, onceErr) = try E.etcdctl(c.endpoints[0], ["lease", "keep-alive", "--once", shortID])
        #expect(onceStatus != 0 && onceErr.contains("etcdserver: requested lease not found"), "\(onceErr)")
        #expect(try E.etcdctl(c.endpoints[0], ["lease", "keep-alive", shortID]).1 == "lease \(shortID) expired or revoked.\n")
    }
}

extension ClusterTests {
    /// etcdctl's member commands: a learner is added, started with
    /// `--initial-cluster-state existing` (it finds its ID by asking the others), catches up,
    /// is promoted, takes the leadership (move-leader), and is removed while leading: it stops,
    /// and the three others go on. Errors are etcd's.
    @Test func membersAreAddedPromotedAndRemoved() throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        _ = try #require(E.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let c = try Cluster(binary: capstan)
        defer { c.shutdown() }
        _ = try #require(c.leader(among: [0, 1, 2]), "no leader")
        func ok(_ args: [String], on endpoints: String? = nil) throws -> String {
            let (status, out, err) = try E.etcdctl(endpoints ?? c.all, args)
            #expect(status == 0, "etcdctl \(args.joined(separator: " ")) failed: \(err)")
            return out
        }
        func fails(_ args: [String], _ message: String, on endpoints: String? = nil) throws {
            let (status, _, err) = try E.etcdctl(endpoints ?? c.all, args)
            #expect(status != 0 && err.contains(message), "etcdctl \(args.joined(separator: " ")): \(err)")
        }
        // Every member published its name and client URL.
        var list = try ok(["member", "list"])
        for i in 0..<3 {
            #expect(
                list.contains(", started, m\(i + 1), http://127.0.0.1:\(c.peerPorts[i]), http://127.0.0.1:\(c.clientPorts[i]), false"),
                "\(list)")
        }
        _ = try ok(["put", "before", "join"])

        let ports = ClusterTests.freePorts(2)
        let peerURL = "http://127.0.0.1:\(ports[1])"
        let added = try ok(["member", "add", "m4", "--peer-urls", peerURL, "--learner"])
        let id = String(try #require(added.firstMatch(of: /Member +([0-9a-f]+) added to cluster/)?.1, "\(added)"))
        #expect(added.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""))
        list = try ok(["member", "list"])
        #expect(list.contains("\(id), unstarted, , \(peerURL), , true"), "\(list)")
        try fails(["member", "add", "m5", "--peer-urls", peerURL], "etcdserver: Peer URLs already exists")
        try fails(
            ["member", "add", "m5", "--peer-urls", "http://127.0.0.1:1", "--learner"], "etcdserver: too many learner members in cluster")
        try fails(["member", "promote", "1234"], "etcdserver: member not found")
        try fails(["member", "remove", "1234"], "etcdserver: member not found")
        try fails(["member", "update", "1234", "--peer-urls", "http://127.0.0.1:2"], "etcdserver: member not found")

        let initial = (0..<3).map { "m\($0 + 1)=http://127.0.0.1:\(c.peerPorts[$0])" }.joined(separator: ",") + ",m4=\(peerURL)"
        let m4 = try E.StoreProcess(
            binary: capstan, dataDir: "\(c.base)/m4.etcd",
            arguments: [
                "--name", "m4", "--listen-client-urls", "http://127.0.0.1:\(ports[0])", "--advertise-client-urls",
                "http://127.0.0.1:\(ports[0])",
                "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
                "--initial-cluster", initial, "--initial-cluster-token", "e2e-cluster", "--initial-cluster-state", "existing"
            ])
        defer { m4.stop() }
        let m4Endpoint = "127.0.0.1:\(ports[0])"
        // It catches up from the leader's log (a serializable read on it sees the earlier write).
        var seen = ""
        let deadline = Date().addingTimeInterval(30)
        repeat {
            seen = try E.etcdctl(m4Endpoint, ["get", "before", "--print-value-only", "--consistency", "s"]).1
            if seen != "join\n" { usleep(100_000) }
        } while seen != "join\n" && Date() < deadline
        #expect(seen == "join\n")
        #expect(try ok(["endpoint", "status"], on: m4Endpoint).contains(", true, "), "a learner says so in its status")
        // As etcd's, a learner serves Status and serializable reads only.
        let (learnerPut, _, learnerErr) = try E.etcdctl(m4Endpoint, ["put", "x", "y"])
        #expect(learnerPut != 0 && learnerErr.contains("etcdserver: rpc not supported for learner"), "\(learnerErr)")
        try fails(["member", "promote", c.memberIDs()[0]], "etcdserver: can only promote a learner member")
        // Promotion waits until the leader sees the learner in sync; retry as an operator would.
        var promoted = ""
        let promoteDeadline = Date().addingTimeInterval(30)
        repeat {
            let (status, out, _) = try E.etcdctl(c.all, ["member", "promote", id])
            if status == 0 { promoted = out } else { usleep(200_000) }
        } while promoted.isEmpty && Date() < promoteDeadline
        // etcdctl prints member IDs as %16x: space-padded when the ID has fewer than 16 hex digits.
        let padded = String(repeating: " ", count: max(0, 16 - id.count)) + id
        #expect(promoted.contains("Member \(padded) promoted in cluster"), "\(promoted)")
        #expect(try ok(["member", "list"]).contains("\(id), started, m4, \(peerURL), http://127.0.0.1:\(ports[0]), false"))

        // Leadership moves to the new member; then it is removed while it leads.
        let moved = try ok(["move-leader", id], on: c.all + "," + m4Endpoint)
        #expect(moved.contains("Leadership transferred from") && moved.hasSuffix(" to \(id)\n"), "\(moved)")
        try fails(["move-leader", "1234"], "etcdserver: bad leader transferee", on: c.all + "," + m4Endpoint)
        #expect(try ok(["member", "remove", id], on: c.all + "," + m4Endpoint).contains("Member \(padded) removed from cluster"))
        let stopDeadline = Date().addingTimeInterval(20)
        while m4.process.isRunning && Date() < stopDeadline { usleep(100_000) }
        #expect(!m4.process.isRunning, "a removed member stops")
        let log = (try? String(contentsOfFile: "\(c.base)/m4.etcd.log", encoding: .utf8)) ?? ""
        #expect(log.contains("the member has been permanently removed from the cluster"))
        #expect(c.leader(among: [0, 1, 2]) != nil)
        #expect(try ok(["put", "after", "remove"]) == "OK\n")
        #expect(try ok(["member", "list"]).split(separator: "\n").count == 3)
    }
}

extension ClusterTests {
    /// With a small --snapshot-count the leader compacts its log: the old leader, killed with
    /// kill -9 and down while the new leader did so, catches up by snapshot. `etcdctl snapshot save` then gives a file that
    /// `capstan snapshot restore` turns into a new member with the same keys and leases.
    @Test func farBehindMembersCatchUpBySnapshotAndSnapshotsRestore() throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        _ = try #require(E.etcdctlBinary(), "etcdctl is missing: apt-get install -y etcd-client (what .ci/run does)")
        let c = try Cluster(binary: capstan, extraArguments: ["--snapshot-count", "20"])
        defer { c.shutdown() }
        // The leader is the one killed: it comes back far behind the new leader's compacted log.
        let behind = try #require(c.leader(among: [0, 1, 2]), "no leader")
        let survivors = [0, 1, 2].filter { $0 != behind }
        let up = survivors.map { c.endpoints[$0] }.joined(separator: ",")
        func ok(_ endpoints: String, _ args: [String]) throws -> String {
            let (status, out, err) = try E.etcdctl(endpoints, args)
            #expect(status == 0, "etcdctl \(args.joined(separator: " ")) failed: \(err)")
            return out
        }
        for i in 0..<10 { _ = try ok(c.all, ["put", "k\(i)", "v\(i)"]) }
        c.members[behind].process?.kill9()
        let leader = try #require(c.leader(among: survivors), "no new leader")
        for i in 10..<80 { _ = try ok(up, ["put", "k\(i)", "v\(i)"]) }
        let granted = try ok(up, ["lease", "grant", "600"])
        let lease = String(try #require(granted.firstMatch(of: /lease ([0-9a-f]+) granted/)?.1))
        _ = try ok(up, ["put", "leased", "x", "--lease", lease])
        // The leader compacted past what the stopped member has.
        let snapDir = "\(c.base)/m\(leader + 1).etcd/member/snap"
        let leaderSnaps = try FileManager.default.contentsOfDirectory(atPath: snapDir).filter { $0.hasSuffix(".snap") }
        #expect(!leaderSnaps.isEmpty, "the leader took no snapshot")
        try c.start(behind)
        let deadline = Date().addingTimeInterval(30)
        var seen = ""
        repeat {
            seen = try E.etcdctl(c.endpoints[behind], ["get", "k79", "--print-value-only", "--consistency", "s"]).1
            if seen != "v79\n" { usleep(100_000) }
        } while seen != "v79\n" && Date() < deadline
        #expect(seen == "v79\n", "the restarted member did not catch up")
        let installed = try FileManager.default.contentsOfDirectory(atPath: "\(c.base)/m\(behind + 1).etcd/member/snap")
        #expect(
            installed.contains { leaderSnaps.contains($0) }, "no snapshot from the leader was installed: \(installed) vs \(leaderSnaps)")
        let hashes = try ok(c.all, ["endpoint", "hashkv", "-w", "json"])
        let values = hashes.matches(of: /"hash":(\d+)/).map { String($0.1) }
        #expect(values.count == 3 && Set(values).count == 1, "\(hashes)")

        // Snapshot save from a follower, restore into a new single-member cluster.
        let file = "\(c.base)/saved.db"
        let (saveStatus, saveOut, saveErr) = try E.etcdctl(c.endpoints[behind], ["snapshot", "save", file])
        #expect(saveStatus == 0 && saveOut.contains("Snapshot saved at \(file)"), "\(saveOut)\(saveErr)")
        let ports = ClusterTests.freePorts(2)
        let restore = Process()
        restore.executableURL = URL(fileURLWithPath: capstan)
        restore.arguments = [
            "snapshot", "restore", file, "--name", "r1", "--data-dir", "\(c.base)/r1.etcd",
            "--initial-cluster", "r1=http://127.0.0.1:\(ports[1])", "--initial-cluster-token", "restored",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(ports[1])"
        ]
        restore.standardOutput = FileHandle.nullDevice
        try restore.run()
        restore.waitUntilExit()
        #expect(restore.terminationStatus == 0)
        let restored = try E.StoreProcess(
            binary: capstan, dataDir: "\(c.base)/r1.etcd",
            arguments: [
                "--name", "r1", "--listen-client-urls", "http://127.0.0.1:\(ports[0])", "--advertise-client-urls",
                "http://127.0.0.1:\(ports[0])",
                "--listen-peer-urls", "http://127.0.0.1:\(ports[1])", "--initial-advertise-peer-urls", "http://127.0.0.1:\(ports[1])",
                "--initial-cluster", "r1=http://127.0.0.1:\(ports[1])", "--initial-cluster-token", "restored"
            ])
        defer { restored.stop() }
        let original = try ok(c.all, ["get", "", "--from-key", "-w", "fields"])
        let copy = try ok(restored.endpoint, ["get", "", "--from-key", "-w", "fields"])
        // Everything but the header's cluster, member and term.
        func kvs(_ s: String) -> [Substring] {
            s.split(separator: "\n").filter {
                !$0.hasPrefix("\"ClusterID\"") && !$0.hasPrefix("\"MemberID\"") && !$0.hasPrefix("\"RaftTerm\"")
            }
        }
        let same = kvs(copy) == kvs(original)
        #expect(same, "the restored member's keys differ: \(kvs(copy).count) lines against \(kvs(original).count)")
        #expect(try ok(restored.endpoint, ["lease", "list"]).contains(lease))
        #expect(try ok(restored.endpoint, ["member", "list"]).contains("started, r1, http://127.0.0.1:\(ports[1])"))
        // A damaged file is refused with the place of the damage.
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[40] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let bad = Process()
        bad.executableURL = URL(fileURLWithPath: capstan)
        bad.arguments = [
            "snapshot", "restore", file, "--name", "r2", "--data-dir", "\(c.base)/r2.etcd",
            "--initial-cluster", "r2=http://127.0.0.1:1", "--initial-advertise-peer-urls", "http://127.0.0.1:1"
        ]
        let errPath = "\(c.base)/bad.err"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        bad.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try bad.run()
        bad.waitUntilExit()
        #expect(bad.terminationStatus != 0)
        #expect(((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "").contains("checksum mismatch at byte"))
    }
}

final class LockedList: @unchecked Sendable {
    private let lock = Lock()
    private var items: [Int] = []
    func append(_ x: Int) { lock.withLock { items.append(x) } }
    var count: Int { lock.withLock { items.count } }
    var values: [Int] { lock.withLock { items } }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = Lock()
    private var flag = false
    var value: Bool {
        get { lock.withLock { flag } }
        set { lock.withLock { flag = newValue } }
    }
}

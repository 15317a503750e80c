import EtcdClient
import EtcdProto
import Foundation
import Testing

/// The Swift client against three `capstan store` processes: calls, fail-over when a member
/// dies, a watch that resumes on another member without losing or repeating an event, and a
/// lease kept alive by the client.
@Suite(.serialized) struct EtcdClientTests {
    typealias E = EtcdctlTests

    @Test func callsFailOverAndWatchesResume() async throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        let c = try ClusterTests.Cluster(binary: capstan)
        defer { c.shutdown() }
        _ = try #require(c.leader(among: [0, 1, 2]), "no leader")
        // The first endpoint is down: the client moves on.
        let dead = "127.0.0.1:\(ClusterTests.freePorts(1)[0])"
        let client = try EtcdClient(endpoints: [dead] + c.endpoints)
        defer { client.close() }
        let first = try await client.put("a/1", "one")
        #expect(try await client.get("a/1") == Array("one".utf8))
        #expect(client.currentEndpoint != dead)
        var txn = Etcdserverpb_TxnRequest()
        var compare = Etcdserverpb_Compare()
        compare.key = Data("a/1".utf8)
        compare.target = .value
        compare.result = .equal
        compare.value = Data("one".utf8)
        txn.compare = [compare]
        var op = Etcdserverpb_RequestOp()
        var put = Etcdserverpb_PutRequest()
        put.key = Data("a/2".utf8)
        put.value = Data("two".utf8)
        op.requestPut = put
        txn.success = [op]
        #expect(try await client.txn(txn).succeeded)

        // A watch from the first write's revision, then the member it reads from dies.
        var seen: [String] = []
        let watch = client.watch(Array("a/".utf8), rangeEnd: EtcdClient.prefixEnd(Array("a/".utf8)), startRevision: first)
        var iterator = watch.makeAsyncIterator()
        while seen.count < 2, let batch = try await iterator.next() {
            seen += batch.events.map { String(decoding: $0.kv.key, as: UTF8.self) }
        }
        #expect(seen == ["a/1", "a/2"])
        let victim = try #require(c.endpoints.firstIndex(of: client.currentEndpoint))
        c.members[victim].process?.kill9()
        // As an operator would, let the survivors agree on a leader first: a write forwarded to a
        // leader that just died times out (maybe committed, maybe not), and only the caller can
        // know whether repeating it is safe.
        _ = try #require(c.leader(among: [0, 1, 2].filter { $0 != victim }), "no leader among the survivors")
        for i in 3...8 { try await client.put("a/\(i)", "v") }
        while seen.count < 8, let batch = try await iterator.next() {
            seen += batch.events.map { String(decoding: $0.kv.key, as: UTF8.self) }
        }
        #expect(seen == (1...8).map { "a/\($0)" }, "every event once, in order, across the fail-over")
        #expect(client.currentEndpoint != c.endpoints[victim])
        #expect(try await client.delete("a/", rangeEnd: "a0") == 8)
    }

    @Test func aKeptAliveLeaseOutlivesItsTTLAndExpiresWhenLetGo() async throws {
        let capstan = try #require(E.capstanBinary(), "the capstan executable was not built")
        let c = try ClusterTests.Cluster(binary: capstan)
        defer { c.shutdown() }
        _ = try #require(c.leader(among: [0, 1, 2]), "no leader")
        let client = try EtcdClient(endpoints: c.endpoints)
        defer { client.close() }
        // A 10 s lease kept for 22 s: a full test run on 2 cores can hold this process's async
        // tasks (the renewals among them) for several seconds, so the margins are wide.
        let lease = try await client.grantLease(ttl: 10)
        #expect(lease.ttl == 10)
        try await client.put("leased", "v", lease: lease.id)
        let keeper = client.keepAlive(lease.id, ttl: lease.ttl)
        try await Task.sleep(for: .seconds(22))
        #expect(try await client.get("leased") == Array("v".utf8), "kept alive past its TTL")
        keeper.cancel()
        let deadline = ContinuousClock.now + .seconds(60)
        while try await client.get("leased") != nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(try await client.get("leased") == nil, "expired once nobody renewed it")
        #expect(try await client.timeToLive(lease.id).ttl == -1)
    }
}

import Raft

/// A random source that always answers 0, so election timeouts are exactly `electionTicks`
/// and transcripts are stable.
struct ZeroRandom: RaftRandom {
    mutating func nextInt(below upperBound: Int) -> Int { 0 }
}

/// Runs transcript commands against in-process members with synchronous storage and prints
/// what happens, for readable protocol tests (`command`, `----`, expected output).
///
/// Commands:
/// - `add-nodes N [voters=1,2,3] [learners=4] [pre-vote=b] [check-quorum=b] [inflight=N] [append-bytes=N]
///   [bugs=name,...]` (test-only deliberate bugs)
/// - `add-empty-node ID`: a member with an empty log and no membership (to be added by a change)
/// - `campaign ID`, `tick ID [N]`, `tick-heartbeat ID`, `tick-election ID`
/// - `propose ID DATA`, `propose-batch ID DATA...`, `propose-conf-change ID add-voter|add-learner|remove NODE`
/// - `read-index ID CTX`, `transfer-leader FROM TO`
/// - `stabilize`: process readies and deliver messages until nothing moves
/// - `process-ready ID`, `deliver-msgs ID` (`drop` as a second word drops them)
/// - `isolate ID`, `heal`, `crash ID`, `restart ID`, `compact ID INDEX`
/// - `status ID`, `raft-log ID`
public final class TranscriptDriver {
    final class Member {
        let id: NodeID
        var raft: RaftNode?
        let storage = MemoryStorage()
        var inbox: [Message] = []
        var appliedConf = ConfState()
        var applied: LogIndex = 0
        var data: [LogIndex: String] = [:]
        var config: RaftConfig
        init(id: NodeID, config: RaftConfig) {
            self.id = id
            self.config = config
        }
    }

    var members: [Member] = []
    var isolated: Set<NodeID> = []
    var output: [String] = []

    public init() {}

    /// Runs one command and returns what it printed.
    public func run(_ line: String) -> String {
        output = []
        let words = line.split(separator: " ").map(String.init)
        guard let command = words.first else { return "" }
        do {
            try execute(command, Array(words.dropFirst()))
        } catch let error as TranscriptError {
            print("error: \(error.message)")
        } catch {
            print("error: \(error)")
        }
        return output.joined(separator: "\n")
    }

    struct TranscriptError: Error {
        var message: String
    }

    func print(_ line: String) { output.append(line) }

    func member(_ word: String?) throws -> Member {
        guard let word, let raw = UInt64(word), let found = members.first(where: { $0.id.rawValue == raw }) else {
            throw TranscriptError(message: "no member '\(word ?? "")'")
        }
        return found
    }

    func running(_ word: String?) throws -> Member {
        let found = try member(word)
        guard found.raft != nil else { throw TranscriptError(message: "member \(found.id) is down") }
        return found
    }

    func execute(_ command: String, _ args: [String]) throws {
        switch command {
        case "add-nodes": try addNodes(args)
        case "add-empty-node":
            let id = NodeID(UInt64(args.first ?? "") ?? 0)
            let base = members.first?.config ?? RaftConfig(id: id)
            var config = base
            config.id = id
            let fresh = Member(id: id, config: config)
            members.append(fresh)
            try start(fresh)
        case "campaign": try running(args.first).raft!.campaign()
        case "tick":
            let m = try running(args.first)
            for _ in 0..<(Int(args.dropFirst().first ?? "1") ?? 1) { m.raft!.tick() }
        case "tick-heartbeat":
            let m = try running(args.first)
            for _ in 0..<m.config.heartbeatTicks { m.raft!.tick() }
        case "tick-election":
            let m = try running(args.first)
            for _ in 0..<m.config.electionTicks { m.raft!.tick() }
        case "propose":
            let m = try running(args.first)
            try report { () throws(RaftError) in try m.raft!.propose(Array((args.dropFirst().first ?? "").utf8)) }
        case "propose-batch":
            let m = try running(args.first)
            let batch = args.dropFirst().map { Array($0.utf8) }
            try report { () throws(RaftError) in try m.raft!.propose(batch: batch) }
        case "propose-conf-change":
            let m = try running(args.first)
            let change = try parseConfChange(Array(args.dropFirst()))
            try report { () throws(RaftError) in try m.raft!.proposeConfChange(change) }
        case "read-index":
            let m = try running(args.first)
            let ctx = UInt64(args.dropFirst().first ?? "") ?? 0
            try report { () throws(RaftError) in try m.raft!.readIndex(requestID: ctx) }
        case "transfer-leader":
            let m = try running(args.first)
            let target = NodeID(UInt64(args.dropFirst().first ?? "") ?? 0)
            try report { () throws(RaftError) in try m.raft!.transferLeadership(to: target) }
        case "stabilize": stabilize()
        case "process-ready": processReady(try running(args.first))
        case "deliver-msgs": deliver(to: try running(args.first), drop: args.dropFirst().first == "drop")
        case "isolate": isolated.insert(try member(args.first).id)
        case "heal": isolated = []
        case "crash":
            let m = try running(args.first)
            m.raft = nil
            m.inbox = []
        case "restart": try start(try member(args.first))
        case "compact": try compact(try running(args.first), args.dropFirst().first)
        case "status": status(try running(args.first))
        case "raft-log": raftLog(try running(args.first))
        default: throw TranscriptError(message: "unknown command '\(command)'")
        }
    }

    func report(_ body: () throws(RaftError) -> Void) throws {
        do {
            try body()
        } catch {
            print("refused: \(error)")
        }
    }

    func parseConfChange(_ args: [String]) throws -> ConfChange {
        guard args.count == 2, let raw = UInt64(args[1]) else {
            throw TranscriptError(message: "usage: propose-conf-change ID add-voter|add-learner|remove NODE")
        }
        let kinds: [String: ConfChange.Kind] = ["add-voter": .addVoter, "add-learner": .addLearner, "remove": .removeNode]
        guard let kind = kinds[args[0]] else { throw TranscriptError(message: "unknown change '\(args[0])'") }
        return ConfChange(kind: kind, nodeID: NodeID(raw))
    }

    func addNodes(_ args: [String]) throws {
        guard let count = Int(args.first ?? "") else { throw TranscriptError(message: "usage: add-nodes N ...") }
        var options: [String: String] = [:]
        for arg in args.dropFirst() {
            let parts = arg.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw TranscriptError(message: "bad option '\(arg)'") }
            options[parts[0]] = parts[1]
        }
        let ids = (1...count).map { NodeID(UInt64($0)) }
        func list(_ key: String) -> [NodeID]? {
            options[key].map { $0.split(separator: ",").compactMap { UInt64($0).map { NodeID($0) } } }
        }
        let voters = list("voters") ?? ids
        let learners = list("learners") ?? []
        var bootstrap: [Entry] = []
        for voter in voters {
            bootstrap.append(
                Entry(
                    term: 1, index: LogIndex(UInt64(bootstrap.count + 1)), kind: .confChange,
                    data: ConfChange(kind: .addVoter, nodeID: voter).encoded()))
        }
        for learner in learners {
            bootstrap.append(
                Entry(
                    term: 1, index: LogIndex(UInt64(bootstrap.count + 1)), kind: .confChange,
                    data: ConfChange(kind: .addLearner, nodeID: learner).encoded()))
        }
        for id in ids {
            var config = RaftConfig(id: id)
            config.preVote = options["pre-vote"].map { $0 == "true" } ?? false
            config.checkQuorum = options["check-quorum"].map { $0 == "true" } ?? false
            config.inflightAppendsMax = Int(options["inflight"] ?? "") ?? config.inflightAppendsMax
            config.appendBytesMax = Int(options["append-bytes"] ?? "") ?? config.appendBytesMax
            for name in (options["bugs"] ?? "").split(separator: ",") {
                guard let bug = InjectedBugs.named[String(name)] else {
                    throw TranscriptError(message: "unknown bug '\(name)'")
                }
                config.injectedBugs.insert(bug)
            }
            let fresh = Member(id: id, config: config)
            fresh.storage.append(bootstrap)
            fresh.storage.setHardState(HardState(term: 1, commit: LogIndex(UInt64(bootstrap.count))))
            members.append(fresh)
            try start(fresh)
        }
        // Apply the bootstrap membership quietly, as a member does on its first start.
        for m in members where ids.contains(m.id) { _ = drainQuietly(m) }
    }

    func start(_ m: Member) throws {
        let snapshot = (try? m.storage.snapshot()) ?? Snapshot()
        m.applied = snapshot.metadata.index
        m.appliedConf = snapshot.metadata.confState
        var config = m.config
        config.applied = m.applied
        m.raft = try RaftNode(config: config, storage: m.storage, random: ZeroRandom())
        m.inbox = []
    }

    /// Applies the bootstrap entries without printing (they are the same on every member).
    func drainQuietly(_ m: Member) -> Bool {
        guard let ready = m.raft!.takeReady() else { return false }
        persist(ready, on: m)
        apply(ready.committedEntries, on: m, quiet: true)
        return true
    }

    // MARK: - Ready handling

    func stabilize() {
        while true {
            var moved = false
            for m in members where m.raft != nil && m.raft!.hasReady {
                processReady(m)
                moved = true
            }
            for m in members where m.raft != nil && !m.inbox.isEmpty {
                deliver(to: m, drop: false)
                moved = true
            }
            if !moved { return }
        }
    }

    func processReady(_ m: Member) {
        guard let ready = m.raft!.takeReady() else { return }
        print("> \(m.id) handling Ready")
        if let soft = ready.softState { print("  role=\(soft.role.rawValue) leader=\(soft.leader)") }
        if let hs = ready.hardState { print("  HardState term=\(hs.term) vote=\(hs.vote) commit=\(hs.commit)") }
        if !ready.entries.isEmpty { print("  Entries: \(entryList(ready.entries))") }
        if let snapshot = ready.snapshot {
            print(
                "  Snapshot index=\(snapshot.metadata.index) term=\(snapshot.metadata.term) voters=\(snapshot.metadata.confState.voters) learners=\(snapshot.metadata.confState.learners)"
            )
        }
        for message in ready.messages { print("  send \(describe(message))") }
        persist(ready, on: m)
        for message in ready.persistedMessages { print("  send after persist \(describe(message))") }
        apply(ready.committedEntries, on: m, quiet: false)
        for rs in ready.readStates { print("  ReadState ctx=\(rs.requestID) index=\(rs.index)") }
        for message in ready.messages + ready.persistedMessages { route(message) }
    }

    func persist(_ ready: Ready, on m: Member) {
        try? m.storage.store(ready)
        if let snapshot = ready.snapshot {
            m.applied = snapshot.metadata.index
            m.appliedConf = snapshot.metadata.confState
        }
        m.raft!.persisted(ready.number)
        if ready.snapshot != nil { m.raft!.applied(through: m.applied) }
    }

    func apply(_ entries: [Entry], on m: Member, quiet: Bool) {
        guard !entries.isEmpty else { return }
        if !quiet { print("  Apply: \(entryList(entries))") }
        for entry in entries {
            if entry.kind == .confChange, let change = ConfChange(decoding: entry.data) {
                m.appliedConf = m.raft!.applyConfChange(change)
                if !quiet { print("  ConfState voters=\(m.appliedConf.voters) learners=\(m.appliedConf.learners)") }
            } else if !entry.data.isEmpty {
                m.data[entry.index] = String(decoding: entry.data, as: UTF8.self)
            }
            m.applied = entry.index
        }
        m.raft!.applied(through: m.applied)
    }

    func route(_ message: Message) {
        guard let target = members.first(where: { $0.id == message.to }) else { return }
        target.inbox.append(message)
    }

    func deliver(to m: Member, drop: Bool) {
        let messages = m.inbox
        m.inbox = []
        for message in messages {
            if drop || isolated.contains(message.from) || isolated.contains(message.to) {
                print("  dropped \(describe(message))")
                continue
            }
            print("> \(m.id) receiving \(describe(message))")
            m.raft!.step(message)
        }
    }

    // MARK: - Inspection

    func compact(_ m: Member, _ word: String?) throws {
        guard let word, let raw = UInt64(word) else { throw TranscriptError(message: "usage: compact ID INDEX") }
        let index = LogIndex(raw)
        guard index <= m.applied else { throw TranscriptError(message: "index \(index) is not applied yet") }
        _ = try m.storage.createSnapshot(at: index, confState: m.appliedConf, data: Array("state@\(index)".utf8))
        try m.storage.compact(through: index)
        print("\(m.id): snapshot at \(index), log starts at \(m.storage.firstIndex())")
    }

    func status(_ m: Member) {
        let r = m.raft!
        print(
            "\(m.id): \(r.role.rawValue) term=\(r.term) vote=\(r.vote) leader=\(r.leader) commit=\(r.commitIndex) applied=\(r.appliedIndex) last=\(r.lastIndex) voters=\(r.confState.voters) learners=\(r.confState.learners)"
        )
        for (id, p) in r.replicationProgress {
            print("  \(id): \(p.state.rawValue) match=\(p.match) next=\(p.next)\(p.isLearner ? " learner" : "")")
        }
    }

    func raftLog(_ m: Member) {
        let r = m.raft!
        let entries = r.entries(from: r.firstIndex, to: r.lastIndex + 1)
        print("\(m.id): first=\(r.firstIndex) last=\(r.lastIndex) \(entryList(entries))")
    }

    func entryList(_ entries: [Entry]) -> String {
        entries.map { entry -> String in
            switch entry.kind {
            case .confChange:
                let change = ConfChange(decoding: entry.data)
                return "\(entry.index)/\(entry.term) \(change.map { "\($0.kind) \($0.nodeID)" } ?? "conf?")"
            case .normal:
                return "\(entry.index)/\(entry.term) \(entry.data.isEmpty ? "no-op" : String(decoding: entry.data, as: UTF8.self))"
            }
        }.joined(separator: ", ")
    }
}

public import Raft

/// The safety checks, run after every event.
extension Simulation {
    func fail(_ message: String) {
        guard violation == nil else { return }
        violation = "t=\(now)ms: \(message)"
        trace("VIOLATION: \(message)")
    }

    /// Per member: commit never moves back, committed entries agree everywhere, one leader
    /// per term, and a new leader holds every committed entry (leader completeness).
    func checkNode(_ member: SimNode) {
        guard let raft = member.raft else { return }
        let commit = raft.commitIndex
        if commit < member.lastCommitSeen {
            fail("n\(member.id) commit index moved back from \(member.lastCommitSeen) to \(commit)")
            return
        }
        if commit > member.lastCommitSeen {
            var index = member.lastCommitSeen + 1
            while index <= commit {
                if let term = raft.logTerm(at: index) { recordCommitted(index, term: term, by: member.id) }
                index = index + 1
            }
            member.lastCommitSeen = commit
            maxCommitted = max(maxCommitted, commit)
            stats.highestCommit = max(stats.highestCommit, commit.rawValue)
        }
        guard raft.role == .leader else { return }
        if let other = leaderByTerm[raft.term], other != member.id {
            fail("two leaders in term \(raft.term): n\(other) and n\(member.id)")
            return
        }
        leaderByTerm[raft.term] = member.id
        if member.leaderTermSeen != raft.term {
            member.leaderTermSeen = raft.term
            checkLeaderCompleteness(member)
        }
    }

    func recordCommitted(_ index: LogIndex, term: Term, by member: NodeID) {
        let position = Int(index.rawValue)
        while committedTerms.count <= position { committedTerms.append(0) }
        let known = committedTerms[position]
        if known == 0 {
            committedTerms[position] = term.rawValue
        } else if known != term.rawValue {
            fail("index \(index) committed with term \(known) elsewhere but term \(term) on n\(member)")
        }
    }

    func checkLeaderCompleteness(_ leader: SimNode) {
        guard let raft = leader.raft, maxCommitted > 0 else { return }
        var index = max(raft.firstIndex, 1)
        while index <= maxCommitted {
            let known = committedTerms[Int(index.rawValue)]
            if known != 0 && raft.logTerm(at: index)?.rawValue != known {
                let has = raft.logTerm(at: index).map { "term \($0)" } ?? "nothing"
                fail(
                    "leader completeness: n\(leader.id), leader of term \(raft.term), has \(has) at committed index \(index) (term \(known))"
                )
                return
            }
            index = index + 1
        }
    }

    /// No two members apply different entries at one index: their state hashes agree.
    func checkApplied(_ index: LogIndex, hash: UInt64, on member: SimNode) {
        let position = Int(index.rawValue)
        while appliedHashes.count <= position { appliedHashes.append(0) }
        if appliedHashes[position] == 0 {
            appliedHashes[position] = hash
        } else if appliedHashes[position] != hash {
            fail("n\(member.id) applied a different entry at index \(index) than another member")
        }
    }

    /// A ReadIndex read point must cover every write acknowledged before the read began.
    func checkRead(_ readState: ReadState, on member: SimNode) {
        guard let started = pendingReads.removeValue(forKey: readState.requestID) else { return }
        guard started.node == member.id else { return }
        stats.readsConfirmed += 1
        if readState.index < started.ackedBefore {
            fail(
                "stale read on n\(member.id): read index \(readState.index) misses write committed at \(started.ackedBefore) before the read began"
            )
        }
    }

    /// Log matching: if two logs agree on an entry's term, they agree on every entry before it.
    func checkLogMatching() {
        let up = nodes.filter { $0.isUp }
        for i in up.indices {
            for j in up.indices where j > i {
                guard let a = up[i].raft, let b = up[j].raft else { continue }
                let low = max(a.firstIndex, b.firstIndex)
                let high = min(a.lastIndex, b.lastIndex)
                guard low <= high else { continue }
                var matchedAbove = false
                var index = high
                while index >= low {
                    let same = a.logTerm(at: index) == b.logTerm(at: index)
                    if matchedAbove && !same {
                        fail("log matching: n\(up[i].id) and n\(up[j].id) agree above index \(index) but differ at it")
                        return
                    }
                    matchedAbove = matchedAbove || same
                    if index == 0 { break }
                    index = index - 1
                }
            }
        }
    }

    // MARK: - Trace

    func trace(_ line: @autoclosure () -> String) {
        let text = "t=\(now) \(line())"
        if options.traceAll { print(text) }
        if traceRing.count < options.traceTailLines {
            traceRing.append(text)
        } else {
            traceRing[traceNext] = text
        }
        traceNext = (traceNext + 1) % max(options.traceTailLines, 1)
    }

    func traceTail() -> [String] {
        guard traceRing.count == options.traceTailLines else { return traceRing }
        return Array(traceRing[traceNext...] + traceRing[..<traceNext])
    }
}

/// One line describing a message, as traces and transcripts print it.
public func describe(_ m: Message) -> String {
    var text = "n\(m.from)->n\(m.to) \(m.kind) term=\(m.term)"
    switch m.kind {
    case .append:
        text += " prev=\(m.index)/\(m.logTerm) entries=\(m.entries.map { "\($0.index)/\($0.term)" }) commit=\(m.commit)"
    case .appendResponse:
        text += m.reject ? " REJECT \(m.index) hint=\(m.rejectHint)/\(m.logTerm)" : " index=\(m.index)"
    case .vote, .preVote:
        text += " last=\(m.index)/\(m.logTerm)\(m.context == Message.campaignTransfer ? " (transfer)" : "")"
    case .voteResponse, .preVoteResponse:
        text += m.reject ? " REJECT" : " GRANT"
    case .snapshot:
        text += " snapshot=\(m.snapshot?.metadata.index ?? 0)/\(m.snapshot?.metadata.term ?? 0)"
    case .heartbeat:
        text += " commit=\(m.commit) ctx=\(m.context)"
    case .readIndex, .readIndexResponse, .heartbeatResponse:
        text += " ctx=\(m.context) index=\(m.index)"
    case .propose:
        text += " entries=\(m.entries.count)"
    case .timeoutNow:
        break
    }
    return text
}

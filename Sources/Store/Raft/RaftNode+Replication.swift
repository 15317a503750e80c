extension RaftNode {
    // MARK: - Leader: proposals

    mutating func appendProposal(_ entries: [Entry]) throws(RaftError) {
        guard leadTransferee == .none else { throw .leadershipTransferInProgress }
        guard progress[id] != nil else { throw .notLeader(leader: .none) }
        if entries.contains(where: { $0.kind == .confChange }) {
            guard pendingConfIndex <= log.applied else { throw .confChangeInProgress }
            guard entries.count == 1 else { throw .invalidConfChange("one membership change at a time") }
        }
        let bytes = entries.reduce(0) { $0 + $1.payloadBytes }
        // An empty pipeline always takes one proposal, however large, so nothing is stuck.
        if uncommittedBytes > 0 && uncommittedBytes + bytes > config.uncommittedBytesMax {
            throw .uncommittedLimitReached
        }
        appendLeaderEntries(entries)
        if entries.contains(where: { $0.kind == .confChange }) { pendingConfIndex = log.lastIndex() }
        broadcastAppend()
    }

    /// Appends entries stamped with this leader's term and the next indexes.
    mutating func appendLeaderEntries(_ entries: [Entry]) {
        var index = log.lastIndex()
        var stamped = entries
        for i in stamped.indices {
            index = index + 1
            stamped[i].term = term
            stamped[i].index = index
            uncommittedBytes += stamped[i].payloadBytes
        }
        log.append(stamped[...])
        // The leader's own copy counts toward commit only once it is durable (`persisted`).
    }

    // MARK: - Leader: sending

    mutating func broadcastAppend() {
        for member in progress.ids where member != id { sendAppend(to: member, sendIfEmpty: true) }
    }

    mutating func broadcastHeartbeat(requestID: UInt64) {
        for member in progress.ids where member != id {
            let match = progress[member]!.match
            send(
                Message(
                    kind: .heartbeat, to: member, commit: min(match, log.committed), context: requestID))
        }
    }

    /// Sends what `member` is missing, if its flow control allows. Falls back to a snapshot
    /// when the entries it needs are compacted. Returns whether a message was sent.
    @discardableResult
    mutating func sendAppend(to member: NodeID, sendIfEmpty: Bool) -> Bool {
        guard let pr = progress[member], !pr.isPaused else { return false }
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(at: prevIndex),
            let entries = try? log.entries(
                from: pr.next, to: log.lastIndex() + 1, maxBytes: config.appendBytesMax)
        else {
            return sendSnapshot(to: member)
        }
        if entries.isEmpty && !sendIfEmpty { return false }
        send(
            Message(
                kind: .append, to: member, logTerm: prevTerm, index: prevIndex, entries: entries,
                commit: log.committed))
        progress[member]!.sentEntries(
            lastIndex: entries.last?.index, bytes: entries.reduce(0) { $0 + $1.payloadBytes })
        return true
    }

    mutating func sendSnapshot(to member: NodeID) -> Bool {
        guard progress[member]!.recentActive else { return false }
        guard let snapshot = try? log.storage.snapshot(), !snapshot.isEmpty else { return false }
        send(Message(kind: .snapshot, to: member, snapshot: snapshot))
        progress[member]!.becomeSnapshot(snapshot.metadata.index)
        return true
    }

    // MARK: - Leader: answers

    mutating func stepLeader(_ message: Message) {
        switch message.kind {
        case .propose:
            // A follower's forward: dropped silently when refused; its client times out.
            if let entry = message.entries.first(where: { $0.kind == .confChange }) {
                guard let change = ConfChange(decoding: entry.data), (try? validateConfChange(change)) != nil
                else { return }
            }
            try? appendProposal(message.entries)
        case .appendResponse:
            handleAppendResponse(message)
        case .heartbeatResponse:
            handleHeartbeatResponse(message)
        case .readIndex:
            handleReadIndexRequest(from: message.from, requestID: message.context)
        default:
            return
        }
    }

    mutating func handleAppendResponse(_ message: Message) {
        guard progress[message.from] != nil else { return }
        progress[message.from]!.recentActive = true
        if message.reject {
            var hint = message.rejectHint
            if message.logTerm > 0 {
                hint = log.findConflictByTerm(index: message.rejectHint, term: message.logTerm).index
            }
            if progress[message.from]!.maybeDecrTo(rejected: message.index, matchHint: hint) {
                if progress[message.from]!.state == .replicate { progress[message.from]!.becomeProbe() }
                sendAppend(to: message.from, sendIfEmpty: true)
            }
            return
        }
        guard progress[message.from]!.maybeUpdate(message.index) else { return }
        advanceProgressState(of: message.from, acknowledged: message.index)
        if maybeCommit() { broadcastAppend() }
        // Keep the pipe full: send what is left while flow control allows.
        while sendAppend(to: message.from, sendIfEmpty: false) {}
        if message.from == leadTransferee && progress[message.from]!.match == log.lastIndex() {
            send(Message(kind: .timeoutNow, to: message.from))
        }
    }

    mutating func advanceProgressState(of member: NodeID, acknowledged index: LogIndex) {
        switch progress[member]!.state {
        case .probe:
            progress[member]!.becomeReplicate()
        case .snapshot:
            if progress[member]!.match >= progress[member]!.pendingSnapshot {
                progress[member]!.becomeProbe()
                progress[member]!.becomeReplicate()
            }
        case .replicate:
            progress[member]!.inflights.freeLE(index)
        }
    }

    mutating func handleHeartbeatResponse(_ message: Message) {
        guard progress[message.from] != nil else { return }
        progress[message.from]!.recentActive = true
        progress[message.from]!.msgAppFlowPaused = false
        // Appends lost on the way never free their slots; free one per heartbeat so that a
        // full window cannot stall the follower forever (its rejection then resets the pipe).
        if progress[message.from]!.state == .replicate && progress[message.from]!.inflights.isFull {
            progress[message.from]!.inflights.freeFirst()
        }
        if progress[message.from]!.match < log.lastIndex() {
            sendAppend(to: message.from, sendIfEmpty: true)
        }
        if message.context != 0 { acknowledgeRead(from: message.from, requestID: message.context) }
    }

    /// Moves the commit index to what a quorum has durably, if that entry is from this term.
    /// Returns whether the commit index moved.
    mutating func maybeCommit() -> Bool {
        let quorumIndex = progress.quorumCommitIndex()
        guard quorumIndex > log.committed else { return false }
        // Raft §5.4.2: only entries of the current term are committed by counting replicas;
        // earlier ones are committed with them.
        if log.term(at: quorumIndex) != term && !config.injectedBugs.contains(.commitPriorTermByCounting) {
            return false
        }
        let hadCommittedInTerm = hasCommittedEntryInTerm
        log.commitTo(quorumIndex)
        if !hadCommittedInTerm && hasCommittedEntryInTerm { releasePendingReadIndex() }
        return true
    }

    /// Whether this leader has committed an entry of its own term (its no-op, at least).
    var hasCommittedEntryInTerm: Bool { log.term(at: log.committed) == term }

    // MARK: - Follower

    mutating func stepFollower(_ message: Message) {
        switch message.kind {
        case .propose:
            guard leader != .none, !config.disableProposalForwarding else { return }
            var forward = message
            forward.to = leader
            send(forward)
        case .append:
            electionElapsed = 0
            leader = message.from
            handleAppend(message)
        case .heartbeat:
            electionElapsed = 0
            leader = message.from
            log.commitTo(min(message.commit, log.lastIndex()))
            send(Message(kind: .heartbeatResponse, to: message.from, context: message.context))
        case .snapshot:
            electionElapsed = 0
            leader = message.from
            handleSnapshot(message)
        case .timeoutNow:
            // Leadership is being handed to us: campaign at once, skipping the pre-vote.
            startCampaign(.transfer)
        case .readIndex:
            guard leader != .none else { return }
            var forward = message
            forward.to = leader
            send(forward)
        case .readIndexResponse:
            readStates.append(ReadState(index: message.index, requestID: message.context))
        default:
            return
        }
    }

    mutating func handleAppend(_ message: Message) {
        if message.index < log.committed {
            send(Message(kind: .appendResponse, to: message.from, index: log.committed))
            return
        }
        if let lastNew = log.maybeAppend(
            index: message.index, logTerm: message.logTerm, commit: message.commit, entries: message.entries)
        {
            send(Message(kind: .appendResponse, to: message.from, index: lastNew))
            return
        }
        // Mismatch: point the leader at the last index that may match, with its term, so it
        // can skip a whole term of entries per round trip.
        let hintIndex = min(message.index, log.lastIndex())
        let (index, hintTerm) = log.findConflictByTerm(index: hintIndex, term: message.logTerm)
        send(
            Message(
                kind: .appendResponse, to: message.from, logTerm: hintTerm ?? 0, index: message.index,
                reject: true, rejectHint: index))
    }

    mutating func handleSnapshot(_ message: Message) {
        guard let snapshot = message.snapshot else { return }
        let meta = snapshot.metadata
        if meta.index <= log.committed {
            send(Message(kind: .appendResponse, to: message.from, index: log.committed))
            return
        }
        if log.matchTerm(meta.index, meta.term) {
            // We already have the entries: just move the commit index forward.
            log.commitTo(meta.index)
            send(Message(kind: .appendResponse, to: message.from, index: log.committed))
            return
        }
        // A snapshot whose membership predates our own addition is accepted: the entries after
        // it carry the change that added us, and until we apply it we cannot campaign.
        log.restore(snapshot)
        resetProgress(meta.confState)
        send(Message(kind: .appendResponse, to: message.from, index: log.lastIndex()))
    }
}

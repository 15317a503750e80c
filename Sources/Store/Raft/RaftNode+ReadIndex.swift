extension RaftNode {
    /// Requests a linearizable read point. When it is confirmed, a `ReadState` with
    /// `requestID` comes out in a `Ready`; the read may be served once this member has applied
    /// its index. Request IDs must be unique among requests in flight. On a follower the
    /// request is forwarded to the leader; an unanswered request should be retried by the caller.
    public mutating func readIndex(requestID: UInt64) throws(RaftError) {
        precondition(requestID != 0, "read request ID 0 is reserved")
        switch role {
        case .leader:
            try handleLocalReadIndex(requestID: requestID)
        case .follower:
            guard leader != .none else { throw .noLeader }
            send(Message(kind: .readIndex, to: leader, context: requestID))
        case .candidate, .preCandidate:
            throw .noLeader
        }
    }

    mutating func handleLocalReadIndex(requestID: UInt64) throws(RaftError) {
        if !hasCommittedEntryInTerm && progress.voters.count > 1 {
            guard pendingReadIndex.count < RaftLimits.pendingReadIndexMax else { throw .readIndexQueueFull }
        } else if readOnly.count >= RaftLimits.readIndexQueueMax {
            throw .readIndexQueueFull
        }
        handleReadIndexRequest(from: id, requestID: requestID)
    }

    /// Leader: a read point for `from` (itself or a follower).
    mutating func handleReadIndexRequest(from: NodeID, requestID: UInt64) {
        let read = PendingRead(from: from, requestID: requestID, index: log.committed, acks: [id])
        if progress.voters.count == 1 && progress.isVoter(id) {
            // Alone, the leader is the quorum: its commit index is current.
            respond(to: read)
            return
        }
        guard hasCommittedEntryInTerm else {
            // A new leader does not know the full commit index until its own entry commits.
            if pendingReadIndex.count < RaftLimits.pendingReadIndexMax { pendingReadIndex.append(read) }
            return
        }
        if config.injectedBugs.contains(.readIndexSkipsHeartbeat) {
            respond(to: read)
            return
        }
        guard readOnly.count < RaftLimits.readIndexQueueMax, readOnly.add(read) else { return }
        broadcastHeartbeat(requestID: requestID)
    }

    /// Called once the leader has committed an entry of its term.
    mutating func releasePendingReadIndex() {
        let waiting = pendingReadIndex
        pendingReadIndex = []
        for read in waiting { handleReadIndexRequest(from: read.from, requestID: read.requestID) }
    }

    mutating func acknowledgeRead(from member: NodeID, requestID: UInt64) {
        guard progress.isVoter(member), let acks = readOnly.recordAck(from: member, requestID: requestID) else {
            return
        }
        let voters = progress.voters
        let confirmed = voters.filter { acks.contains($0) }.count
        guard confirmed > voters.count / 2 else { return }
        for read in readOnly.release(through: requestID) { respond(to: read) }
    }

    mutating func respond(to read: PendingRead) {
        if read.from == id {
            readStates.append(ReadState(index: read.index, requestID: read.requestID))
        } else {
            send(Message(kind: .readIndexResponse, to: read.from, index: read.index, context: read.requestID))
        }
    }
}

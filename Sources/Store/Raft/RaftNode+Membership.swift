extension RaftNode {
    /// Rebuilds the progress table for a membership (at start, or from an installed snapshot).
    mutating func resetProgress(_ confState: ConfState) {
        for member in progress.ids { progress.remove(member) }
        for voter in confState.voters { addProgress(voter, isLearner: false) }
        for learner in confState.learners { addProgress(learner, isLearner: true) }
    }

    mutating func addProgress(_ member: NodeID, isLearner: Bool) {
        var entry = Progress(
            next: log.lastIndex() + 1, inflightsMax: config.inflightAppendsMax,
            inflightBytesMax: config.inflightBytesMax, isLearner: isLearner)
        // A new member counts as active so check-quorum does not depose the leader at once.
        entry.recentActive = true
        if member == id { _ = entry.maybeUpdate(log.durableLastIndex ?? 0) }
        progress.insert(member, entry)
    }

    /// Checks a change against the membership as applied; throws when it is not allowed.
    func validateConfChange(_ change: ConfChange) throws(RaftError) {
        let isVoter = progress.isVoter(change.nodeID)
        switch change.kind {
        case .addVoter:
            break
        case .addLearner:
            if isVoter { throw .invalidConfChange("member \(change.nodeID) is a voter; it cannot be demoted") }
        case .removeNode:
            guard progress[change.nodeID] != nil else {
                throw .invalidConfChange("member \(change.nodeID) is not in the cluster")
            }
            if isVoter && progress.voters.count == 1 {
                throw .invalidConfChange("removing member \(change.nodeID) would leave no voters")
            }
        }
    }

    /// Applies a committed membership change. The application calls this when it applies the
    /// change's entry, on every member, in log order. Returns the membership after it.
    /// A change that is not valid for the current membership is ignored on every member alike.
    @discardableResult
    public mutating func applyConfChange(_ change: ConfChange) -> ConfState {
        guard (try? validateConfChange(change)) != nil else { return confState }
        switch change.kind {
        case .addVoter:
            if progress[change.nodeID] != nil {
                progress[change.nodeID]!.isLearner = false
            } else {
                addProgress(change.nodeID, isLearner: false)
            }
        case .addLearner:
            if progress[change.nodeID] == nil { addProgress(change.nodeID, isLearner: true) }
        case .removeNode:
            progress.remove(change.nodeID)
        }
        if role == .leader {
            if leadTransferee != .none && !progress.isVoter(leadTransferee) { leadTransferee = .none }
            // A removed leader keeps replicating until the application shuts it down, but its
            // own log no longer counts toward commit (it is not among the voters).
            if maybeCommit() { broadcastAppend() }
            // A new member is probed at once rather than at the next heartbeat; others may have
            // entries to receive that a smaller quorum just committed.
            for member in progress.ids where member != id {
                sendAppend(to: member, sendIfEmpty: member == change.nodeID && change.kind != .removeNode)
            }
        }
        return confState
    }
}

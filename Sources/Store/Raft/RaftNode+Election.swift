enum CampaignKind {
    case preElection, election, transfer
}

extension RaftNode {
    // MARK: - Ticks

    mutating func tickElection() {
        electionElapsed += 1
        if isPromotable && electionElapsed >= randomizedElectionTimeout {
            electionElapsed = 0
            startCampaign(config.preVote ? .preElection : .election)
        }
    }

    mutating func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= config.electionTicks {
            electionElapsed = 0
            if config.checkQuorum && !progress.quorumActive(selfID: id) {
                becomeFollower(term: term, leader: .none)
                return
            }
            // A transfer that did not finish within an election timeout is abandoned.
            leadTransferee = .none
        }
        guard role == .leader else { return }
        if heartbeatElapsed >= config.heartbeatTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat(requestID: readOnly.lastRequestID ?? 0)
        }
    }

    // MARK: - Role changes

    mutating func reset(term newTerm: Term) {
        if term != newTerm {
            term = newTerm
            vote = .none
        }
        leader = .none
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout = config.electionTicks + random.nextInt(below: config.electionTicks)
        leadTransferee = .none
        votes = [:]
        readOnly.removeAll()
        pendingReadIndex = []
        let next = log.lastIndex() + 1
        for member in progress.ids {
            let learner = progress[member]!.isLearner
            progress[member] = Progress(
                next: next, inflightsMax: config.inflightAppendsMax,
                inflightBytesMax: config.inflightBytesMax, isLearner: learner)
        }
        if progress[id] != nil {
            _ = progress[id]!.maybeUpdate(log.durableLastIndex ?? 0)
        }
        pendingConfIndex = 0
        uncommittedBytes = 0
    }

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID) {
        reset(term: newTerm)
        leader = newLeader
        role = .follower
    }

    mutating func becomePreCandidate() {
        precondition(role != .leader, "a leader cannot become a pre-candidate")
        // A pre-candidate changes neither its term nor its vote.
        votes = [:]
        leader = .none
        role = .preCandidate
    }

    mutating func becomeCandidate() {
        precondition(role != .leader, "a leader cannot become a candidate")
        reset(term: term.next)
        vote = id
        role = .candidate
    }

    mutating func becomeLeader() {
        precondition(role != .follower, "a follower cannot become leader without an election")
        reset(term: term)
        leader = id
        role = .leader
        for member in progress.ids where member != id { progress[member]!.recentActive = true }
        if progress[id] != nil {
            progress[id]!.becomeReplicate()
            progress[id]!.recentActive = true
        }
        // Entries before the no-op may include a membership change: wait for them to apply.
        pendingConfIndex = log.lastIndex()
        // The no-op commits every earlier entry once a quorum has it (Raft §5.4.2).
        appendLeaderEntries([Entry(term: term, index: 0)])
        broadcastAppend()
    }

    // MARK: - Campaigns

    mutating func startCampaign(_ kind: CampaignKind) {
        guard isPromotable else { return }
        let voteTerm: Term
        let voteKind: MessageKind
        if kind == .preElection {
            becomePreCandidate()
            voteKind = .preVote
            voteTerm = term.next
        } else {
            becomeCandidate()
            voteKind = .vote
            voteTerm = term
        }
        votes[id] = true
        switch progress.tally(votes) {
        case .won:
            if kind == .preElection { startCampaign(.election) } else { becomeLeader() }
            return
        case .lost, .pending:
            break
        }
        for member in progress.voters where member != id {
            send(
                Message(
                    kind: voteKind, to: member, term: voteTerm, logTerm: log.lastTerm(), index: log.lastIndex(),
                    context: kind == .transfer ? Message.campaignTransfer : 0))
        }
    }

    /// Applies the term rules every message passes first. Returns false to drop the message.
    mutating func checkTerm(of message: Message) -> Bool {
        if message.term == 0 { return true }  // Local forwards carry no term.
        if message.term > term {
            if message.kind == .vote || message.kind == .preVote {
                let forced = message.context == Message.campaignTransfer
                let inLease = config.checkQuorum && leader != .none && electionElapsed < config.electionTicks
                // A member that recently heard from a leader ignores disruptive candidates.
                if !forced && inLease { return false }
            }
            switch message.kind {
            case .preVote:
                break  // Never change the term for a pre-vote.
            case .preVoteResponse where !message.reject:
                break  // A granted pre-vote carries the future term we asked for.
            default:
                let fromLeader = [.append, .heartbeat, .snapshot].contains(message.kind)
                let elapsed = electionElapsed
                becomeFollower(term: message.term, leader: fromLeader ? message.from : .none)
                // A higher-term vote request alone does not restart our election timer (only a
                // granted vote or a leader does): otherwise a member with a stale log and a fast
                // clock could keep every other member from ever campaigning.
                if message.kind == .vote { electionElapsed = elapsed }
            }
            return true
        }
        if message.term < term {
            if (config.checkQuorum || config.preVote)
                && (message.kind == .heartbeat || message.kind == .append)
            {
                // A deposed leader learns of the newer term from this answer.
                send(Message(kind: .appendResponse, to: message.from))
            } else if message.kind == .preVote {
                send(Message(kind: .preVoteResponse, to: message.from, term: term, reject: true))
            }
            return false
        }
        return true
    }

    mutating func handleVoteRequest(_ message: Message) {
        let isPre = message.kind == .preVote
        let canVote =
            vote == message.from
            || (vote == .none && leader == .none)
            || (isPre && message.term > term)
            || config.injectedBugs.contains(.voteTwiceInTerm)
        let upToDate =
            log.isUpToDate(index: message.index, term: message.logTerm)
            || config.injectedBugs.contains(.voteIgnoresLog)
        let grant = canVote && upToDate
        let responseKind: MessageKind = isPre ? .preVoteResponse : .voteResponse
        // A granted pre-vote answers with the term it was asked about; any refusal with ours.
        let responseTerm = grant && isPre ? message.term : term
        send(Message(kind: responseKind, to: message.from, term: responseTerm, reject: !grant))
        if grant && !isPre {
            electionElapsed = 0
            vote = message.from
        }
    }

    mutating func stepCandidate(_ message: Message) {
        switch message.kind {
        case .propose:
            return  // Dropped: no leader to forward to.
        case .append, .heartbeat, .snapshot:
            becomeFollower(term: message.term, leader: message.from)
            stepFollower(message)
        case .preVoteResponse where role == .preCandidate, .voteResponse where role == .candidate:
            votes[message.from] = !message.reject
            switch progress.tally(votes) {
            case .won:
                if role == .preCandidate { startCampaign(.election) } else { becomeLeader() }
            case .lost:
                becomeFollower(term: term, leader: .none)
            case .pending:
                break
            }
        default:
            return
        }
    }
}

public import MVCC
public import Raft

/// What callers ask a member: writes, reads, lease calls, membership changes, leader transfer,
/// the snapshot file, and what other members send. Each is posted to the member's inbox under
/// `lock` and answered by a turn.
extension Member {
    /// Messages from other members.
    public func receive(_ messages: [Message]) { post(.messages(messages)) }

    /// Frames from other members that are not Raft messages (lease calls and answers).
    public func receive(_ frame: PeerFrame, from peer: NodeID) {
        switch frame {
        case .leaderCalls(let calls): post(.leaderCalls(calls.filter { $0.from == peer }, from: peer))
        case .leaderAnswers(let answers): post(.leaderAnswers(answers))
        default: break
        }
    }

    /// Proposes a write and waits until it is applied here.
    public func write(_ request: StateRequest) async throws(MemberError) -> StateResult {
        try await awaiting { write(request, completion: $0) }
    }

    /// Proposes a write; `completion` is called once it is applied here (or failed), on the
    /// member's thread or at once: it must be quick and must not call back into the member
    /// synchronously in a way that waits.
    public func write(_ request: StateRequest, completion: @escaping @Sendable (Result<StateResult, MemberError>) -> Void) {
        lock.lock()
        if let refused = refusalLocked() {
            lock.unlock()
            return completion(.failure(refused))
        }
        shared.nextRequest += 1
        let sequence = shared.nextRequest
        let entry = RequestCodec.encode(origin: config.id.rawValue, sequence: sequence, request)
        // etcd's --max-request-bytes, on the request as it goes into the log.
        if entry.count - 16 > config.maxRequestBytes {
            lock.unlock()
            return completion(.failure(.requestTooLarge))
        }
        let leader = shared.status.leader
        shared.writeWaiters[sequence] = WriteWaiter(
            deadline: clock.now + config.requestTimeout, continuation: Reply(deliver: completion), leader: leader)
        shared.inbox.append(.propose(sequence, entry))
        wakeLocked()
        lock.unlock()
    }

    /// A linearizable read point: returns a view that includes every write acknowledged
    /// before the call, after one ReadIndex round shared by all reads waiting at that moment.
    public func linearizableView() async throws(MemberError) -> ReadView {
        try await awaiting { linearizableView(completion: $0) }
    }

    /// The callback form of `linearizableView()` (see `write(_:completion:)`).
    public func linearizableView(completion: @escaping @Sendable (Result<ReadView, MemberError>) -> Void) {
        if config.plantedBugs.contains(.localReads) { return completion(.success(publisher.current)) }
        lock.lock()
        if let refused = refusalLocked() {
            lock.unlock()
            return completion(.failure(refused))
        }
        shared.pendingReads.append(ReadWaiter(deadline: clock.now + config.requestTimeout, continuation: Reply(deliver: completion)))
        shared.inbox.append(.read)
        wakeLocked()
        lock.unlock()
    }

    public func range(_ r: RangeRequest, linearizable: Bool = true) async throws(MemberError) -> RangeResponse {
        let v = linearizable ? try await linearizableView() : view
        do { return try v.range(r) } catch { throw .mvcc(error) }
    }

    /// A lease call answered by the leader (forwarded there from a follower): a keep-alive or a
    /// TimeToLive. Waits while there is no leader, up to the request timeout.
    public func leaderCall(_ call: LeaderCall) async throws(MemberError) -> LeaderCallResult {
        let result = await withCheckedContinuation { (c: CheckedContinuation<LeaderCallResult, Never>) in
            enqueue(.leaderCall(LeaderCallWaiter(call: call, deadline: clock.now + config.requestTimeout, continuation: c))) {
                c.resume(returning: .notLeader)
            }
        }
        if result == .notLeader {
            if lock.withLock({ shared.stopping }) { throw .stopped }
            throw status.leader == nil ? .noLeader : .timedOut
        }
        return result
    }

    /// Asks one member (this one included) a call any member answers; `.notLeader` when no
    /// answer came within `timeout`.
    public func ask(_ call: LeaderCall, member: NodeID, timeout: Duration = .seconds(5)) async -> LeaderCallResult {
        await withCheckedContinuation { (c: CheckedContinuation<LeaderCallResult, Never>) in
            enqueue(.directCall(LeaderCallWaiter(call: call, deadline: clock.now + timeout, continuation: c), to: member)) {
                c.resume(returning: .notLeader)
            }
        }
    }

    /// Proposes a membership change (add a voter or a learner, promote a learner, remove a
    /// member) and waits until it is applied here; returns the membership after it. Checked
    /// against the applied membership first, with etcd's errors.
    public func changeMembership(_ change: ConfChange) async throws(MemberError) -> [ClusterMember] {
        try await throwing { (c: CheckedContinuation<[ClusterMember], any Error>) in
            enqueue(.confChange(ConfChangeWaiter(change: change, deadline: clock.now + config.requestTimeout, continuation: c))) {
                c.resume(throwing: MemberError.stopped)
            }
        }
    }

    /// Hands leadership to `target` (etcd's MoveLeader): only the leader may, and only to a
    /// voter; returns once `target` leads, or fails after the request timeout.
    public func transferLeadership(to target: NodeID) async throws(MemberError) {
        try await throwing { (c: CheckedContinuation<Void, any Error>) in
            enqueue(.transfer(TransferWaiter(target: target, deadline: clock.now + config.requestTimeout, continuation: c))) {
                c.resume(throwing: MemberError.stopped)
            }
        }
    }

    /// The applied state as a snapshot file (Maintenance.Snapshot, `etcdctl snapshot save`).
    public func snapshotFile() async throws(MemberError) -> [UInt8] {
        try await throwing { (c: CheckedContinuation<[UInt8], any Error>) in
            enqueue(.snapshotFile(c)) { c.resume(throwing: MemberError.stopped) }
        }
    }

    /// Tests only: applies a request to this member's state without the log, as a bug or a
    /// damaged disk would leave a member.
    func applyLocallyForTesting(_ request: StateRequest) { post(.applyLocally(request)) }

    // MARK: - Posting

    /// Posts `event` for the next turn, or calls `refused` (under `lock`) when the member is stopping.
    private func enqueue(_ event: Event, refused: () -> Void) {
        lock.lock()
        defer { lock.unlock() }
        if shared.stopping { return refused() }
        shared.inbox.append(event)
        wakeLocked()
    }

    func post(_ e: Event) {
        lock.lock()
        shared.inbox.append(e)
        wakeLocked()
        lock.unlock()
    }

    /// Makes sure a turn runs soon: one enqueued on the loop serves every event posted before it
    /// starts (from the loop itself that costs no wake-up: it runs after the loop's I/O). Under `lock`.
    func wakeLocked() {
        guard !shared.turnScheduled && !shared.stopped else { return }
        shared.turnScheduled = true
        loop.execute { [self] in turn(tick: false) }
    }

    /// Why a new write or read is refused now (stopping, or too many waiting), or nil. Under `lock`.
    private func refusalLocked() -> MemberError? {
        if shared.stopping { return .stopped }
        return shared.writeWaiters.count + shared.pendingReads.count >= config.maxPending ? .overloaded : nil
    }

    /// The async form of a method that takes a completion.
    private func awaiting<T: Sendable>(_ start: (@escaping @Sendable (Result<T, MemberError>) -> Void) -> Void)
        async throws(MemberError) -> T
    {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<T, MemberError>, Never>) in
            start { c.resume(returning: $0) }
        }
        return try result.get()
    }

    /// A throwing continuation whose errors are `MemberError`s.
    private func throwing<T: Sendable>(_ body: (CheckedContinuation<T, any Error>) -> Void) async throws(MemberError) -> T {
        do { return try await withCheckedThrowingContinuation(body) } catch let e as MemberError { throw e } catch {
            throw .storage("\(error)")
        }
    }
}

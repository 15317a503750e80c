/// One linearizable read waiting for a quorum to confirm the leader's leadership.
struct PendingRead {
    /// Who asked: the leader itself, or a follower that forwarded the request.
    var from: NodeID
    var requestID: UInt64
    /// The leader's commit index when the request arrived: the read index.
    var index: LogIndex
    /// Voters whose heartbeat responses echoed this request (the leader counts itself).
    var acks: Set<NodeID>
}

/// The leader's queue of ReadIndex requests, in arrival order. A quorum acknowledging a
/// heartbeat for one request also confirms every request queued before it.
struct ReadOnlyQueue {
    private(set) var queue: [PendingRead] = []
    private var positions: [UInt64: Int] = [:]

    var count: Int { queue.count }
    var lastRequestID: UInt64? { queue.last?.requestID }

    /// Queues a request; a request ID already waiting is ignored (returns false).
    mutating func add(_ read: PendingRead) -> Bool {
        guard positions[read.requestID] == nil else { return false }
        positions[read.requestID] = queue.count
        queue.append(read)
        return true
    }

    /// Records `from`'s acknowledgement of `requestID`; returns the acknowledgement count.
    mutating func recordAck(from: NodeID, requestID: UInt64) -> Set<NodeID>? {
        guard let position = positions[requestID] else { return nil }
        queue[position].acks.insert(from)
        return queue[position].acks
    }

    /// Removes and returns every request up to and including `requestID`.
    mutating func release(through requestID: UInt64) -> [PendingRead] {
        guard let position = positions[requestID] else { return [] }
        let released = Array(queue[...position])
        queue.removeFirst(position + 1)
        positions = [:]
        for (i, read) in queue.enumerated() { positions[read.requestID] = i }
        return released
    }

    mutating func removeAll() {
        queue = []
        positions = [:]
    }
}

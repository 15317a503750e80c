import EtcdProto
import GRPCServer
import GRPCWire
import MVCC
import NIOCore
public import StoreServer

/// etcd's Watch service over the member's watch hub: one hub stream per gRPC call; requests
/// create, cancel and ask for progress; responses are drained from the hub's queue whenever it
/// has some and the client is reading, and written as the hub encoded them (once for every
/// watcher of a batch; batches for the same watchers that queued up while the client was behind
/// go out as one response, see `WatchResponses`). Everything runs on the call's event loop: no
/// task per call.
public struct WatchService: Sendable {
    let member: Member
    /// How often watchers that asked for progress notifications get one when nothing else was
    /// sent (etcd's `--experimental-watch-progress-notify-interval`, 10 minutes by default).
    let progressInterval: Duration

    public init(member: Member, identity: MemberIdentity, progressInterval: Duration = .seconds(600)) {
        self.member = member
        self.progressInterval = progressInterval
        member.setIdentity(clusterID: identity.clusterID, memberID: identity.memberID)
    }

    static func create(_ c: Etcdserverpb_WatchCreateRequest) -> WatchCreate {
        WatchCreate(
            key: [UInt8](c.key), rangeEnd: [UInt8](c.rangeEnd), startRevision: c.startRevision,
            progressNotify: c.progressNotify, noPut: c.filters.contains(.noput), noDelete: c.filters.contains(.nodelete),
            prevKV: c.prevKv, watchID: c.watchID, fragment: c.fragment)
    }

    /// The method, for the server's table.
    var method: GRPCServer.Method {
        .streaming { [member, progressInterval] stream in
            WatchCall(member: member, stream: stream, progressInterval: progressInterval)
        }
    }
}

/// One Watch call. Lives on its connection's event loop.
final class WatchCall: StreamReceiver {
    private let hub: WatchHub
    private let stream: ServerStream
    private var hubStream: WatchStream?
    private var progressTimer: RepeatedTask?
    private var waitingForRoom = false

    init(member: Member, stream: ServerStream, progressInterval: Duration) {
        hub = member.hub
        self.stream = stream
        if member.isLearner {
            stream.finish(GRPCStatus.unavailable("etcdserver: rpc not supported for learner"))
            return
        }
        let loop = stream.eventLoop
        // The hub calls this from the thread that applies writes, when the queue was empty.
        let pump = NIOLoopBound(self, eventLoop: loop)
        let hubStream = hub.openStream(onReadable: { loop.execute { pump.value.drain() } })
        self.hubStream = hubStream
        let interval = TimeAmount(progressInterval)
        progressTimer = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [hub] _ in
            hub.tickProgress([hubStream])
        }
    }

    func received(_ message: [UInt8]) {
        guard let hubStream else { return }
        let request: Etcdserverpb_WatchRequest
        do { request = try Etcdserverpb_WatchRequest(serializedBytes: message) } catch {
            stream.finish(GRPCStatus.internalError("grpc: error unmarshalling request: \(error)"))
            return
        }
        switch request.requestUnion {
        case .createRequest(let c): hub.watch(WatchService.create(c), on: hubStream)
        case .cancelRequest(let c): hub.cancel(c.watchID, on: hubStream)
        case .progressRequest: hub.requestProgress(on: hubStream)
        case nil: break
        }
    }

    /// A client that closes its side still gets its events until it cancels the call.
    func requestsEnded() {}

    func ended() {
        progressTimer?.cancel()
        progressTimer = nil
        if let hubStream { hub.close(hubStream) }
        hubStream = nil
    }

    /// Writes what the hub has queued, a batch at a time, while the client keeps up; when it
    /// falls behind (its connection backed up, or its stream's window shut), waits for it: the
    /// batches queued meanwhile go out joined where they can be (`WatchResponses`), and the
    /// hub's own per-stream limit applies.
    func drain() {
        guard let hubStream, !waitingForRoom else { return }
        while !stream.isBlocked {
            // A frame may stand for one response to each of several watchers (the same body).
            let frames = hub.drainShared(hubStream, max: 4096)
            if frames.isEmpty { return }
            let responses = WatchResponses(frames)
            responses.withWriter { stream.send(sizes: responses.sizes, write: $0) }
        }
        waitingForRoom = true
        stream.whenWritable { [self] in
            waitingForRoom = false
            drain()
        }
    }
}

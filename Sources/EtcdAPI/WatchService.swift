import EtcdProto
public import GRPCCore
import GRPCProtobuf
import MVCC
public import StoreServer

/// Writes a `WatchFrame` as the WatchResponse message it is: the watch id, then the body the
/// hub encoded once for every watcher of the batch. No protobuf message object in between.
struct WatchFrameSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ frame: WatchFrame) throws -> Bytes {
        Bytes(frame.serialized())
    }
}

/// etcd's Watch service over the member's watch hub: one hub stream per gRPC call; requests
/// create, cancel and ask for progress; responses are drained from the hub's queue whenever it
/// has some and written as they are.
public struct WatchService: RegistrableRPCService {
    let member: Member
    /// How often watchers that asked for progress notifications get one when nothing else was
    /// sent (etcd's `--experimental-watch-progress-notify-interval`, 10 minutes by default).
    let progressInterval: Duration

    public init(member: Member, identity: MemberIdentity, progressInterval: Duration = .seconds(600)) {
        self.member = member
        self.progressInterval = progressInterval
        member.setIdentity(clusterID: identity.clusterID, memberID: identity.memberID)
    }

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: Etcdserverpb_Watch.Method.Watch.descriptor,
            deserializer: ProtobufDeserializer<Etcdserverpb_WatchRequest>(),
            serializer: WatchFrameSerializer(),
            handler: { request, _ in
                StreamingServerResponse<WatchFrame>(metadata: [:]) { writer in
                    try await serve(request.messages, writer)
                    return [:]
                }
            }
        )
    }

    static func create(_ c: Etcdserverpb_WatchCreateRequest) -> WatchCreate {
        WatchCreate(key: [UInt8](c.key), rangeEnd: [UInt8](c.rangeEnd), startRevision: c.startRevision,
                    progressNotify: c.progressNotify, noPut: c.filters.contains(.noput), noDelete: c.filters.contains(.nodelete),
                    prevKV: c.prevKv, watchID: c.watchID, fragment: c.fragment)
    }

    private func serve(_ requests: RPCAsyncSequence<Etcdserverpb_WatchRequest, any Error>, _ writer: RPCWriter<WatchFrame>) async throws {
        try member.refuseIfLearner()
        let hub = member.hub
        let (signals, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let stream = hub.openStream(onReadable: { signal.yield() })
        defer { hub.close(stream) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await request in requests {
                    switch request.requestUnion {
                    case .createRequest(let c): hub.watch(Self.create(c), on: stream)
                    case .cancelRequest(let c): hub.cancel(c.watchID, on: stream)
                    case .progressRequest: hub.requestProgress(on: stream)
                    case nil: break
                    }
                    signal.yield()
                }
                // A client that closes its side still gets its events until it cancels the call.
                while true { try await Task.sleep(for: .seconds(3600)) }
            }
            group.addTask { [progressInterval] in
                while true {
                    try await Task.sleep(for: progressInterval)
                    hub.tickProgress([stream])
                }
            }
            group.addTask {
                for await _ in signals {
                    while true {
                        let frames = hub.drain(stream, max: 256)
                        if frames.isEmpty { break }
                        // One write per batch: each awaited write is a hop to the connection's event loop.
                        try await writer.write(contentsOf: frames)
                    }
                }
            }
            // The call ends when the client cancels it or goes away (its request stream fails, a
            // write fails); the other half then stops too.
            _ = try await group.next()
            group.cancelAll()
        }
    }
}

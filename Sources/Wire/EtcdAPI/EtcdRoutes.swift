import EtcdProto
import Foundation
public import GRPCServer
import GRPCWire
import NIOCore
public import StoreServer
import SwiftProtobuf

/// etcd's v3 gRPC methods, by path, for `CallServer`: KV, Watch, Lease, Cluster and Maintenance.
/// (Auth is not built: its paths are unknown to the server, which answers UNIMPLEMENTED.)
public enum EtcdRoutes {
    public static func make(
        member: Member, identity: MemberIdentity, progressInterval: Duration = .seconds(600),
        newMemberID: @escaping @Sendable ([String]) -> UInt64
    ) -> [String: GRPCServer.Method] {
        let kv = KVService(member: member, identity: identity)
        let maintenance = MaintenanceService(member: member, identity: identity)
        let lease = LeaseService(member: member, identity: identity)
        let cluster = ClusterService(member: member, identity: identity, newMemberID: newMemberID)
        let watch = WatchService(member: member, identity: identity, progressInterval: progressInterval)
        return [
            "/etcdserverpb.KV/Range": replying(kv.range),
            "/etcdserverpb.KV/Put": replying(kv.put),
            "/etcdserverpb.KV/DeleteRange": replying(kv.deleteRange),
            "/etcdserverpb.KV/Txn": replying(kv.txn),
            "/etcdserverpb.KV/Compact": replying(kv.compact),
            "/etcdserverpb.Watch/Watch": watch.method,
            "/etcdserverpb.Lease/LeaseGrant": unary(lease.leaseGrant),
            "/etcdserverpb.Lease/LeaseRevoke": unary(lease.leaseRevoke),
            "/etcdserverpb.Lease/LeaseKeepAlive": each(lease.leaseKeepAlive),
            "/etcdserverpb.Lease/LeaseTimeToLive": unary(lease.leaseTimeToLive),
            "/etcdserverpb.Lease/LeaseLeases": unary(lease.leaseLeases),
            "/etcdserverpb.Cluster/MemberAdd": unary(cluster.memberAdd),
            "/etcdserverpb.Cluster/MemberRemove": unary(cluster.memberRemove),
            "/etcdserverpb.Cluster/MemberUpdate": unary(cluster.memberUpdate),
            "/etcdserverpb.Cluster/MemberList": unary(cluster.memberList),
            "/etcdserverpb.Cluster/MemberPromote": unary(cluster.memberPromote),
            "/etcdserverpb.Maintenance/Alarm": unary(maintenance.alarm),
            "/etcdserverpb.Maintenance/Status": unary(maintenance.status),
            "/etcdserverpb.Maintenance/Defragment": unary(maintenance.defragment),
            "/etcdserverpb.Maintenance/Hash": unary(maintenance.hash),
            "/etcdserverpb.Maintenance/HashKV": unary(maintenance.hashKV),
            "/etcdserverpb.Maintenance/Snapshot": serverStreaming(maintenance.snapshot),
            "/etcdserverpb.Maintenance/MoveLeader": unary(maintenance.moveLeader)
        ]
    }

    /// The gRPC status for what a handler threw.
    static func status(_ error: any Error) -> GRPCStatus {
        switch error {
        case let e as GRPCStatus: e
        default: GRPCStatus(.unknown, "\(error)")
        }
    }

    static func decode<Request: SwiftProtobuf.Message>(_ bytes: [UInt8]) throws(GRPCStatus) -> Request {
        do { return try Request(serializedBytes: bytes) } catch {
            throw GRPCStatus.internalError("grpc: error unmarshalling request: \(error)")
        }
    }

    /// A unary method: decode, run the handler as a task on the call's event loop, encode.
    static func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ handler: @escaping @Sendable (Request) async throws -> Response
    ) -> GRPCServer.Method {
        .unary { bytes, call in
            let request: Request
            do { request = try decode(bytes) } catch { return call.fail(status(error)) }
            Task(executorPreference: call.executor) {
                do { call.respond(try await handler(request).serializedBytes()) } catch { call.fail(status(error)) }
            }
        }
    }

    /// A unary method that answers through a `Reply` (the KV methods): no task per call; the
    /// response is made and encoded on the call's event loop.
    static func replying<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ handler: @escaping @Sendable (Request, @escaping Reply<Response>) -> Void
    ) -> GRPCServer.Method {
        .unary { bytes, call in
            let request: Request
            do { request = try decode(bytes) } catch { return call.fail(status(error)) }
            handler(request) { make in
                call.complete {
                    do { return .success(try make().serializedBytes()) } catch { return .failure(status(error)) }
                }
            }
        }
    }

    /// A bidirectional method that answers each request with one response (LeaseKeepAlive).
    /// Requests are answered concurrently; the call stays open until the client ends it.
    static func each<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ handler: @escaping @Sendable (Request) async throws -> Response
    ) -> GRPCServer.Method {
        .streaming { stream in EachRequest(stream: stream, handler: handler) }
    }

    /// A server-streaming method: one request, then the handler writes responses (with the
    /// stream's back-pressure) and the call ends with its status.
    static func serverStreaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        _ handler: @escaping @Sendable (Request, (Response) async throws -> Void) async throws -> Void
    ) -> GRPCServer.Method {
        .streaming { stream in ServerStreamingCall(stream: stream, handler: handler) }
    }
}

/// A call answering each request with one response, concurrently.
final class EachRequest<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>: StreamReceiver {
    let stream: ServerStream
    let handler: @Sendable (Request) async throws -> Response
    /// Requests being answered: at most `limit`, so that a client pipelining without reading
    /// cannot pile up work.
    private var inFlight = 0
    private let limit = 10_000
    private var over = false

    init(stream: ServerStream, handler: @escaping @Sendable (Request) async throws -> Response) {
        self.stream = stream
        self.handler = handler
    }

    func received(_ message: [UInt8]) {
        guard !over else { return }
        let request: Request
        do { request = try EtcdRoutes.decode(message) } catch { return end(error) }
        guard inFlight < limit else { return end(.resourceExhausted("too many requests in flight on this stream")) }
        inFlight += 1
        let me = NIOLoopBoundBox(self, eventLoop: stream.eventLoop)
        Task(executorPreference: stream.executor) { [stream, handler] in
            do {
                let answer = try await handler(request).serializedBytes() as [UInt8]
                stream.send([answer])
            } catch {
                stream.finish(EtcdRoutes.status(error))
            }
            stream.eventLoop.execute { me.value.inFlight -= 1 }
        }
    }

    private func end(_ status: GRPCStatus) {
        over = true
        stream.finish(status)
    }

    func requestsEnded() {}
    func ended() { over = true }
}

/// A call with one request and a stream of responses.
final class ServerStreamingCall<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>: StreamReceiver {
    let stream: ServerStream
    let handler: @Sendable (Request, (Response) async throws -> Void) async throws -> Void
    private var task: Task<Void, Never>?

    init(stream: ServerStream, handler: @escaping @Sendable (Request, (Response) async throws -> Void) async throws -> Void) {
        self.stream = stream
        self.handler = handler
    }

    func received(_ message: [UInt8]) {
        guard task == nil else { return stream.finish(GRPCStatus(.internalError, "grpc: this method takes one request message")) }
        let request: Request
        do { request = try EtcdRoutes.decode(message) } catch { return stream.finish(error) }
        task = Task(executorPreference: stream.executor) { [stream, handler] in
            do {
                try await handler(request) { response in try await stream.write(response.serializedBytes()) }
                stream.finish()
            } catch {
                stream.finish(EtcdRoutes.status(error))
            }
        }
    }

    func requestsEnded() {
        if task == nil { stream.finish(.internalError("grpc: the client sent no request message")) }
    }

    func ended() { task?.cancel() }
}

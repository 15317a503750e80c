import ArgumentParser
import EtcdProto
import Foundation
import GRPCServer
import NIOCore
import NIOPosix
import SwiftProtobuf

/// `capstan debug null-server`: answers etcd's KV calls at once without storing anything, to
/// measure the ceiling of a client or load generator on this machine (what it reaches against a
/// server that costs nearly nothing). Put, DeleteRange and Txn answer an empty response with
/// revision 1; Range answers no keys. Not an etcd: nothing is kept.
struct NullServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "null-server",
        abstract: "Answer etcd KV calls without storing anything (to measure a client's own ceiling)."
    )

    @Option(help: "Listen on this address (host:port).")
    var listen = "127.0.0.1:2379"

    @Option(help: "Answer each call this many microseconds after it arrives (a server's latency, without its CPU).")
    var delayMicroseconds = 0

    func validate() throws {
        guard (0...60_000_000).contains(delayMicroseconds) else {
            throw ValidationError("--delay-microseconds must be between 0 and 60000000 (60 s)")
        }
    }

    func run() async throws {
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--listen takes host:port") }
        var header = Etcdserverpb_ResponseHeader()
        header.revision = 1
        var put = Etcdserverpb_PutResponse()
        var range = Etcdserverpb_RangeResponse()
        var delete = Etcdserverpb_DeleteRangeResponse()
        var txn = Etcdserverpb_TxnResponse()
        put.header = header
        range.header = header
        delete.header = header
        txn.header = header
        txn.succeeded = true
        let answers: [String: [UInt8]] = [
            "/etcdserverpb.KV/Put": try put.serializedBytes(),
            "/etcdserverpb.KV/Range": try range.serializedBytes(),
            "/etcdserverpb.KV/DeleteRange": try delete.serializedBytes(),
            "/etcdserverpb.KV/Txn": try txn.serializedBytes()
        ]
        let delay = TimeAmount.microseconds(Int64(delayMicroseconds))
        let routes = answers.mapValues { answer in
            GRPCServer.Method.unary { _, call in
                if delay == .zero { return call.respond(answer) }
                call.eventLoop.scheduleTask(in: delay) { call.respond(answer) }
            }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await CallServer.bind(host: String(parts[0]), port: port, group: group, routes: routes)
        FileHandle.standardError.write(Data("capstan debug null-server: answering KV calls on \(parts[0]):\(server.port)\n".utf8))
        await server.waitUntilClosed()
    }
}

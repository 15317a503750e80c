// swift-tools-version: 6.2
import PackageDescription

/// Swift settings shared by every target: Swift 6 language mode, the two upcoming features the
/// codebases we learn from use, and warnings treated as errors (in our targets only).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error)
]

let package = Package(
    name: "capstan",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "capstan", targets: ["capstan"]),
        .library(name: "Raft", targets: ["Raft"]),
        .library(name: "RaftSimulation", targets: ["RaftSimulation"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "MVCC", targets: ["MVCC"]),
        .library(name: "EtcdAPI", targets: ["EtcdAPI"]),
        .library(name: "EtcdClient", targets: ["EtcdClient"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // The apiserver's HTTP/1.1 and HTTP/2 over TLS; without swift-configuration (not used).
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4")
    ],
    targets: [
        // MARK: Base — one of each primitive: the lock, the seeded generator, the byte reader.

        .target(name: "Base", path: "Sources/Base", swiftSettings: strictSettings),

        // MARK: Store — Raft → Storage → MVCC → the member. Never imports the wire layer.

        // The consensus core: a pure, synchronous state machine. No I/O, clock, threads or async.
        .target(name: "Raft", dependencies: ["Base"], path: "Sources/Store/Raft", swiftSettings: strictSettings),
        // The system liblz4 (Debian: liblz4-dev), for compressing snapshots.
        .systemLibrary(name: "CLZ4", path: "Sources/Store/CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // The CPU's CRC-32C instruction (SSE4.2), chosen at run time.
        .target(name: "CCRC32C", path: "Sources/Store/CCRC32C"),
        // Durable storage: the write-ahead log, snapshot files, and the Raft log on them.
        .target(
            name: "Storage", dependencies: ["Base", "Raft", "CLZ4", "CCRC32C"], path: "Sources/Store/Storage",
            swiftSettings: strictSettings),
        // The replicated state machine: the revisioned key space, leases and the watch hub.
        .target(name: "MVCC", dependencies: ["Base", "Raft", "Storage"], path: "Sources/Store/MVCC", swiftSettings: strictSettings),
        // A store member: the Raft core driven with the durable log, the state machine and the watch
        // hub; the peer transport; metrics and health.
        .target(
            name: "StoreServer",
            dependencies: [
                "Base", "Raft", "Storage", "MVCC", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log")
            ],
            path: "Sources/Store/StoreServer",
            swiftSettings: strictSettings
        ),

        // MARK: Wire — HTTP/2 framing, the gRPC server, etcd's messages and the etcd v3 API.

        // gRPC's wire below the calls: HTTP/2 frames read and written from a connection's bytes
        // (RFC 9113) with flow control, and gRPC's status: shared by the server and the bench client.
        .target(
            name: "GRPCWire", dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            path: "Sources/Wire/GRPCWire", swiftSettings: strictSettings),
        // The client port's gRPC server, on GRPCWire: no stream channel, task or async sequence
        // per call (grpc-swift-2's server cost several times more per call; docs/benchmarks.md).
        .target(
            name: "GRPCServer",
            dependencies: [
                "Base", "GRPCWire", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2")
            ],
            path: "Sources/Wire/GRPCServer",
            swiftSettings: strictSettings
        ),
        // etcd's v3 messages and services, generated by tools/gen-protos.sh from Protos/ (committed,
        // never regenerated by CI). Generated code: built without the strict settings.
        .target(
            name: "EtcdProto",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
            ],
            path: "Sources/Wire/EtcdProto"
        ),
        // etcd's watch responses on the wire: the encoder the watch hub writes its responses with.
        .target(name: "EtcdWire", dependencies: ["MVCC"], path: "Sources/Wire/EtcdWire", swiftSettings: strictSettings),
        // The etcd v3 API over the member: wire mapping, etcd's error shapes, the methods' table.
        .target(
            name: "EtcdAPI",
            dependencies: [
                "Base", "EtcdProto", "EtcdWire", "MVCC", "Raft", "StoreServer", "GRPCServer", "GRPCWire",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"), .product(name: "NIOCore", package: "swift-nio")
            ],
            path: "Sources/Wire/EtcdAPI",
            swiftSettings: strictSettings
        ),

        // MARK: Clients — what other programs (and the control plane) use to reach a server.

        // A Swift client for etcd's v3 API: endpoints with fail-over, KV, Txn, watch, leases.
        .target(
            name: "EtcdClient",
            dependencies: [
                "Base", "EtcdProto", .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")
            ],
            path: "Sources/Clients/EtcdClient",
            swiftSettings: strictSettings
        ),

        // MARK: ControlPlane — the Kubernetes control plane; reaches a store only through the etcd v3 API.

        // The object model: the resources and their schemas (derived from Kubernetes 1.32's API
        // definition by tools/gen-kube-resources.py), codecs, selectors, patches.
        .target(name: "APIMachinery", path: "Sources/ControlPlane/APIMachinery", swiftSettings: strictSettings),
        // The apiserver: discovery, the request pipeline, storage through EtcdClient, the watch cache.
        .target(
            name: "APIServer",
            dependencies: [
                "Base", "APIMachinery", "EtcdClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"), .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus")
            ],
            path: "Sources/ControlPlane/APIServer",
            // The OpenAPI documents tools/gen-kube-openapi.py derives from Kubernetes 1.32's definition.
            resources: [.copy("OpenAPI")],
            swiftSettings: strictSettings),

        // MARK: Tools — programs that measure a server from outside. Never import a server.

        // `capstan bench`'s workloads: etcd's benchmark tool's, against any etcd v3 endpoint.
        .target(
            name: "Bench",
            dependencies: [
                "Base", "EtcdProto", "EtcdClient", "GRPCWire",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2")
            ],
            path: "Sources/Tools/Bench",
            swiftSettings: strictSettings
        ),

        // MARK: Nodes — a process's composition of rooms into services.

        // One store member as a process runs it: member, peers, client port, metrics and health,
        // periodic jobs, as a swift-service-lifecycle Service.
        .target(
            name: "StoreNode",
            dependencies: [
                "Raft", "Storage", "MVCC", "StoreServer", "EtcdAPI", "EtcdWire", "GRPCServer",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ],
            path: "Sources/Nodes/StoreNode",
            swiftSettings: strictSettings
        ),

        // MARK: Testing — test support: imported by tests and the test-support subcommands only.

        // The deterministic simulator, its checkers and the transcript driver.
        .target(
            name: "RaftSimulation", dependencies: ["Base", "Raft"], path: "Sources/Testing/RaftSimulation", swiftSettings: strictSettings),
        // A simulated file system with crashes and injected faults.
        .target(
            name: "StorageTestSupport", dependencies: ["Base", "Storage"], path: "Sources/Testing/StorageTestSupport",
            swiftSettings: strictSettings),
        // History checkers for the robustness harness: linearizability (Wing-Gong with memoization,
        // per-key partitions) and its models, watch guarantees, revisions.
        .target(name: "Checker", path: "Sources/Testing/Checker", swiftSettings: strictSettings),
        // The robustness harness: real members, recording clients and watchers, one fault per run,
        // the history checked (`capstan robustness`, and the end-to-end tests); the wire fuzzer.
        .target(
            name: "Robustness",
            dependencies: [
                "Base", "Bench", "Checker", "EtcdClient", "EtcdProto",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport")
            ],
            path: "Sources/Testing/Robustness",
            swiftSettings: strictSettings),

        // MARK: The executable — flags → config → service.

        .executableTarget(
            name: "capstan",
            dependencies: [
                "Raft", "RaftSimulation", "Storage", "MVCC", "EtcdWire", "StoreServer", "StoreNode", "EtcdProto", "Bench", "GRPCServer",
                "Robustness", "APIServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ],
            swiftSettings: strictSettings
        ),

        // MARK: Tests — Tests/<room>/<Target>Tests mirrors Sources/<room>/<Target>.

        .testTarget(
            name: "RaftTests", dependencies: ["Base", "Raft", "RaftSimulation"], path: "Tests/Store/RaftTests",
            exclude: ["testdata"], swiftSettings: strictSettings),
        .testTarget(
            name: "StorageTests", dependencies: ["Base", "Storage", "StorageTestSupport", "Raft"],
            path: "Tests/Store/StorageTests", swiftSettings: strictSettings),
        .testTarget(
            name: "MVCCTests", dependencies: ["Base", "MVCC", "Raft", "Storage", "EtcdWire"], path: "Tests/Store/MVCCTests",
            swiftSettings: strictSettings),
        .testTarget(
            name: "StoreServerTests",
            dependencies: [
                "Base", "StoreServer", "MVCC", "EtcdWire", "Raft", .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log")
            ],
            path: "Tests/Store/StoreServerTests", swiftSettings: strictSettings),
        .testTarget(
            name: "GRPCServerTests",
            dependencies: [
                "Base", "GRPCServer", "GRPCWire", "Bench",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2")
            ],
            path: "Tests/Wire/GRPCServerTests", swiftSettings: strictSettings),
        .testTarget(
            name: "EtcdAPITests",
            dependencies: [
                "EtcdAPI", "EtcdProto", "EtcdWire", "MVCC", "GRPCWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf")
            ],
            path: "Tests/Wire/EtcdAPITests", swiftSettings: strictSettings),
        .testTarget(
            name: "BenchTests",
            dependencies: [
                "Bench", "EtcdProto", "EtcdClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "SwiftProtobuf", package: "swift-protobuf")
            ],
            path: "Tests/Tools/BenchTests", swiftSettings: strictSettings),
        .testTarget(
            name: "RaftSimulationTests", dependencies: ["Raft", "RaftSimulation"], path: "Tests/Testing/RaftSimulationTests",
            swiftSettings: strictSettings),
        .testTarget(
            name: "CheckerTests", dependencies: ["Base", "Checker"], path: "Tests/Testing/CheckerTests",
            swiftSettings: strictSettings),
        .testTarget(
            name: "APIMachineryTests", dependencies: ["APIMachinery"], path: "Tests/ControlPlane/APIMachineryTests",
            swiftSettings: strictSettings),
        .testTarget(
            name: "APIServerTests", dependencies: ["APIMachinery", "APIServer"], path: "Tests/ControlPlane/APIServerTests",
            swiftSettings: strictSettings),
        // Real processes: `capstan store` driven by the real etcdctl, clients, TLS, the harness.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Base", "EtcdClient", "EtcdProto", "Checker", "Robustness"
            ],
            swiftSettings: strictSettings)
    ],
    swiftLanguageModes: [.v6]
)

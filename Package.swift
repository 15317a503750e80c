// swift-tools-version: 6.2
import PackageDescription

/// Swift settings shared by every target: Swift 6 language mode, the two upcoming features the
/// codebases we learn from use, and warnings treated as errors (in our targets only).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // The consensus core: a pure, synchronous state machine. No I/O, clock, threads or async.
        .target(name: "Raft", swiftSettings: strictSettings),
        // Test support: the deterministic simulator, its checkers and the transcript driver.
        .target(name: "RaftSimulation", dependencies: ["Raft"], swiftSettings: strictSettings),
        // The system liblz4 (Debian: liblz4-dev), for compressing snapshots.
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // The CPU's CRC-32C instruction (SSE4.2), chosen at run time.
        .target(name: "CCRC32C"),
        // Durable storage: the write-ahead log, snapshot files, and the Raft log on them.
        .target(name: "Storage", dependencies: ["Raft", "CLZ4", "CCRC32C"], swiftSettings: strictSettings),
        // The replicated state machine: the revisioned key space, leases and the watch hub.
        .target(name: "MVCC", dependencies: ["Raft", "Storage"], swiftSettings: strictSettings),
        // Test support: a simulated file system with crashes and injected faults.
        .target(name: "StorageTestSupport", dependencies: ["Storage"], swiftSettings: strictSettings),
        .executableTarget(
            name: "capstan",
            dependencies: [
                "Raft", "RaftSimulation", "Storage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "RaftTests", dependencies: ["Raft", "RaftSimulation"],
                    exclude: ["testdata"], swiftSettings: strictSettings),
        .testTarget(name: "RaftSimulationTests", dependencies: ["Raft", "RaftSimulation"],
                    swiftSettings: strictSettings),
        .testTarget(name: "MVCCTests", dependencies: ["MVCC", "Raft", "Storage"], swiftSettings: strictSettings),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "StorageTestSupport", "Raft", "RaftSimulation"],
                    swiftSettings: strictSettings),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// A path dependency is named after its folder, which differs between checkouts.
let rootPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .lastPathComponent

// The micro-benchmarks live in their own package so that the main package's build and tests
// (what CI runs) do not build the benchmark framework. Run from this folder:
//   swift package --allow-writing-to-package-directory benchmark
let package = Package(
    name: "capstan-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RaftCommit",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Raft", package: rootPackage),
                .product(name: "RaftSimulation", package: rootPackage),
            ],
            path: "Benchmarks/RaftCommit",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MVCCOps",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MVCC", package: rootPackage),
            ],
            path: "Benchmarks/MVCCOps",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .target(name: "CHeapStats", path: "Sources/CHeapStats"),
        .executableTarget(
            name: "MVCCMemory",
            dependencies: ["CHeapStats", .product(name: "MVCC", package: rootPackage)],
            path: "Benchmarks/MVCCMemory"
        ),
        .executableTarget(
            name: "StorageBench",
            dependencies: [
                .product(name: "Raft", package: rootPackage),
                .product(name: "Storage", package: rootPackage),
            ],
            path: "Benchmarks/StorageBench"
        ),
    ],
    swiftLanguageModes: [.v6]
)

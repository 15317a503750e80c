// swift-tools-version: 6.1
import PackageDescription

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
                .product(name: "Raft", package: "capstan"),
                .product(name: "RaftSimulation", package: "capstan"),
            ],
            path: "Benchmarks/RaftCommit",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

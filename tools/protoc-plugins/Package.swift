// swift-tools-version: 6.1
import PackageDescription

// Builds the two protoc plugins from the package copies, for tools/gen-protos.sh only (CI never
// regenerates: the generated code is committed).
let package = Package(
    name: "capstan-protoc-plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    ],
    targets: []
)

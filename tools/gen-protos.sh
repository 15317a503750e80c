#!/usr/bin/env bash
# gen-protos.sh - regenerate Sources/Wire/EtcdProto from Protos/ (run after changing a .proto;
# CI never runs it, the generated code is committed).
# Needs protoc (Debian: apt-get install -y protobuf-compiler). The plugins are built from the
# package copies (swift-protobuf 1.39.0, grpc-swift-protobuf 2.4.1) into .build-protoc-plugins.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRATCH="$ROOT/.build-protoc-plugins"
PLUGINS="$ROOT/tools/protoc-plugins"
for product in protoc-gen-swift protoc-gen-grpc-swift-2; do
  swift build -c release --package-path "$PLUGINS" --scratch-path "$SCRATCH" --product "$product"
done
BIN="$(swift build -c release --package-path "$PLUGINS" --scratch-path "$SCRATCH" --show-bin-path)"
OUT="$ROOT/Sources/Wire/EtcdProto"
rm -rf "$OUT"
mkdir -p "$OUT"
protoc --version
protoc \
  --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" \
  -I "$ROOT/Protos" \
  --swift_out="$OUT" --swift_opt=Visibility=Public,FileNaming=PathToUnderscores \
  --grpc-swift-2_out="$OUT" --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true,FileNaming=PathToUnderscores \
  "$ROOT/Protos/mvccpb/kv.proto" "$ROOT/Protos/etcdserverpb/rpc.proto"
# kv.proto has no services: its gRPC file would be empty.
rm -f "$OUT/mvccpb_kv.grpc.swift"
ls -l "$OUT"

#!/usr/bin/env bash
# Regenerates Sources/Support/ONNXSupport/Generated/onnx.pb.swift from the onnx.proto kept beside it (copied from the
# onnx 1.23.2 Python package, onnx/onnx.proto). Needs protoc (Debian's protobuf-compiler) and swift-protobuf's
# protoc-gen-swift at the version Package.swift names (1.39.0): build it once from a checkout of apple/swift-protobuf
# with `swift build -c release --product protoc-gen-swift` and pass its path, e.g.
#   scripts/generate-onnx-proto.sh ../swift-protobuf/.build/release/protoc-gen-swift
# The generated file is committed: building the plugin takes about ten minutes here, the runtime library far less.
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=${1:?usage: scripts/generate-onnx-proto.sh PATH/TO/protoc-gen-swift}
folder=Sources/Support/ONNXSupport
protoc --plugin=protoc-gen-swift="$plugin" --proto_path="$folder/Proto" \
    --swift_opt=Visibility=Package --swift_opt=FileNaming=DropPath \
    --swift_out="$folder/Generated" "$folder/Proto/onnx.proto"
echo "wrote $folder/Generated/onnx.pb.swift"

// swift-tools-version: 6.0
import PackageDescription

// The layers, bottom up (docs/architecture.md; Tests/ArchitectureTests checks that imports only point down):
//   C libraries  →  support wrappers  →  MLPCore  →  MLPDocument  →  one module per format  →  MLPModelFiles
//   MLPDataFiles beside the formats; the mlpconv command on top, and mlpconv-reader, the helper process the
//   libraries read HDF5 files in (ReadIsolation).
// Libraries users see: MLPCore, MLPDocument, MLPModelFiles, MLPDataFiles. Everything else is package-internal.

let package = Package(
    name: "mlpconv",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "MLPCore", targets: ["MLPCore"]),
        .library(name: "MLPDocument", targets: ["MLPDocument"]),
        .library(name: "MLPModelFiles", targets: ["MLPModelFiles"]),
        .library(name: "MLPDataFiles", targets: ["MLPDataFiles"]),
        .executable(name: "mlpconv", targets: ["mlpconv"]),
        .executable(name: "mlpbench", targets: ["mlpbench"]),
        .executable(name: "mlpconv-reader", targets: ["mlpconv-reader"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // ONNX's protobuf messages, generated from onnx.proto (scripts/generate-onnx-proto.sh) and committed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // Tests only: builds .npz and .keras archives (zip bombs, hostile members) independently of our writer.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // MARK: C libraries, each a small target with a shim

        .systemLibrary(name: "CBLAS", path: "Sources/C/CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", path: "Sources/C/CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        // The file driver for HDF5 files being written: it stops writing after the first failure, so that closing a
        // file on a full disk cannot fail (HDF5 1.10 crashes later on a file whose close failed).
        .target(name: "CHDF5Driver", dependencies: ["CHDF5"], path: "Sources/C/CHDF5Driver"),
        .systemLibrary(name: "CJSONC", path: "Sources/C/CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        // CRC-32C for the checksums native HDF5 and JSON files carry: SSE4.2 when available, slicing-by-8 otherwise.
        .target(name: "CCRC32C", path: "Sources/C/CCRC32C"),
        // zlib's CRC-32 and raw inflate, for the zip archives (.keras, .npz) read and written by ZipSupport.
        .target(name: "CZip", path: "Sources/C/CZip", linkerSettings: [.linkedLibrary("z")]),
        // The training step's element-wise loops with square roots, which Swift cannot vectorise (kernels.c).
        .target(name: "CKernels", path: "Sources/C/CKernels"),

        // MARK: Support wrappers: `package` API, no model knowledge

        .target(name: "TextSupport", path: "Sources/Support/TextSupport"),
        .target(name: "FileSupport", path: "Sources/Support/FileSupport"),
        .target(name: "HDF5Support", dependencies: ["CHDF5", "CHDF5Driver"], path: "Sources/Support/HDF5Support"),
        .target(name: "JSONSupport", dependencies: ["CJSONC"], path: "Sources/Support/JSONSupport"),
        .target(name: "ZipSupport", dependencies: ["CZip"], path: "Sources/Support/ZipSupport"),
        .target(
            name: "ONNXSupport", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/Support/ONNXSupport", exclude: ["Proto"]),
        // torch.save files: the restricted unpickler, the pickle writer and the zip container.
        .target(name: "PickleSupport", dependencies: ["ZipSupport", "FileSupport"], path: "Sources/Support/PickleSupport"),

        // MARK: The MLP: layers, activations, losses, optimizers, training. BLAS only, no file formats.

        .target(
            name: "MLPCore",
            dependencies: ["CBLAS", "CKernels", .product(name: "RealModule", package: "swift-numerics")]),

        // MARK: The model document every format decodes to and encodes from

        .target(name: "MLPDocument", dependencies: ["MLPCore"]),
        // What the formats share: the document's parts in the native JSON schema's form, wrapper errors as model-file errors.
        .target(
            name: "FormatSupport", dependencies: ["MLPDocument", "MLPCore", "JSONSupport", "HDF5Support", "FileSupport", "CCRC32C"],
            path: "Sources/Formats/FormatSupport"),

        // MARK: One module per format: detect, decode to a document, encode a document. None imports another.

        .target(
            name: "JSONFormat", dependencies: ["MLPDocument", "MLPCore", "FormatSupport", "JSONSupport", "FileSupport"],
            path: "Sources/Formats/JSONFormat"),
        .target(
            name: "HDF5Format", dependencies: ["MLPDocument", "MLPCore", "FormatSupport", "HDF5Support"],
            path: "Sources/Formats/HDF5Format"),
        .target(
            name: "KerasFormat",
            dependencies: ["MLPDocument", "MLPCore", "FormatSupport", "HDF5Support", "JSONSupport", "ZipSupport",
                           "FileSupport"],
            path: "Sources/Formats/KerasFormat"),
        .target(
            name: "SafetensorsFormat",
            dependencies: ["MLPDocument", "MLPCore", "FormatSupport", "JSONSupport"],
            path: "Sources/Formats/SafetensorsFormat"),
        .target(
            name: "ONNXFormat", dependencies: ["MLPDocument", "MLPCore", "FormatSupport", "ONNXSupport", "FileSupport"],
            path: "Sources/Formats/ONNXFormat"),
        .target(
            name: "TorchFormat",
            dependencies: ["MLPDocument", "MLPCore", "FormatSupport", "JSONSupport", "PickleSupport"],
            path: "Sources/Formats/TorchFormat"),

        // MARK: The façade: the one place that detects a file's format and picks its codec

        .target(
            name: "MLPModelFiles",
            dependencies: ["MLPDocument", "JSONFormat", "HDF5Format", "KerasFormat", "SafetensorsFormat", "TorchFormat", "ONNXFormat", "FormatSupport", "HDF5Support",
                           "ZipSupport", "FileSupport"]),

        // MARK: Training and prediction data (CSV, NPY/NPZ, HDF5 datasets): not models

        .target(
            name: "MLPDataFiles",
            dependencies: ["MLPCore", "MLPDocument", "HDF5Support", "ZipSupport", "FileSupport", "TextSupport"]),

        // MARK: Programs: libraries only, no C

        .executableTarget(
            name: "mlpconv",
            dependencies: ["MLPModelFiles", "MLPDocument", "MLPDataFiles", "MLPCore", "TextSupport", "FileSupport",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "mlpbench",
            dependencies: ["MLPCore", "MLPModelFiles", "MLPDocument", "MLPDataFiles",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // The helper process the libraries read HDF5-backed files in by default (ReadIsolation.helperProcess).
        .executableTarget(name: "mlpconv-reader", dependencies: ["MLPModelFiles", "MLPDataFiles"]),

        // MARK: Tests, one target per module, plus helpers they share and the layering check

        .target(
            name: "TestSupport",
            dependencies: ["CHDF5", "MLPCore", "MLPDocument", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            path: "Tests/TestSupport"),
        .testTarget(name: "MLPCoreTests", dependencies: ["MLPCore", "TestSupport"]),
        .testTarget(name: "TextSupportTests", dependencies: ["TextSupport"]),
        .testTarget(name: "FileSupportTests", dependencies: ["FileSupport", "TestSupport"]),
        // CHDF5 too: the tests build hostile files (external links, external storage, virtual datasets) that the
        // wrappers themselves never write.
        .testTarget(name: "HDF5SupportTests", dependencies: ["HDF5Support", "CHDF5", "TestSupport"]),
        .testTarget(name: "JSONSupportTests", dependencies: ["JSONSupport", "TestSupport"]),
        .testTarget(name: "ZipSupportTests", dependencies: ["ZipSupport", "CZip", "TestSupport"]),
        .testTarget(name: "PickleSupportTests", dependencies: ["PickleSupport", "ZipSupport"]),
        .testTarget(name: "MLPDocumentTests", dependencies: ["MLPDocument", "MLPCore"]),
        .testTarget(
            name: "JSONFormatTests",
            dependencies: ["JSONFormat", "JSONSupport", "FormatSupport", "MLPDocument", "MLPCore", "TestSupport"]),
        .testTarget(
            name: "HDF5FormatTests",
            dependencies: ["HDF5Format", "HDF5Support", "CHDF5", "CCRC32C", "MLPModelFiles", "MLPDocument", "MLPCore",
                           "TestSupport"]),
        .testTarget(
            name: "KerasFormatTests",
            dependencies: ["KerasFormat", "HDF5Support", "JSONSupport", "MLPModelFiles", "MLPDocument", "MLPCore",
                           "TestSupport", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        .testTarget(
            name: "TorchFormatTests",
            dependencies: ["TorchFormat", "PickleSupport", "FormatSupport", "MLPModelFiles", "MLPDocument", "MLPCore",
                           "TestSupport"]),
        .testTarget(
            name: "SafetensorsFormatTests",
            dependencies: ["SafetensorsFormat", "FormatSupport", "MLPModelFiles", "MLPDocument", "MLPCore", "TestSupport"]),
        .testTarget(
            name: "ONNXFormatTests",
            dependencies: ["ONNXFormat", "ONNXSupport", "FormatSupport", "MLPModelFiles", "MLPDocument", "MLPCore",
                           "TestSupport"]),
        .testTarget(
            name: "MLPModelFilesTests",
            dependencies: ["MLPModelFiles", "MLPDocument", "MLPCore", "TestSupport", "mlpconv-reader"]),
        .testTarget(
            name: "MLPDataFilesTests",
            dependencies: ["MLPDataFiles", "MLPCore", "MLPDocument", "HDF5Support", "CHDF5", "TestSupport", "mlpconv-reader", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        // End-to-end tests run the built `mlpconv` binary.
        .testTarget(
            name: "mlpconvTests",
            dependencies: ["mlpconv", "MLPModelFiles", "MLPDocument", "MLPDataFiles", "MLPCore", "TestSupport",
                           // The bad-input catalogue crafts HDF5 files and zip archives no writer makes.
                           "HDF5Format", "HDF5Support", "CHDF5", "ZipSupport",
                           .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        .testTarget(name: "ArchitectureTests"),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets for the pure-Swift readers (docs/robustness.md, "Fuzzing"), only when scripts/fuzz.sh asks for
// them: the binary has no main of its own (libFuzzer's), so it links only with `-sanitize=fuzzer`.
if Context.environment["MLPCONV_FUZZ"] == "1" {
    package.targets.append(.executableTarget(
        name: "mlpfuzz",
        dependencies: ["JSONSupport", "ZipSupport", "PickleSupport", "HDF5Support", "MLPDocument", "MLPCore",
                       "JSONFormat", "KerasFormat", "SafetensorsFormat", "TorchFormat", "ONNXFormat", "MLPDataFiles"]))
}

// A member of a type is visible only where its module is imported, so no module reaches an API of a module it
// does not import (Swift otherwise finds extensions of any module loaded indirectly).
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("MemberImportVisibility")]
}

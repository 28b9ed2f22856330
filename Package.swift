// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "mlpconv",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "MLPCore", targets: ["MLPCore"]),
        .library(name: "MLPCodecs", targets: ["MLPCodecs"]),
        .executable(name: "mlpconv", targets: ["mlpconv"]),
        .executable(name: "mlpbench", targets: ["mlpbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // .npz data files are zip archives; read in memory, never extracted.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // C system libraries, found through pkg-config; each shim.h wraps what Swift cannot import.
        .systemLibrary(
            name: "CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CJSONC", pkgConfig: "json-c",
            providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),

        // The MLP: layers, activations, losses, optimizers, training. BLAS only, no file formats.
        .target(
            name: "MLPCore",
            dependencies: [
                "CBLAS",
                .product(name: "RealModule", package: "swift-numerics"),
            ]),
        // CRC-32C for the checksums model files carry (SSE4.2 when available, slicing-by-8 otherwise); zlib's
        // CRC-32 and raw inflate for the zip archives (.keras, .npz) that MLPCodecs reads and writes itself.
        .target(name: "CChecksum", linkerSettings: [.linkedLibrary("z")]),
        // Model files: HDF5 and json-c wrappers live here, private to the codecs.
        .target(name: "MLPCodecs", dependencies: ["MLPCore", "CHDF5", "CJSONC", "CChecksum"]),

        .executableTarget(
            name: "mlpconv",
            dependencies: ["MLPCodecs", "MLPCore", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "mlpbench",
            dependencies: ["MLPCore", "MLPCodecs", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .testTarget(name: "MLPCoreTests", dependencies: ["MLPCore"], resources: []),
        // CHDF5 too: the tests build hostile files (external links, external storage, virtual datasets) that the
        // codecs themselves never write.
        // ZIPFoundation to build .npz fixtures (zip bombs included) in the tests themselves.
        .testTarget(
            name: "MLPCodecsTests",
            dependencies: ["MLPCodecs", "CHDF5", "CChecksum", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        // End-to-end tests run the built `mlpconv` binary.
        // ZIPFoundation to build mutated .keras archives.
        .testTarget(
            name: "MLPConvTests",
            dependencies: ["mlpconv", "MLPCodecs", "MLPCore", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
    ],
    swiftLanguageModes: [.v6]
)

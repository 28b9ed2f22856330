import CHDF5
import Foundation
import Testing
import HDF5Support
import MLPDocument
@testable import HDF5Format
import TestSupport

// Files whose storage is hostile: declared sizes and bombs, foreign dtypes, data kept elsewhere, unclosed files.
@Suite("HDF5 model codec: hostile storage")
struct HDF5ModelCodecHostileStorageTests {
    @Test("huge declared shapes are refused before allocation: limit, sparse chunks, unwritten storage")
    func hugeDeclaredShapes() throws {
        let folder = try TemporaryFolder()
        var factory = DocumentFactory(seed: 1)
        let (path, _) = try writeSample(folder, factory.document(inputWidth: 2, units: [2], names: ["big"]))
        let huge = "{\"input_width\":1000000,\"layers\":[{\"name\":\"big\",\"units\":1000000,\"activation\":\"linear\",\"use_bias\":false}]}"
        try replaceArchitecture(path, huge)
        let float32 = mlp_H5T_IEEE_F32LE()
        try tamper(path) { file in
            try deleteLink(file, "weights/big")
            // A chunked, compressed 1e6 × 1e6 float32 dataset (4 TB) with no chunk written: a tiny file.
            try rawDataset(file, "weights/big/kernel", type: float32, shape: [1_000_000, 1_000_000], chunk: [1000, 1000], gzip: true)
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size < 20_000)
        #expect(readError(path) == "model.h5: /weights/big/kernel: shape [1000000, 1000000] of float32 decodes to 4000000000000 bytes, over the limit of 8589934592 bytes per tensor")
        let unlimited = LoadLimits(maxFileBytes: .max, maxTensorBytes: .max, maxTotalBytes: .max)
        #expect(readError(path, limits: unlimited) == "model.h5: /weights/big/kernel: declares 4000000000000 bytes of float32 but stores only 0 compressed bytes, more than gzip can expand to: chunks are missing or the sizes are forged")

        try tamper(path) { file in
            try deleteLink(file, "weights/big/kernel")
            try rawDataset(file, "weights/big/kernel", type: float32, shape: [1_000_000, 1_000_000], chunk: [1000, 1000])
        }
        #expect(readError(path, limits: unlimited) == "model.h5: /weights/big/kernel: declares 4000000000000 bytes of float32 but stores only 0: chunks are missing")

        try tamper(path) { file in
            try deleteLink(file, "weights/big/kernel")
            try rawDataset(file, "weights/big/kernel", type: float32, shape: [1_000_000, 1_000_000])
        }
        #expect(readError(path, limits: unlimited) == "model.h5: /weights/big/kernel: declares 4000000000000 bytes of float32 but stores no data (never written)")
    }

    @Test("a compression bomb is refused by its decoded size before anything is decompressed")
    func compressionBomb() throws {
        let folder = try TemporaryFolder()
        var factory = DocumentFactory(seed: 1)
        var document = factory.document(inputWidth: 2048, units: [2048], names: ["bomb"], useBias: [false])
        document.weights[0].kernel = Tensor(unchecked: [2048, 2048], storage: .float32([Float](repeating: 0, count: 2048 * 2048)))
        let (path, _) = try writeSample(folder, document, compress: true)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size < 200_000, "16 MiB of zeros stored in \(size) bytes")
        let limits = LoadLimits(maxFileBytes: 1 << 30, maxTensorBytes: 1 << 20, maxTotalBytes: 1 << 30)
        #expect(readError(path, limits: limits) == "model.h5: /weights/bomb/kernel: shape [2048, 2048] of float32 decodes to 16777216 bytes, over the limit of 1048576 bytes per tensor")
        let total = LoadLimits(maxFileBytes: 1 << 30, maxTensorBytes: 1 << 30, maxTotalBytes: 8 << 20)
        #expect(readError(path, limits: total) == "model.h5: the tensors need more than 8388608 bytes in total (the load limit); /weights/bomb/kernel passes it")
        let small = LoadLimits(maxFileBytes: 1000, maxTensorBytes: 1 << 30, maxTotalBytes: 1 << 30)
        #expect(readError(path, limits: small) == "model.h5: the file is \(size) bytes, over the limit of 1000")
        // Within the limits it loads.
        #expect(try HDF5ModelCodec.read(path: path, file: "model.h5", limits: LoadLimits()) == document)
    }

    @Test("dtypes other than IEEE float32/float64 little-endian are named")
    func unsupportedDtypes() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        let cases: [(hid_t, String)] = [
            (mlp_H5T_STD_I32LE(), "int32"),
            (mlp_H5T_IEEE_F32BE(), "float32 big-endian"),
            (mlp_H5T_STD_U8LE(), "uint8"),
        ]
        for (type, name) in cases {
            try tamper(path) { file in
                try deleteLink(file, "weights/dense/bias")
                try rawDataset(file, "weights/dense/bias", type: type, shape: [3])
            }
            #expect(readError(path) == "model.h5: /weights/dense/bias: unsupported dtype \(name); tensors must be IEEE float32 or float64, little-endian")
        }
        try tamper(path) { file in
            try deleteLink(file, "weights/dense/bias")
            _ = try file.createStringDataset("weights/dense/bias", text: "1.5")
        }
        #expect(readError(path) == "model.h5: /weights/dense/bias: unsupported dtype variable-length string; tensors must be IEEE float32 or float64, little-endian")
        // float16 (a non-IEEE-32/64 float class) too.
        try tamper(path) { file in
            try deleteLink(file, "weights/dense/bias")
            try HDF5Library.withHDF5 {
                let half = float16Type()
                defer { H5Tclose(half) }
                try rawDataset(file, "weights/dense/bias", type: half, shape: [3])
            }
        }
        #expect(readError(path) == "model.h5: /weights/dense/bias: unsupported dtype float16 (non-IEEE layout); tensors must be IEEE float32 or float64, little-endian")
    }

    @Test("external links, external raw storage, virtual datasets and unknown filters are refused by name")
    func refusedStorage() throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        let (source, _) = try writeSample(folder, name: "source.h5")
        try tamper(path) { file in
            try deleteLink(file, "weights/dense/kernel")
            try HDF5Library.withHDF5 {
                try #require(H5Lcreate_external(source, "/weights/dense/kernel", file.id, "weights/dense/kernel",
                                                mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()) >= 0)
            }
        }
        #expect(readError(path) == "model.h5: /weights/dense/kernel: external link to '/weights/dense/kernel' in file '\(source)'; external links are refused")

        try tamper(path) { file in
            try deleteLink(file, "weights/dense/kernel")
            try rawDataset(file, "weights/dense/kernel", type: mlp_H5T_IEEE_F32LE(), shape: [4, 3]) { dcpl in
                H5Pset_external(dcpl, folder.path("raw.bin"), 0, 48)
            }
        }
        #expect(readError(path) == "model.h5: /weights/dense/kernel: stores its data in 1 external file(s); external raw storage is refused")

        try tamper(path) { file in
            try deleteLink(file, "weights/dense/kernel")
            try HDF5Library.withHDF5 {
                var dims: [hsize_t] = [4, 3]
                let space = H5Screate_simple(2, &dims, nil)
                defer { H5Sclose(space) }
                try rawDataset(file, "weights/dense/kernel", type: mlp_H5T_IEEE_F32LE(), shape: dims) { dcpl in
                    H5Pset_virtual(dcpl, space, source, "/weights/dense/kernel", space)
                }
            }
        }
        #expect(readError(path) == "model.h5: /weights/dense/kernel: cannot describe dataset: virtual dataset (its data and even its shape come from other files) is refused")

        // An optional filter HDF5 does not know is recorded in the pipeline; reading would search for a plugin.
        try tamper(path) { file in
            try deleteLink(file, "weights/dense/kernel")
            var values = [Float](repeating: 1, count: 12)
            try rawDataset(file, "weights/dense/kernel", type: mlp_H5T_IEEE_F32LE(), shape: [4, 3], chunk: [4, 3],
                           data: &values) { dcpl in
                H5Pset_filter(dcpl, 32_000, UInt32(H5Z_FLAG_OPTIONAL), 0, nil)
            }
        }
        let message = readError(path) ?? ""
        #expect(message.hasPrefix("model.h5: /weights/dense/kernel: uses the HDF5 filter 32000 "), "\(message)")
        #expect(message.hasSuffix("only fletcher32, gzip, shuffle are accepted"), "\(message)")
    }

    @Test("a superblock marked open for write (writer killed) is reported as likely incomplete")
    func openForWrite() throws {
        let folder = try TemporaryFolder()
        let live = folder.path("live.h5"), copy = folder.path("copy.h5")
        // HDF5 1.10 sets the mark in superblock v3 files (libver 1.10, h5py's libver="latest") while they are open for writing; a copy
        // taken while the writer still holds the file is what a crash leaves behind.
        try HDF5Library.withHDF5 {
            let fapl = H5Pcreate(mlp_H5P_FILE_ACCESS())
            defer { H5Pclose(fapl) }
            try #require(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0)
            let id = H5Fcreate(live, mlp_H5F_ACC_TRUNC(), mlp_H5P_DEFAULT(), fapl)
            try #require(id >= 0)
            defer { H5Fclose(id) }
            try #require(H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0)
            try FileManager.default.copyItem(atPath: live, toPath: copy)
        }
        #expect(try fileBytes(copy)[11] == 1, "file consistency flags")
        #expect(readError(copy) == "model.h5: the file was not closed cleanly (its superblock is marked open for write): it is likely incomplete; if you trust it, `h5clear -s` clears the mark")
    }
}

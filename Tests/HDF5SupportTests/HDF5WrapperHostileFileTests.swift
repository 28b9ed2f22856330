import CHDF5
import Foundation
import Testing
@testable import HDF5Support
import TestSupport

// Files the wrappers must refuse or survive: unreadable ones, links and storage outside the file, huge declared sizes.
extension HDF5WrapperTests {
    @Test("missing, empty, non-HDF5 and truncated files fail with the path and HDF5's reason, silently")
    func unreadableFiles() throws {
        let folder = try TemporaryFolder()
        let good = folder.path("good.h5")
        try writeSampleFile(at: good)
        let goodBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))
        let cases: [(name: String, bytes: [UInt8]?, reason: String)] = [
            ("missing.h5", nil, "No such file or directory"),
            ("empty.h5", [], "file signature not found"),
            ("text.h5", Array("this is not an HDF5 file\n".utf8), "file signature not found"),
            ("truncated.h5", Array(goodBytes.prefix(goodBytes.count / 2)), "truncated file"),
        ]
        let baseline = openObjectCount(in: folder)
        for item in cases {
            let path = folder.path(item.name)
            if let bytes = item.bytes { try folder.write(item.name, bytes) }
            let (error, stderr) = try capturingStandardError {
                expectError(HDF5Error.self) { _ = try HDF5File.openReadOnly(at: path) }
            }
            let text = error?.description ?? ""
            #expect(error?.kind == .library)
            #expect(text.hasPrefix("\(path): /: cannot open file for reading: "), "\(text)")
            #expect(text.contains(item.reason), "\(text)")
            #expect(text.contains("H5Fopen()"), "the library's stack names the API call: \(text)")
            #expect(error?.libraryText.contains("File accessibility") == true, "\(text)")
            #expect(!stderr.contains("HDF5-DIAG"), "HDF5 printed: \(stderr)")
            #expect(!stderr.contains("H5F.c"), "HDF5 printed: \(stderr)")
        }
        #expect(openObjectCount(in: folder) == baseline)
    }

    @Test("errors on another thread are not printed either (the print switch is per thread)")
    func silentOnNewThread() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("junk.h5", Array(repeating: 0x55, count: 4096))
        let (message, stderr) = try capturingStandardError { () -> String in
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var message = ""
            let thread = Thread {
                do {
                    _ = try HDF5File.openReadOnly(at: path)
                } catch {
                    message = "\(error)"
                }
                done.signal()
            }
            thread.start()
            done.wait()
            return message
        }
        #expect(message.contains("file signature not found"))
        #expect(!stderr.contains("HDF5-DIAG"), "HDF5 printed: \(stderr)")
    }

    @Test("external links are listed as such and never followed")
    func externalLinks() throws {
        let folder = try TemporaryFolder()
        let targetPath = folder.path("target.h5")
        let mainPath = folder.path("main.h5")
        do {
            let target = try HDF5File.create(at: targetPath)
            let group = try target.createGroup("g")
            _ = try group.createDataset("d", shape: [1], values: [Float(1)])
        }
        do {
            let file = try HDF5File.create(at: mainPath)
            _ = try file.createGroup("local")
            try HDF5Library.withHDF5 {
                try #require(H5Lcreate_external(targetPath, "/g", file.id, "ext", mlp_H5P_DEFAULT(),
                                                 mlp_H5P_DEFAULT()) >= 0)
                // A soft link that leads to the external one: the per-component check alone would miss it.
                try #require(H5Lcreate_soft("/ext", file.id, "via_soft", mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()) >= 0)
            }
        }

        let file = try HDF5File.openReadOnly(at: mainPath)
        let members = try file.members()
        #expect(members == [
            HDF5Member(name: "ext", kind: .externalLink(file: targetPath, object: "/g")),
            HDF5Member(name: "local", kind: .group),
            HDF5Member(name: "via_soft", kind: .softLink(target: "/ext")),
        ])

        let direct = expectError(HDF5Error.self) { _ = try file.openGroup("ext") }
        #expect(direct?.kind == .refused)
        #expect(direct?.description == "\(mainPath): /ext: cannot open group: external link to '/g' in file '\(targetPath)'; external links are refused")

        let nested = expectError(HDF5Error.self) { _ = try file.openDataset("/ext/d") }
        #expect(nested?.kind == .refused)
        #expect(nested?.description == "\(mainPath): /ext/d: cannot open dataset: path goes through /ext, an external link to '/g' in file '\(targetPath)'; external links are refused")

        // Through a soft link: the message names the external link it leads to.
        let (viaSoft, stderr) = try capturingStandardError {
            expectError(HDF5Error.self) { _ = try file.openDataset("via_soft/d") }
        }
        #expect(viaSoft?.kind == .refused)
        #expect(viaSoft?.description == "\(mainPath): /via_soft/d: cannot open dataset: path goes through /ext, an external link to '/g' in file '\(targetPath)'; external links are refused")
        #expect(!stderr.contains("HDF5-DIAG"))

        // The library-level refusal (external-link callback) stands behind that check, e.g. for attribute
        // lookups by path that bypass it.
        let (raw, rawStderr) = try capturingStandardError {
            HDF5Library.withHDF5 { () -> (hid_t, String) in
                let dapl = H5Pcreate(mlp_H5P_DATASET_ACCESS())
                defer { H5Pclose(dapl) }
                H5Pset_elink_cb(dapl, { _, _, _, _, _, _, _ in -1 }, nil)
                let id = H5Dopen2(file.id, "via_soft/d", dapl)
                let text = HDF5Error.fromLibrary(file: mainPath, object: "/via_soft/d", operation: "open").description
                if id >= 0 { H5Dclose(id) }
                return (id, text)
            }
        }
        #expect(raw.0 < 0)
        #expect(raw.1.contains("H5L__extern_traverse"), "\(raw.1)")
        #expect(!rawStderr.contains("HDF5-DIAG"))

        // A soft-link cycle ends with an error, not a hang.
        do {
            let cyclic = try HDF5File.create(at: folder.path("cycle.h5"))
            try HDF5Library.withHDF5 {
                try #require(H5Lcreate_soft("/b", cyclic.id, "a", mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()) >= 0)
                try #require(H5Lcreate_soft("a", cyclic.id, "b", mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT()) >= 0)
            }
            let cycle = expectError(HDF5Error.self) { _ = try cyclic.openGroup("a/x") }
            #expect(cycle?.description.hasSuffix("/a/x: cannot open group: more than 16 soft links on the way") == true)
        }
    }

    @Test("external raw storage and virtual datasets are detected before any data is read")
    func externalStorageAndVirtualDatasets() throws {
        let folder = try TemporaryFolder()
        let sourcePath = folder.path("source.h5")
        let path = folder.path("hostile.h5")
        do {
            let source = try HDF5File.create(at: sourcePath)
            _ = try source.createDataset("data", shape: [4], values: [Float](repeating: 1, count: 4))
        }
        do {
            let file = try HDF5File.create(at: path)
            try HDF5Library.withHDF5 {
                var dims: [hsize_t] = [4]
                let space = H5Screate_simple(1, &dims, nil)
                defer { H5Sclose(space) }
                let external = H5Pcreate(mlp_H5P_DATASET_CREATE())
                defer { H5Pclose(external) }
                try #require(H5Pset_external(external, folder.path("raw.bin"), 0, 16) >= 0)
                let ds1 = H5Dcreate2(file.id, "external", mlp_H5T_IEEE_F32LE(), space, mlp_H5P_DEFAULT(), external,
                                     mlp_H5P_DEFAULT())
                try #require(ds1 >= 0)
                H5Dclose(ds1)

                let virtual = H5Pcreate(mlp_H5P_DATASET_CREATE())
                defer { H5Pclose(virtual) }
                try #require(H5Pset_virtual(virtual, space, sourcePath, "/data", space) >= 0)
                let ds2 = H5Dcreate2(file.id, "virtual", mlp_H5T_IEEE_F32LE(), space, mlp_H5P_DEFAULT(), virtual,
                                     mlp_H5P_DEFAULT())
                try #require(ds2 >= 0)
                H5Dclose(ds2)
            }
        }

        let file = try HDF5File.openReadOnly(at: path)
        let external = try file.openDataset("external")
        let info = try external.info()
        #expect(info.externalFileCount == 1)
        #expect(info.shape == [4])
        var buffer = [Float](repeating: 0, count: 4)
        let readError = expectError(HDF5Error.self) {
            try buffer.withUnsafeMutableBytes { try external.read(into: $0, as: .float32) }
        }
        #expect(readError?.kind == .refused)
        #expect(readError?.description == "\(path): /external: cannot read dataset as float32: dataset stores its data in 1 external file(s); refused")

        let virtual = try file.openDataset("virtual")
        let virtualError = expectError(HDF5Error.self) { _ = try virtual.info() }
        #expect(virtualError?.kind == .refused)
        #expect(virtualError?.description.contains("\(path): /virtual: cannot describe dataset: virtual dataset") == true)
    }

    @Test("declared sizes are checked before allocating: huge shapes, caps, wrong buffers and types")
    func sizeChecks() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("huge.h5")
        do {
            let file = try HDF5File.create(at: path)
            // A chunked dataset may declare any size: nothing is allocated until chunks are written.
            try HDF5Library.withHDF5 {
                var dims: [hsize_t] = [1 << 40, 1 << 40]
                var chunk: [hsize_t] = [16, 16]
                let space = H5Screate_simple(2, &dims, nil)
                defer { H5Sclose(space) }
                let dcpl = H5Pcreate(mlp_H5P_DATASET_CREATE())
                defer { H5Pclose(dcpl) }
                H5Pset_chunk(dcpl, 2, &chunk)
                let id = H5Dcreate2(file.id, "huge", mlp_H5T_IEEE_F32LE(), space, mlp_H5P_DEFAULT(), dcpl,
                                    mlp_H5P_DEFAULT())
                try #require(id >= 0)
                H5Dclose(id)
            }
            _ = try file.createDataset("ints", shape: [2], values: [Int64(1), 2])
            _ = try file.createDataset("small", shape: [2, 3], values: [Float](repeating: 0.5, count: 6))
        }
        let fileSize = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        #expect(fileSize < 100_000)

        let file = try HDF5File.openReadOnly(at: path)
        let huge = try file.openDataset("huge")
        let info = try huge.info()
        #expect(info.shape == [1 << 40, 1 << 40])
        #expect(info.elementCount == nil, "2^80 elements overflow UInt64")
        #expect(info.extent.byteCount(elementSize: 4) == nil)
        let capped = expectError(HDF5Error.self) { _ = try huge.readValues(as: Float.self, maxElements: 1 << 20) }
        #expect(capped?.kind == .size)
        #expect(capped?.description == "\(path): /huge: cannot read dataset as float32: shape [1099511627776, 1099511627776] exceeds the limit of 1048576 elements")

        let small = try file.openDataset("small")
        var tooShort = [Float](repeating: 0, count: 5)
        let bufferError = expectError(HDF5Error.self) {
            try tooShort.withUnsafeMutableBytes { try small.read(into: $0, as: .float32) }
        }
        #expect(bufferError?.description == "\(path): /small: cannot read dataset as float32: shape [2, 3] holds 24 bytes of float32, buffer has 20")

        let ints = try file.openDataset("ints")
        let typeError = expectError(HDF5Error.self) { _ = try ints.readValues(as: Float.self, maxElements: 10) }
        #expect(typeError?.kind == .unsupported)
        #expect(typeError?.description == "\(path): /ints: cannot read dataset as float32: dataset holds int64, expected floating-point numbers")

        let writer = try HDF5File.create(at: folder.path("bad-write.h5"))
        let mismatch = expectError(HDF5Error.self) {
            _ = try writer.createDataset("w", shape: [2, 2], values: [Float(1), 2, 3])
        }
        #expect(mismatch?.description.hasSuffix("/w: cannot create float32 dataset: shape [2, 2] needs 16 bytes of float32, got 12") == true)
    }
}

import CHDF5
import Foundation
import Testing
@testable import HDF5Support
import TestSupport


/// Open HDF5 objects in the whole process (all files, all kinds).
/// Open HDF5 objects (all kinds) in files inside `folder`. Scoped to the test's own files because other suites
/// open HDF5 files concurrently in the same process.
private func openObjectCount(in folder: TemporaryFolder) -> Int {
    HDF5Library.withHDF5 {
        let all = hid_t(mlp_H5F_OBJ_ALL())
        var ids = [hid_t](repeating: 0, count: Int(max(H5Fget_obj_count(all, mlp_H5F_OBJ_ALL()), 0)) + 16)
        let count = Int(max(H5Fget_obj_ids(all, mlp_H5F_OBJ_ALL(), ids.count, &ids), 0))
        return ids.prefix(count).filter { id in
            var name = [CChar](repeating: 0, count: 4096)
            guard H5Fget_name(id, &name, name.count) > 0 else { return false }
            return stringFromCBuffer(name).hasPrefix(folder.url.path + "/")
        }.count
    }
}

private let kernel: [Float] = [1.5, -2.25, 0, 3, -0.0, 1024]
private let bias: [Double] = [0.125, -7]

/// Writes the small model-like file most tests use.
private func writeSampleFile(at path: String) throws {
    let file = try HDF5File.create(at: path)
    let layer = try file.createGroup("model_weights/dense")
    _ = try layer.createDataset("kernel:0", shape: [3, 2], values: kernel)
    _ = try layer.createDataset("bias:0", shape: [2], values: bias)
    try file.setAttribute("keras_version", .string("2.13.1"))
    try file.setAttribute("backend", .string("tensorflow"))
    try layer.setAttribute("weight_names", .strings(["kernel:0", "bias:0"]))
}

// One serialized suite: the open-object counts and the stderr capture are process-wide.
@Suite("HDF5 wrappers", .serialized)
struct HDF5WrapperTests {
    @Test("float32 and float64 datasets round-trip bit for bit, with metadata read before data")
    func datasetRoundTrip() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("model.h5")
        try writeSampleFile(at: path)

        let file = try HDF5File.openReadOnly(at: path)
        let dataset = try file.openDataset("/model_weights/dense/kernel:0")
        let info = try dataset.info()
        #expect(info.shape == [3, 2])
        #expect(info.type.typeClass == .float)
        #expect(info.type.size == 4)
        #expect(info.type.byteOrder == .littleEndian)
        #expect(info.layout == .contiguous)
        #expect(info.externalFileCount == 0)
        #expect(info.filters.isEmpty)
        #expect(info.storageSize == 24)
        #expect(info.extent.byteCount(elementSize: 4) == 24)

        var floats = [Float](repeating: .nan, count: 6)
        try floats.withUnsafeMutableBytes { try dataset.read(into: $0, as: .float32) }
        #expect(floats.map(\.bitPattern) == kernel.map(\.bitPattern))  // -0.0 included

        let group = try file.openGroup("model_weights")
        let biasData = try group.openDataset("dense/bias:0")
        #expect(try biasData.info().type.size == 8)
        let doubles: [Double] = try biasData.readValues(maxElements: 10)
        #expect(doubles.map(\.bitPattern) == bias.map(\.bitPattern))
        #expect(biasData.objectPath == "/model_weights/dense/bias:0")
    }

    @Test("chunked datasets with shuffle + gzip report their filters and compress")
    func compressedDataset() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("compressed.h5")
        let values = (0..<4096).map { Float($0 % 7) }
        do {
            let file = try HDF5File.create(at: path)
            _ = try file.createDataset("w", shape: [64, 64], values: values, compression: HDF5Compression())
            _ = try file.createDataset("counter", shape: [], values: [Int64(42)])
            try file.close()
        }
        let file = try HDF5File.openReadOnly(at: path)
        let dataset = try file.openDataset("w")
        let info = try dataset.info()
        #expect(info.layout == .chunked)
        #expect(info.chunkShape == [64, 64])
        #expect(info.filters.map(\.id) == [mlp_H5Z_FILTER_SHUFFLE(), mlp_H5Z_FILTER_DEFLATE()])
        #expect(info.filters.map(\.name).joined(separator: ",").contains("deflate"))
        #expect(info.storageSize < 4096 * 4)
        let back: [Float] = try dataset.readValues(maxElements: 4096)
        #expect(back == values)

        // A scalar int64 dataset (Keras' optimizer `iterations`).
        let counter = try file.openDataset("counter")
        #expect(try counter.info().extent.kind == .scalar)
        let iterations: [Int64] = try counter.readValues(maxElements: 1)
        #expect(iterations == [42])
    }

    @Test("every attribute kind round-trips on the root group, a group and a dataset")
    func attributeRoundTrip() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("attributes.h5")
        let values: [(String, HDF5AttributeValue)] = [
            ("name", .string("dense_1 ✓ héllo")),
            ("empty_string", .string("")),
            ("count", .int64(-9_223_372_036_854_775_808)),
            ("rate", .double(0.001)),
            ("names", .strings(["kernel:0", "bias:0", "ünïcode"])),
            ("no_names", .strings([])),
            ("shape", .int64s([784, 128, Int64.max])),
            ("moments", .doubles([0.9, 0.999, -1e-300, .infinity])),
        ]
        do {
            let file = try HDF5File.create(at: path)
            let group = try file.createGroup("g")
            let dataset = try group.createDataset("d", shape: [1], values: [Float(1)])
            for object in [file, group, dataset] as [any HDF5Object] {
                for (name, value) in values { try object.setAttribute(name, value) }
            }
            // Writing again replaces.
            try group.setAttribute("count", .int64(7))
        }

        let file = try HDF5File.openReadOnly(at: path)
        let group = try file.openGroup("g")
        let dataset = try file.openDataset("g/d")
        for object in [file, group, dataset] as [any HDF5Object] {
            #expect(try object.attributeNames() == values.map(\.0).sorted())
            for (name, value) in values {
                let expected = (object === group && name == "count") ? .int64(7) : value
                #expect(try object.attribute(name) == expected, "\(object.objectPath) @\(name)")
            }
            #expect(try object.hasAttribute("name"))
            #expect(try !object.hasAttribute("missing"))
        }
        #expect(try file.stringAttribute("name") == "dense_1 ✓ héllo")
        #expect(try file.stringArrayAttribute("names") == ["kernel:0", "bias:0", "ünïcode"])

        let wrongType = expectError(HDF5Error.self) { _ = try group.stringAttribute("rate") }
        #expect(wrongType?.description.contains("attributes.h5: /g: cannot read attribute 'rate': expected a string, found a float") == true)
        let missing = expectError(HDF5Error.self) { _ = try dataset.attribute("nope") }
        #expect(missing?.kind == .missing)
        #expect(missing?.description.contains("/g/d: cannot read attribute 'nope': no such attribute") == true)
    }

    @Test("fixed-length string attributes (as numpy/Keras write them) read like variable-length ones")
    func fixedLengthStrings() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("fixed.h5")
        do {
            let file = try HDF5File.create(at: path)
            try writeFixedStrings(file.id, "layer_names", ["dense_1", "dense_2_long"], size: 12, pad: H5T_STR_NULLPAD,
                                  scalar: false)
            try writeFixedStrings(file.id, "terminated", ["relu"], size: 8, pad: H5T_STR_NULLTERM, scalar: true)
            try writeFixedStrings(file.id, "spaced", ["adam", "sgd"], size: 6, pad: H5T_STR_SPACEPAD, scalar: false)
        }
        let file = try HDF5File.openReadOnly(at: path)
        #expect(try file.attribute("layer_names") == .strings(["dense_1", "dense_2_long"]))
        #expect(try file.attribute("terminated") == .string("relu"))
        #expect(try file.attribute("spaced") == .strings(["adam", "sgd"]))
        #expect(try file.stringArrayAttribute("layer_names") == ["dense_1", "dense_2_long"])
    }

    @Test("h5dump (the reference tool) sees the same datasets and attributes")
    func crossCheckWithH5dump() throws {
        guard let h5dump = findTool("h5dump") else {
            withKnownIssue("h5dump is not installed (apt-get install hdf5-tools); cross-check skipped") {
                Issue.record("h5dump missing")
            }
            return
        }
        let folder = try TemporaryFolder()
        let path = folder.path("dump.h5")
        try writeSampleFile(at: path)

        let kernelDump = try run(h5dump, ["-y", "-w", "0", "-d", "/model_weights/dense/kernel:0", path])
        #expect(kernelDump.status == 0)
        #expect(kernelDump.output.contains("H5T_IEEE_F32LE"))
        #expect(kernelDump.output.contains("SIMPLE { ( 3, 2 ) / ( 3, 2 ) }"))
        #expect(dataValues(kernelDump.output) == ["1.5", "-2.25", "0", "3", "-0", "1024"])

        let biasDump = try run(h5dump, ["-y", "-w", "0", "-d", "/model_weights/dense/bias:0", path])
        #expect(biasDump.output.contains("H5T_IEEE_F64LE"))
        #expect(dataValues(biasDump.output) == ["0.125", "-7"])

        let header = try run(h5dump, ["-A", path])
        #expect(header.status == 0)
        #expect(header.output.contains("ATTRIBUTE \"keras_version\""))
        #expect(header.output.contains("\"2.13.1\""))
        #expect(header.output.contains("STRSIZE H5T_VARIABLE"))
        #expect(header.output.contains("CSET H5T_CSET_UTF8"))
        #expect(header.output.contains("ATTRIBUTE \"weight_names\""))
        #expect(header.output.contains("\"kernel:0\", \"bias:0\""))
    }

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

    @Test("handles close exactly once, on success and on error paths; close() refuses while objects are open")
    func handlesAreClosed() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("count.h5")
        let baseline = openObjectCount(in: folder)
        do {
            let file = try HDF5File.create(at: path)
            do {
                let group = try file.createGroup("a/b/c")
                let dataset = try group.createDataset("d", shape: [2], values: [Double(1), 2])
                try dataset.setAttribute("s", .strings(["x", "y"]))
                _ = try dataset.attribute("s")
                _ = try file.members()
                #expect(openObjectCount(in: folder) == baseline + 3)  // file, group, dataset

                // Failures must not leak what they opened on the way.
                _ = expectError(HDF5Error.self) { _ = try file.openDataset("a/b/missing") }
                _ = expectError(HDF5Error.self) { _ = try group.attribute("nope") }
                _ = expectError(HDF5Error.self) { _ = try dataset.readValues(as: Int64.self, maxElements: 10) }
                #expect(openObjectCount(in: folder) == baseline + 3)

                let early = expectError(HDF5Error.self) { try file.close() }
                #expect(early?.description == "\(path): /: cannot close file: 2 object(s) in the file are still open; release them before closing")
            }
            try file.close()
            #expect(openObjectCount(in: folder) == baseline)
        }
        #expect(openObjectCount(in: folder) == baseline)

        do {
            let file = try HDF5File.openReadOnly(at: path)
            let group = try file.openGroup("a/b")
            #expect(try group.members() == [HDF5Member(name: "c", kind: .group)])
            #expect(try file.openGroup("a/b/c").members() == [HDF5Member(name: "d", kind: .dataset)])
            #expect(try group.hasMember("c"))
            #expect(try !group.hasMember("z"))
            let missing = expectError(HDF5Error.self) { _ = try group.openGroup("c/nope") }
            #expect(missing?.kind == .missing)
            #expect(missing?.description.hasPrefix("\(path): /a/b/c/nope: cannot open group: no such object") == true)
        }
        #expect(openObjectCount(in: folder) == baseline)
    }

    @Test("the library loaded is the 1.10 series the headers describe")
    func libraryVersion() {
        let version = HDF5Library.version
        #expect(version.major == 1 && version.minor >= 10)
    }
}

/// The numbers in an `h5dump -y -w 0` DATA block.
private func dataValues(_ dump: String) -> [String] {
    guard let start = dump.range(of: "DATA {") else { return [] }
    let rest = dump[start.upperBound...]
    let block = rest[..<(rest.range(of: "}")?.lowerBound ?? rest.endIndex)]
    return block.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
}

/// Writes a fixed-length string attribute the way numpy `S` arrays come out of h5py.
private func writeFixedStrings(_ object: hid_t, _ name: String, _ strings: [String], size: Int, pad: H5T_str_t,
                               scalar: Bool) throws {
    try HDF5Library.withHDF5 {
        let type = H5Tcopy(mlp_H5T_C_S1())
        defer { H5Tclose(type) }
        H5Tset_size(type, size)
        H5Tset_strpad(type, pad)
        var dims: [hsize_t] = [hsize_t(strings.count)]
        let space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        var bytes: [UInt8] = []
        for string in strings {
            var element = Array(string.utf8.prefix(size))
            element += Array(repeating: pad == H5T_STR_SPACEPAD ? 0x20 : 0, count: size - element.count)
            bytes += element
        }
        let attribute = H5Acreate2(object, name, type, space, mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT())
        try #require(attribute >= 0)
        defer { H5Aclose(attribute) }
        try #require(bytes.withUnsafeBytes { H5Awrite(attribute, type, $0.baseAddress) } >= 0)
    }
}

// Additions for the native model codec: string datasets, unsigned integers, IEEE layouts, data offsets.
extension HDF5WrapperTests {
    @Test("string datasets round-trip (variable and fixed length); a variable-length string over the cap is refused")
    func stringDatasets() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("strings.h5")
        let text = String(repeating: "history ✓ ", count: 20_000)  // 220 kB: more than an attribute may hold
        let baseline = openObjectCount(in: folder)
        do {
            let file = try HDF5File.create(at: path)
            _ = try file.createStringDataset("a/text", text: text)
            _ = try file.createStringDataset("empty", text: "")
            let nul = expectError(HDF5Error.self) { _ = try file.createStringDataset("nul", text: "a\u{0}b") }
            #expect(nul?.description == "\(path): /nul: cannot create string dataset: string contains a NUL byte")
            try writeFixedStrings(file.id, "fixed_holder", ["x"], size: 1, pad: H5T_STR_NULLPAD, scalar: true)
            try HDF5Library.withHDF5 {
                let type = H5Tcopy(mlp_H5T_C_S1())
                defer { H5Tclose(type) }
                H5Tset_size(type, 8)
                let space = H5Screate(H5S_SCALAR)
                defer { H5Sclose(space) }
                let id = H5Dcreate2(file.id, "fixed", type, space, mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT())
                try #require(id >= 0)
                defer { H5Dclose(id) }
                let bytes: [UInt8] = Array("relu".utf8) + [0, 0, 0, 0]
                try #require(bytes.withUnsafeBytes { H5Dwrite(id, type, mlp_H5S_ALL(), mlp_H5S_ALL(), mlp_H5P_DEFAULT(), $0.baseAddress) } >= 0)
            }
        }
        let file = try HDF5File.openReadOnly(at: path)
        #expect(try file.openDataset("a/text").readString(maxBytes: 1 << 20) == text)
        #expect(try file.openDataset("empty").readString(maxBytes: 16) == "")
        #expect(try file.openDataset("fixed").readString(maxBytes: 16) == "relu")
        let capped = expectError(HDF5Error.self) { _ = try file.openDataset("a/text").readString(maxBytes: 1000) }
        #expect(capped?.kind == .size)
        #expect(capped?.description == "\(path): /a/text: cannot read string dataset: string of \(text.utf8.count + 1) bytes exceeds the limit of 1000 bytes")
        let fixedCapped = expectError(HDF5Error.self) { _ = try file.openDataset("fixed").readString(maxBytes: 4) }
        #expect(fixedCapped?.description == "\(path): /fixed: cannot read string dataset: 1 strings of 8 bytes exceed the limit of 4 bytes")
        let numbers = try HDF5File.create(at: folder.path("numbers.h5"))
        let floats = try numbers.createDataset("f", shape: [2], values: [Float(1), 2])
        let notText = expectError(HDF5Error.self) { _ = try floats.readString(maxBytes: 100) }
        #expect(notText?.description.hasSuffix("/f: cannot read string dataset: dataset holds float32, expected a string") == true)
        // Nothing leaked on the failed reads: only the two files and the float dataset held here are open.
        withExtendedLifetime((file, numbers, floats)) { #expect(openObjectCount(in: folder) == baseline + 3) }
    }

    @Test("unsigned attributes: uint32 and uint64 arrays written, read exactly; signed ones refused")
    func unsignedAttributes() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("unsigned.h5")
        let words: [UInt64] = [0, 1, .max, 1 << 63]
        do {
            let file = try HDF5File.create(at: path)
            try file.setAttribute("crc", .uint32(0xE306_9283))
            try file.setAttribute("words", .uint64s(words))
            try file.setAttribute("signed", .int64s([1, 2]))
        }
        let file = try HDF5File.openReadOnly(at: path)
        #expect(try file.attribute("crc") == .int64(0xE306_9283))  // fits int64 exactly
        #expect(try file.unsignedAttribute("crc") == [0xE306_9283])
        #expect(try file.unsignedAttribute("words") == words)
        // The general reader cannot represent 2^64 − 1 as int64 and says so instead of clamping.
        let tooBig = expectError(HDF5Error.self) { _ = try file.attribute("words") }
        #expect(tooBig?.description.hasSuffix("value 18446744073709551615 does not fit in int64") == true)
        let signed = expectError(HDF5Error.self) { _ = try file.unsignedAttribute("signed") }
        #expect(signed?.description == "\(path): /: cannot read attribute 'signed': attribute holds int64 values, expected unsigned integers")
        let capped = expectError(HDF5Error.self) { _ = try file.unsignedAttribute("words", maxElements: 2) }
        #expect(capped?.kind == .size)
    }

    @Test("type info tells IEEE layouts from other floats; contiguous data reports its file offset")
    func typeLayoutAndOffset() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("types.h5")
        do {
            let file = try HDF5File.create(at: path)
            _ = try file.createDataset("f32", shape: [4], values: [Float(1), 2, 3, 4])
            _ = try file.createDataset("packed", shape: [64, 64], values: [Float](repeating: 0, count: 4096),
                                       compression: HDF5Compression())
            try HDF5Library.withHDF5 {
                var dims: [hsize_t] = [2]
                let space = H5Screate_simple(1, &dims, nil)
                defer { H5Sclose(space) }
                let half = float16Type()
                defer { H5Tclose(half) }
                for (name, type) in [("f16", half), ("f64be", mlp_H5T_IEEE_F64BE())] {
                    let id = H5Dcreate2(file.id, name, type, space, mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT(), mlp_H5P_DEFAULT())
                    try #require(id >= 0)
                    H5Dclose(id)
                }
            }
        }
        let file = try HDF5File.openReadOnly(at: path)
        let f32 = try file.openDataset("f32").info()
        #expect(f32.type.isIEEE && f32.type.description == "float32")
        let f64be = try file.openDataset("f64be").info()
        #expect(f64be.type.isIEEE && f64be.type.description == "float64 big-endian")
        let f16 = try file.openDataset("f16").info()
        #expect(!f16.type.isIEEE && f16.type.description == "float16 (non-IEEE layout)")

        // The offset is where the bytes really are.
        let offset = try #require(f32.dataOffset)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let stored = bytes[Int(offset)..<Int(offset) + 16].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(stored == [1, 2, 3, 4])
        #expect(try file.openDataset("packed").info().dataOffset == nil)
        #expect(try file.openDataset("f16").info().dataOffset == nil, "never written: no storage")
    }

    @Test("integer reads convert only exactly; a file can be reopened for writing")
    func exactIntegersAndReadWrite() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("ints.h5")
        do {
            let file = try HDF5File.create(at: path)
            _ = try file.createDataset("u64", shape: [2], values: [UInt64.max, 1])
            _ = try file.createDataset("u32", shape: [2], values: [UInt32.max, 1])
            _ = try file.createDataset("i64", shape: [1], values: [Int64(-1)])
        }
        do {
            let file = try HDF5File.openReadWrite(at: path)
            try file.setAttribute("added", .string("later"))
        }
        let file = try HDF5File.openReadOnly(at: path)
        #expect(try file.stringAttribute("added") == "later")
        let u64 = try file.openDataset("u64")
        #expect(try u64.readValues(as: UInt64.self, maxElements: 2) == [.max, 1])
        let clamped = expectError(HDF5Error.self) { _ = try u64.readValues(as: Int64.self, maxElements: 2) }
        #expect(clamped?.description.hasSuffix("/u64: cannot read dataset as int64: dataset holds uint64, expected integers that fit in int64") == true)
        #expect(try file.openDataset("u32").readValues(as: Int64.self, maxElements: 2) == [Int64(UInt32.max), 1])
        #expect(try file.openDataset("u32").readValues(as: UInt32.self, maxElements: 2) == [.max, 1])
        let negative = expectError(HDF5Error.self) { _ = try file.openDataset("i64").readValues(as: UInt64.self, maxElements: 1) }
        #expect(negative?.description.hasSuffix("/i64: cannot read dataset as uint64: dataset holds int64, expected unsigned integers of at most 64 bits") == true)
        let wide = expectError(HDF5Error.self) { _ = try u64.readValues(as: UInt32.self, maxElements: 2) }
        #expect(wide?.kind == .unsupported)
    }
}

extension HDF5WrapperTests {
    @Test("a child process spawned while a file is open does not keep it locked (HDF5 file locks are off)")
    func spawnedChildHoldsNoLock() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("locked.h5")
        var child: pid_t = 0
        do {
            let file = try HDF5File.create(at: path)
            _ = try file.createDataset("x", shape: [1], values: [Float(1)])
            // A plain posix_spawn inherits every descriptor without O_CLOEXEC — HDF5's included, and with it any
            // flock on the file. (Foundation's Process closes them in the child, but only after the fork.)
            var arguments: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
            defer { arguments.forEach { free($0) } }
            try #require(posix_spawn(&child, "/bin/sleep", nil, nil, &arguments, environ) == 0)
            try file.close()
        }
        defer {
            kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        do {
            let reopened = try HDF5File.openReadOnly(at: path)
            #expect(try reopened.openDataset("x").readValues(as: Float.self, maxElements: 1) == [1])
        }
        _ = try HDF5File.openReadWrite(at: path)
    }
}

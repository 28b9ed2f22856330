import CHDF5
import Foundation
import Testing
@testable import HDF5Support
import TestSupport

// One serialized suite, the open-object counts and the stderr capture being process-wide; its tests are spread
// over the HDF5Wrapper*Tests.swift files as extensions.
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
        #expect(floats.map(\.bitPattern) == sampleKernel.map(\.bitPattern))  // -0.0 included

        let group = try file.openGroup("model_weights")
        let biasData = try group.openDataset("dense/bias:0")
        #expect(try biasData.info().type.size == 8)
        let doubles: [Double] = try biasData.readValues(maxElements: 10)
        #expect(doubles.map(\.bitPattern) == sampleBias.map(\.bitPattern))
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
        #expect(h5dumpNumbers(kernelDump.output) == ["1.5", "-2.25", "0", "3", "-0", "1024"])

        let biasDump = try run(h5dump, ["-y", "-w", "0", "-d", "/model_weights/dense/bias:0", path])
        #expect(biasDump.output.contains("H5T_IEEE_F64LE"))
        #expect(h5dumpNumbers(biasDump.output) == ["0.125", "-7"])

        let header = try run(h5dump, ["-A", path])
        #expect(header.status == 0)
        #expect(header.output.contains("ATTRIBUTE \"keras_version\""))
        #expect(header.output.contains("\"2.13.1\""))
        #expect(header.output.contains("STRSIZE H5T_VARIABLE"))
        #expect(header.output.contains("CSET H5T_CSET_UTF8"))
        #expect(header.output.contains("ATTRIBUTE \"weight_names\""))
        #expect(header.output.contains("\"kernel:0\", \"bias:0\""))
    }

    @Test("the library loaded is the 1.10 series the headers describe")
    func libraryVersion() {
        let version = HDF5Library.version
        #expect(version.major == 1 && version.minor >= 10)
    }
}

import CHDF5
import Foundation
import Testing
@testable import HDF5Support
import TestSupport

// Types the native model codec relies on: string datasets, unsigned integers, IEEE layouts, data offsets.
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

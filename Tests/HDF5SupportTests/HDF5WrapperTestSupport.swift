import CHDF5
import Foundation
import Testing
@testable import HDF5Support
import TestSupport

// What the HDF5 wrapper tests share: a sample file, open-object counts, fixed-length strings.

/// Open HDF5 objects (all kinds) in files inside `folder`. Scoped to the test's own files because other suites
/// open HDF5 files concurrently in the same process.
func openObjectCount(in folder: TemporaryFolder) -> Int {
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

let sampleKernel: [Float] = [1.5, -2.25, 0, 3, -0.0, 1024]
let sampleBias: [Double] = [0.125, -7]

/// Writes the small model-like file most tests use.
func writeSampleFile(at path: String) throws {
    let file = try HDF5File.create(at: path)
    let layer = try file.createGroup("model_weights/dense")
    _ = try layer.createDataset("kernel:0", shape: [3, 2], values: sampleKernel)
    _ = try layer.createDataset("bias:0", shape: [2], values: sampleBias)
    try file.setAttribute("keras_version", .string("2.13.1"))
    try file.setAttribute("backend", .string("tensorflow"))
    try layer.setAttribute("weight_names", .strings(["kernel:0", "bias:0"]))
}

/// Writes a fixed-length string attribute the way numpy `S` arrays come out of h5py.
func writeFixedStrings(_ object: hid_t, _ name: String, _ strings: [String], size: Int, pad: H5T_str_t,
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

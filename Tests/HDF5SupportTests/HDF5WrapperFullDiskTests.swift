import CHDF5
import Foundation
import Testing
@testable import HDF5Support
import TestSupport

// A full disk (issue 15, item 2): /dev/full fails every write with ENOSPC. The error says so in the system's
// words, without libhdf5's internals, and the file is really closed afterwards: HDF5 1.10 keeps the id of a file
// whose close failed, pointing at freed memory, and crashes when it next walks the open files (at exit at the latest).
extension HDF5WrapperTests {
    /// Open HDF5 ids (files and objects in them) of files named `name`.
    func openIDs(named name: String) -> Int {
        HDF5Library.withHDF5 {
            let all = hid_t(mlp_H5F_OBJ_ALL())
            var ids = [hid_t](repeating: 0, count: Int(max(H5Fget_obj_count(all, mlp_H5F_OBJ_ALL()), 0)) + 16)
            let count = Int(max(H5Fget_obj_ids(all, mlp_H5F_OBJ_ALL(), ids.count, &ids), 0))
            return ids.prefix(count).filter { id in
                var buffer = [CChar](repeating: 0, count: 4096)
                return H5Fget_name(id, &buffer, buffer.count) > 0 && stringFromCBuffer(buffer) == name
            }.count
        }
    }

    @Test("a full disk while writing data: the system's reason, and the file closed")
    func fullDiskWhileWritingData() throws {
        try #require(FileManager.default.fileExists(atPath: "/dev/full"))
        do {
            let file = try HDF5File.create(at: "/dev/full")
            let values = [Float](repeating: 1, count: 1 << 18)  // 1 MiB: written straight through, not cached
            let error = expectError(HDF5Error.self) { _ = try file.createDataset("d", shape: [values.count], values: values) }
            #expect(error?.reason == "No space left on device", "\(String(describing: error))")
            #expect(error?.failure == "cannot write float32 data: No space left on device")
        }
        #expect(openIDs(named: "/dev/full") == 0)
    }

    @Test("a full disk while flushing at close: close() reports it, and the file is closed")
    func fullDiskWhileClosing() throws {
        try #require(FileManager.default.fileExists(atPath: "/dev/full"))
        let file = try HDF5File.create(at: "/dev/full")
        try file.setAttribute("a", .int64(1))  // metadata only: it reaches the disk at the flush
        let error = expectError(HDF5Error.self) { try file.close() }
        // /dev/full is a device: truncating it (which comes first) fails with EINVAL rather than ENOSPC.
        #expect(error?.failure == "cannot close file: Invalid argument", "\(String(describing: error))")
        #expect(openIDs(named: "/dev/full") == 0)
    }
}

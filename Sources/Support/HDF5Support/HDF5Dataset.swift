// Datasets of numbers: creating (optionally chunked and compressed), describing from metadata, reading whole.
internal import CHDF5
import Foundation

extension HDF5Container {
    /// Creates a dataset of `type` and `shape` holding `bytes` (native layout, row-major), optionally chunked
    /// with shuffle + gzip. `shape == []` makes a scalar. Intermediate groups are created.
    ///
    /// With `eachSlab`, the data of an uncompressed dataset is written in slabs of whole rows of about
    /// `HDF5Slabs.bytes`, each passed to `eachSlab` just before it is written (so a checksum reads it into the
    /// CPU's cache and the write takes it from there, instead of two passes over memory); otherwise every byte
    /// is still passed to `eachSlab`, in order, before the one write.
    package func createDataset(_ path: String, type: HDF5ElementType, shape: [Int], bytes: UnsafeRawBufferPointer,
                       compression: HDF5Compression? = nil,
                       eachSlab: ((UnsafeRawBufferPointer) -> Void)? = nil) throws(HDF5Error) -> HDF5Dataset {
        let target = site.child(path)
        let operation = "create \(type) dataset"
        try HDF5Path.validate(path, target, operation)
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw target.error(.unsupported, operation, "negative dimension in shape \(shape)")
        }
        let extent = HDF5Extent(kind: shape.isEmpty ? .scalar : .simple,
                                shape: shape.map { UInt64($0) }, maxShape: shape.map { UInt64($0) })
        let expected = extent.byteCount(elementSize: type.size)
        guard expected == bytes.count else {
            let needed = expected.map(String.init) ?? "too many"
            throw target.error(.size, operation, "shape \(shape) needs \(needed) bytes of \(type), got \(bytes.count)")
        }

        let space = try HDF5Dataspace.create(shape: extent.shape, site: target, operation: operation)
        let lcpl = try HDF5PropertyList.intermediateGroups(site: target)
        let dcpl = try HDF5PropertyList.untimed(class: mlp_H5P_DATASET_CREATE(), site: target)
        // Chunking needs at least one dimension and no zero-length one; otherwise fall back to contiguous.
        let compressed = compression != nil && !shape.isEmpty && !shape.contains(0)
        if let compression, compressed {
            try Self.configureCompression(dcpl, compression, shape: shape, elementSize: type.size,
                                          site: target, operation: operation)
        }
        let dataset = try hdf5 { () throws(HDF5Error) in
            let id = try target.id(H5Dcreate2(id, path, type.fileType, space.id, lcpl.id, dcpl.id, mlp_H5P_DEFAULT()),
                                   operation)
            return HDF5Dataset(adopting: id, file: file, path: target.object)
        }
        guard bytes.baseAddress != nil, !bytes.isEmpty else { return dataset }
        let slabs = eachSlab != nil && !compressed ? HDF5Slabs(shape: extent.shape, elementSize: type.size) : nil
        if let slabs, let eachSlab {
            let fileSpace = HDF5Dataspace(adopting: try hdf5 { () throws(HDF5Error) in
                try target.id(H5Dget_space(dataset.id), "write \(type) data")
            })
            for slab in slabs.ranges {
                let piece = UnsafeRawBufferPointer(rebasing: bytes[slab.bytes])
                eachSlab(piece)
                try slabs.transfer(slab, dataset: dataset, fileSpace: fileSpace, type: type, site: target,
                                   operation: "write \(type) data") { memory, file in
                    H5Dwrite(dataset.id, type.nativeType, memory, file, mlp_H5P_DEFAULT(), piece.baseAddress)
                }
            }
        } else {
            if let eachSlab { HDF5Slabs.pieces(of: bytes, eachSlab) }
            try hdf5 { () throws(HDF5Error) in
                try target.status(H5Dwrite(dataset.id, type.nativeType, mlp_H5S_ALL(), mlp_H5S_ALL(), mlp_H5P_DEFAULT(),
                                           bytes.baseAddress), "write \(type) data")
            }
        }
        return dataset
    }

    /// Convenience over `createDataset(_:type:shape:bytes:compression:)` for a Swift array.
    package func createDataset<T: HDF5Element>(_ path: String, shape: [Int], values: [T],
                                       compression: HDF5Compression? = nil) throws(HDF5Error) -> HDF5Dataset {
        // Array.withUnsafeBytes only rethrows `any Error`; carry the typed error out in a Result.
        let result = values.withUnsafeBytes { bytes in
            Result { () throws(HDF5Error) in
                try createDataset(path, type: T.hdf5Type, shape: shape, bytes: bytes, compression: compression)
            }
        }
        return try result.get()
    }

    private static func configureCompression(_ dcpl: HDF5PropertyList, _ compression: HDF5Compression,
                                             shape: [Int], elementSize: Int,
                                             site: HDF5Site, operation: String) throws(HDF5Error) {
        var chunk: [Int]
        if let requested = compression.chunkShape {
            guard requested.count == shape.count, zip(requested, shape).allSatisfy({ $0 >= 1 && $0 <= $1 }) else {
                throw site.error(.unsupported, operation, "chunk shape \(requested) does not fit shape \(shape)")
            }
            chunk = requested
        } else {
            // Whole trailing dimensions, and as many leading rows as fit in ~1 MiB (HDF5 caps chunks at 4 GiB;
            // small chunks also bound what one corrupt chunk can expand to).
            chunk = shape
            var bytes = shape.reduce(elementSize) { $0.multipliedReportingOverflow(by: $1).partialValue }
            var axis = 0
            while bytes > 1 << 20, axis < chunk.count {
                if chunk[axis] > 1 {
                    chunk[axis] = (chunk[axis] + 1) / 2
                    bytes = chunk.reduce(elementSize) { $0.multipliedReportingOverflow(by: $1).partialValue }
                } else {
                    axis += 1
                }
            }
        }
        guard (0...9).contains(compression.gzipLevel) else {
            throw site.error(.unsupported, operation, "gzip level \(compression.gzipLevel) is not in 0...9")
        }
        let dims = chunk.map { hsize_t($0) }
        try hdf5 { () throws(HDF5Error) in
            try site.status(H5Pset_chunk(dcpl.id, Int32(dims.count), dims), operation)
            if compression.shuffle { try site.status(H5Pset_shuffle(dcpl.id), operation) }
            try site.status(H5Pset_deflate(dcpl.id, UInt32(compression.gzipLevel)), operation)
        }
    }

    /// Opens a dataset by (relative or absolute) path; refuses to pass through external links.
    /// Opening reads only metadata: call `info()` and check sizes before `read`.
    package func openDataset(_ path: String) throws(HDF5Error) -> HDF5Dataset {
        try openObject(path, "open dataset", access: mlp_H5P_DATASET_ACCESS()) { H5Dopen2($0, $1, $2) }
    }
}

extension HDF5Dataset {
    /// Shape, type, layout, filters and storage, from metadata only.
    ///
    /// A virtual dataset is refused here, before its dataspace is touched: for a VDS with an unlimited
    /// mapping, HDF5 1.10.8 opens the source files named in the (untrusted) file as soon as the extent is
    /// asked for (`H5Dget_space`), even though `H5Dopen2` did not.
    package func info() throws(HDF5Error) -> HDF5DatasetInfo {
        let site = self.site
        let operation = "describe dataset"
        return try hdf5 { () throws(HDF5Error) in
            let dcpl = HDF5PropertyList(adopting: try site.id(H5Dget_create_plist(id), operation))
            let rawLayout = H5Pget_layout(dcpl.id)
            let layout: HDF5DatasetInfo.Layout
            var chunkShape: [UInt64]?
            switch rawLayout {
            case H5D_COMPACT: layout = .compact
            case H5D_CONTIGUOUS: layout = .contiguous
            case H5D_CHUNKED:
                layout = .chunked
                var dims = [hsize_t](repeating: 0, count: 32)
                let rank = try site.count(H5Pget_chunk(dcpl.id, Int32(dims.count), &dims), operation)
                chunkShape = dims.prefix(min(rank, dims.count)).map { UInt64($0) }
            case H5D_VIRTUAL:
                throw site.error(.refused, operation,
                                 "virtual dataset (its data and even its shape come from other files) is refused")
            default:
                if rawLayout.rawValue < 0 { throw site.libraryError(operation) }
                layout = .other(rawLayout.rawValue)
            }

            let space = HDF5Dataspace(adopting: try site.id(H5Dget_space(id), operation))
            let type = HDF5Datatype(adopting: try site.id(H5Dget_type(id), operation))
            let extent = try space.extent(site: site, operation: operation)
            let typeInfo = try type.info(site: site, operation: operation)

            let externalCount = try site.count(H5Pget_external_count(dcpl.id), operation)
            let filterCount = try site.count(H5Pget_nfilters(dcpl.id), operation)
            var filters: [HDF5DatasetInfo.Filter] = []
            for index in 0..<min(filterCount, 32) {
                var flags: UInt32 = 0
                var valueCount = 16
                var values = [UInt32](repeating: 0, count: valueCount)
                var name = [CChar](repeating: 0, count: 128)
                var config: UInt32 = 0
                let filter = H5Pget_filter2(dcpl.id, UInt32(index), &flags, &valueCount, &values,
                                            name.count, &name, &config)
                if filter < 0 { throw site.libraryError(operation) }
                filters.append(.init(id: filter, name: stringFromCBuffer(name)))
            }

            let offset = H5Dget_offset(id)
            return HDF5DatasetInfo(extent: extent, type: typeInfo, layout: layout, chunkShape: chunkShape,
                                   externalFileCount: externalCount, filters: filters,
                                   storageSize: UInt64(H5Dget_storage_size(id)),
                                   dataOffset: offset == mlp_HADDR_UNDEF() ? nil : UInt64(offset))
        }
    }

    /// `info()` for a read of the data: virtual datasets (which `info()` refuses) and external raw storage are
    /// refused.
    func readableInfo(_ operation: String) throws(HDF5Error) -> HDF5DatasetInfo {
        let info = try info()
        if info.externalFileCount > 0 {
            throw site.error(.refused, operation,
                             "dataset stores its data in \(info.externalFileCount) external file(s); refused")
        }
        return info
    }

    /// Reads the whole dataset into `buffer` as native `type` values. The buffer must be exactly
    /// `elementCount × type.size` bytes — callers size it from `info()` after checking their caps.
    ///
    /// Refuses virtual datasets and external raw storage, and converts only float → float and
    /// integer → int64 (HDF5 would happily turn strings or compounds into garbage numbers otherwise).
    package func read(into buffer: UnsafeMutableRawBufferPointer, as type: HDF5ElementType) throws(HDF5Error) {
        let site = self.site
        let operation = "read dataset as \(type)"
        let info = try readableInfo(operation)
        switch (type, info.type.typeClass) {
        case (.float32, .float), (.float64, .float): break
        // HDF5 clamps integers that do not fit the memory type: allow only conversions that are exact.
        case (.int64, .integer) where info.type.isSigned || info.type.size < 8: break
        case (.uint32, .integer) where !info.type.isSigned && info.type.size <= 4: break
        case (.uint64, .integer) where !info.type.isSigned: break
        default:
            let expected = switch type {
            case .float32, .float64: "floating-point numbers"
            case .int32: "integers that fit in int32"
            case .int64: "integers that fit in int64"
            case .uint32, .uint64: "unsigned integers of at most \(type.size * 8) bits"
            }
            throw site.error(.unsupported, operation, "dataset holds \(info.type), expected \(expected)")
        }
        guard let needed = info.extent.byteCount(elementSize: type.size) else {
            throw site.error(.size, operation, "shape \(info.shape) is too large to address")
        }
        guard needed == buffer.count else {
            throw site.error(.size, operation,
                             "shape \(info.shape) holds \(needed) bytes of \(type), buffer has \(buffer.count)")
        }
        guard let base = buffer.baseAddress, needed > 0 else { return }
        try hdf5 { () throws(HDF5Error) in
            try site.status(H5Dread(id, type.nativeType, mlp_H5S_ALL(), mlp_H5S_ALL(), mlp_H5P_DEFAULT(), base),
                            operation)
        }
    }

    /// Reads the whole dataset into a new array, after checking its element count against `maxElements`.
    package func readValues<T: HDF5Element>(as: T.Type = T.self, maxElements: Int) throws(HDF5Error) -> [T] {
        let info = try info()
        guard let count = info.elementCount, count <= UInt64(max(maxElements, 0)) else {
            throw site.error(.size, "read dataset as \(T.hdf5Type)",
                             "shape \(info.shape) exceeds the limit of \(maxElements) elements")
        }
        var failure: HDF5Error?
        let values = [T](unsafeUninitializedCapacity: Int(count)) { buffer, initialized in
            adviseHugePages(UnsafeMutableRawBufferPointer(buffer))
            do throws(HDF5Error) {
                try read(into: UnsafeMutableRawBufferPointer(buffer), as: T.hdf5Type)
                initialized = Int(count)
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return values
    }
}

/// A dataset's data as slabs of whole rows (along the first dimension) of about `bytes` each, for writes that hand
/// each slab on while it is in the CPU's cache. 4 MiB stays in the L3 cache and keeps HDF5's per-call cost (a
/// hyperslab selection per slab) small; 256 KiB slabs, which fit L2, were measured slower. (Reads stay whole: the
/// native reader checksums on another core meanwhile, which measured faster than slab-wise reads when a core
/// is free.)
struct HDF5Slabs {
    static let bytes = 4 << 20

    struct Slab {
        var rows: Range<UInt64>
        var bytes: Range<Int>
    }

    let shape: [UInt64]
    let rowBytes: Int
    let rowsPerSlab: UInt64

    /// Nil for a scalar or an empty dataset (one transfer does), or one too large to address.
    init?(shape: [UInt64], elementSize: Int) {
        guard let rows = shape.first, rows > 0 else { return nil }
        var rowBytes = elementSize
        for dimension in shape.dropFirst() {
            guard let size = Int(exactly: dimension), case (let product, false) = rowBytes.multipliedReportingOverflow(by: size),
                  product > 0 else { return nil }
            rowBytes = product
        }
        guard case (_, false) = rowBytes.multipliedReportingOverflow(by: Int(clamping: rows)) else { return nil }
        self.shape = shape
        self.rowBytes = rowBytes
        rowsPerSlab = UInt64(max(1, Self.bytes / rowBytes))
    }

    var ranges: [Slab] {
        stride(from: 0, to: shape[0], by: Int(rowsPerSlab)).map { first in
            let last = min(first + rowsPerSlab, shape[0])
            return Slab(rows: first..<last, bytes: Int(first) * rowBytes..<Int(last) * rowBytes)
        }
    }

    /// Selects `slab`'s rows in `fileSpace` and runs `transfer(memorySpace, fileSpace)` (an `H5Dwrite` of just
    /// those rows).
    func transfer(_ slab: Slab, dataset: HDF5Dataset, fileSpace: HDF5Dataspace, type: HDF5ElementType, site: HDF5Site,
                  operation: String, _ transfer: (hid_t, hid_t) -> herr_t) throws(HDF5Error) {
        var start = [hsize_t](repeating: 0, count: shape.count)
        start[0] = hsize_t(slab.rows.lowerBound)
        var count = shape.map { hsize_t($0) }
        count[0] = hsize_t(slab.rows.count)
        try hdf5 { () throws(HDF5Error) in
            try site.status(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, start, nil, count, nil), operation)
            let memory = HDF5Dataspace(adopting: try site.id(H5Screate_simple(Int32(count.count), count, nil), operation))
            try site.status(transfer(memory.id, fileSpace.id), operation)
        }
    }

    /// `body` over `bytes` in pieces of `Self.bytes`, in order.
    static func pieces(of bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + Self.bytes)
            body(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            start = end
        }
    }
}

/// Asks Linux to back a large, fresh buffer with transparent huge pages before it is first written.
///
/// Reading a big tensor into new memory costs more in page faults than in copying (about 0.2 s of faults against
/// 0.07 s of copying for 400 MB with 4 KiB pages); 2 MiB pages cut the faults 512-fold. Distributions default THP
/// to "madvise", so without the hint nothing changes; numpy gives the same hint for its large arrays, which is
/// why h5py reads were faster than ours without it. Only whole pages inside the buffer are advised; failure
/// is harmless (the hint is just not taken).
package func adviseHugePages(_ buffer: UnsafeMutableRawBufferPointer) {
    #if os(Linux)
    let pageSize = 4096, hugePage = 2 << 20
    guard let base = buffer.baseAddress, buffer.count >= 2 * hugePage else { return }
    let start = (Int(bitPattern: base) + pageSize - 1) & ~(pageSize - 1)
    let end = (Int(bitPattern: base) + buffer.count) & ~(pageSize - 1)
    guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(pointer, end - start, MADV_HUGEPAGE)
    #endif
}

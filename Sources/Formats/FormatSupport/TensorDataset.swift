import HDF5Support
import MLPDocument

/// Why a dataset cannot be read as a float tensor of a given shape.
package struct TensorDatasetProblem: Error {
    package let reason: String
}

// How both HDF5 readers — mlpconv's layout and Keras's — check a tensor dataset before reading a byte of it.

extension HDF5DatasetInfo {
    /// The dtype of a dataset that must hold a tensor of shape `expected` (`origin` says where that shape comes
    /// from), or why it cannot: external raw storage, a dtype other than IEEE little-endian float32/float64, or
    /// another shape.
    package func floatTensorDType(expected: [Int], origin: String) -> Result<Tensor.DType, TensorDatasetProblem> {
        if externalFileCount > 0 {
            return .failure(.init(reason: "stores its data in \(externalFileCount) external file(s); external raw storage is refused"))
        }
        guard type.typeClass == .float, type.isIEEE, type.byteOrder == .littleEndian, type.size == 4 || type.size == 8 else {
            return .failure(.init(reason: "unsupported dtype \(type); tensors must be IEEE float32 or float64, little-endian"))
        }
        guard extent.kind == .simple, shape == expected.map({ UInt64($0) }) else {
            let found = extent.kind == .scalar ? "a scalar" : "shape \(shape)"
            return .failure(.init(reason: "\(found) does not match the architecture, which needs \(expected) (\(origin))"))
        }
        return .success(type.size == 4 ? .float32 : .float64)
    }

    /// Why the stored data cannot be what a tensor of `bytes` decoded bytes needs, or nil: contiguous data must
    /// lie inside the `fileSize`-byte file, compact data must be all there, and chunked data may use only the
    /// accepted filters (HDF5ReadPolicy) and be compressed no more than deflate can. So a tiny file cannot make
    /// a reader allocate for a huge declared shape.
    package func storageProblem(bytes: Int, dtype: Tensor.DType, fileSize: Int) -> String? {
        let declared = "declares \(bytes) bytes of \(dtype.rawValue)"
        switch layout {
        case .contiguous:
            guard let offset = dataOffset else {
                // HDF5 allocates no space for an empty dataset.
                return bytes == 0 ? nil : "\(declared) but stores no data (never written)"
            }
            guard offset <= UInt64(fileSize), UInt64(bytes) <= UInt64(fileSize) - offset else {
                return "\(declared) at offset \(offset), beyond the end of the \(fileSize)-byte file"
            }
        case .compact:
            guard storageSize >= UInt64(bytes) else { return "\(declared) but stores only \(storageSize)" }
        case .chunked:
            if let refused = filters.first(where: { HDF5ReadPolicy.acceptedFilters[$0.id] == nil }) {
                return "uses the HDF5 filter \(refused.id) (\"\(refused.name)\"); only "
                    + "\(HDF5ReadPolicy.acceptedFilters.values.sorted().joined(separator: ", ")) are accepted"
            }
            guard let chunk = chunkShape, chunk.count == shape.count,
                  zip(chunk, shape).allSatisfy({ $0 >= 1 && $0 <= $1 }) else {
                return "chunk shape \(chunkShape ?? []) does not fit the dataset's shape \(shape)"
            }
            if filters.contains(where: { $0.id == HDF5ReadPolicy.deflateFilter }) {
                let (bound, overflow) = storageSize.multipliedReportingOverflow(by: UInt64(HDF5ReadPolicy.maxDeflateRatio))
                if !overflow, UInt64(bytes) > bound + 4096 {
                    return "\(declared) but stores only \(storageSize) compressed bytes, more than gzip can "
                        + "expand to: chunks are missing or the sizes are forged"
                }
            } else if storageSize < UInt64(bytes) {
                return "\(declared) but stores only \(storageSize): chunks are missing"
            }
        case .other(let code):
            return "uses storage layout \(code), which mlpconv does not read"
        }
        return nil
    }
}

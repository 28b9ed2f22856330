import Foundation

extension ModelFiles {
    /// Reads a model file of any supported format, detected from its content, and checks it strictly against
    /// its own architecture.
    public static func load(_ path: String, limits: LoadLimits = LoadLimits()) throws(ModelFileError) -> ModelDocument {
        switch try detectKind(at: path) {
        case .json:
            let bytes = try readWholeFile(path, limit: limits.maxFileBytes)
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(ModelFileError) in try JSONModelCodec.decode(raw, file: path, limits: limits) }
            }
            return try result.get()
        case .hdf5:
            return try HDF5ModelCodec.read(path: path, file: path, limits: limits)
        case .zip:
            return try KerasZipReader.read(path: path, limits: limits)
        }
    }

    /// Writes `document` to `path` atomically: the previous file at `path`, if any, stays intact unless the
    /// complete new file has been written and flushed.
    public static func save(
        _ document: ModelDocument, to path: String, format: ModelFormat, options: SaveOptions = SaveOptions()
    ) throws(ModelFileError) {
        do { try document.validate() } catch { throw ModelFileError(file: path, error) }
        try AtomicFile.replace(path) { temporaryPath throws(ModelFileError) in
            switch format {
            case .json:
                let bytes = JSONModelCodec.encode(document, tensors: options.jsonTensors)
                let result = bytes.withUnsafeBytes { raw in
                    Result { () throws(ModelFileError) in try AtomicFile.writeBytes(raw, to: temporaryPath, file: path) }
                }
                try result.get()
            case .h5:
                try HDF5ModelCodec.write(document, toPath: temporaryPath, file: path, options: options)
            case .kerasH5:
                try KerasH5Writer.write(document, toPath: temporaryPath, file: path)
            case .keras:
                try KerasZipWriter.write(document, toPath: temporaryPath, file: path)
            }
        }
    }

    /// The whole file, after checking its size against `limit` (so a huge file is refused before it is read).
    static func readWholeFile(_ path: String, limit: Int) throws(ModelFileError) -> Data {
        let size: Int
        do {
            size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw ModelFileError(file: path, reason: "cannot read the file: \(error.localizedDescription)")
        }
        guard size <= limit else {
            throw ModelFileError(file: path, reason: "file of \(size) bytes exceeds the limit of \(limit) bytes")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelFileError(file: path, reason: "cannot open the file for reading")
        }
        defer { try? handle.close() }
        do {
            let data = try handle.readToEnd() ?? Data()
            guard data.count <= limit else {
                throw ModelFileError(file: path, reason: "file grew past the limit of \(limit) bytes while being read")
            }
            return data
        } catch let error as ModelFileError {
            throw error
        } catch {
            throw ModelFileError(file: path, reason: "cannot read the file: \(error.localizedDescription)")
        }
    }
}

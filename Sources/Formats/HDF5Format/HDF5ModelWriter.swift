import FormatSupport
import HDF5Support
import MLPCore
import MLPDocument

// Writing: the document's parts as groups, attributes and datasets, each tensor and text with its CRC-32C.
extension HDF5ModelCodec {
    /// Writes `document` to `path` (a new file; the caller makes the write atomic). `file` names it in messages.
    package static func write(_ document: ModelDocument, toPath path: String, file: String,
                              options: SaveOptions) throws(ModelFileError) {
        do { try document.validate() } catch { throw ModelFileError(file: file, error) }
        for key in document.metadata.keys where key.isEmpty || key.utf8.contains(0) {
            throw ModelFileError(file: file, object: "/\(Name.metadata)",
                                 reason: "metadata key \"\(key)\" cannot be an HDF5 attribute name (empty or contains NUL)")
        }
        do throws(HDF5Error) {
            let h5 = try HDF5File.create(at: path)
            // In a function of its own so that every group and dataset handle is released before `close()`,
            // which refuses (rather than silently deferring the flush) while objects are still open.
            try writeContents(document, to: h5, compression: options.compress ? HDF5Compression() : nil)
            try h5.close()
        } catch {
            throw ModelFileError(error, file: file)
        }
    }

    private static func writeContents(_ document: ModelDocument, to h5: HDF5File,
                                      compression: HDF5Compression?) throws(HDF5Error) {
        let architecture = DocumentJSON.architectureText(document.architecture)
        try h5.setAttribute(Name.format, .string(ModelDocument.formatName))
        try h5.setAttribute(Name.formatVersion, .int64(Int64(ModelDocument.formatVersion)))
        try h5.setAttribute(Name.architecture, .string(architecture))
        try h5.setAttribute(Name.architectureChecksum, .uint32(CRC32C.checksum(architecture)))

        let weights = try h5.createGroup(Name.weights)
        try writeParameters(document.variableTensors, names: document.variableNames, in: weights,
                            compression: compression)

        if let training = document.training {
            let optimizer = try h5.createGroup(Name.optimizer)
            try optimizer.setAttribute(Name.optimizerName, .string(training.optimizer.config.kind.name))
            try optimizer.setAttribute(Name.iterations, .int64(Int64(training.optimizer.iterations)))
            var booleans: [String] = [], nulls: [String] = []
            for (key, value) in training.optimizer.config.hyperparameters {
                if key == "learning_rate", let schedule = training.optimizer.config.schedule {
                    // The JSON codec's schedule object, as text.
                    try optimizer.setAttribute(key, .string(DocumentJSON.scheduleText(schedule)))
                    continue
                }
                switch value {
                case .number(let number), .optionalNumber(let number?):
                    try optimizer.setAttribute(key, .double(number))
                case .flag(let flag):
                    try optimizer.setAttribute(key, .int64(flag ? 1 : 0))
                    booleans.append(key)
                case .optionalNumber(nil):
                    nulls.append(key)
                }
            }
            // HDF5 has no boolean or null: the lists say which int64 attributes are flags and which keys are null
            // (absent would mean "Keras's default", which differs from null for AdamW's weight_decay).
            if !booleans.isEmpty { try optimizer.setAttribute(Name.booleanHyperparameters, .strings(booleans)) }
            if !nulls.isEmpty { try optimizer.setAttribute(Name.nullHyperparameters, .strings(nulls)) }
            let scalars = training.optimizer.scalars
            if !scalars.isEmpty {
                try optimizer.setAttribute(Name.scalars, .strings(scalars.map(\.name)))
                for scalar in scalars { try optimizer.setAttribute(scalar.name, .double(scalar.value)) }
            }
            for slot in training.optimizer.slots {
                let group = try optimizer.createGroup(slot.name)
                try writeParameters(slot.tensors, names: document.parameterNames, in: group, compression: compression)
            }

            let group = try h5.createGroup(Name.training)
            try group.setAttribute(Name.loss, .string(DocumentJSON.lossText(training.loss)))
            try group.setAttribute(Name.epochsCompleted, .int64(Int64(training.epochsCompleted)))
            if let state = training.randomState {
                try group.setAttribute(Name.randomState, .uint64s(state.wordArray))
            }
            let historyText = DocumentJSON.historyText(training.history)
            let history = try group.createStringDataset(Name.history, text: historyText)
            try history.setAttribute(Name.checksum, .uint32(CRC32C.checksum(historyText)))
        }

        let metadata = try h5.createGroup(Name.metadata)
        for (key, value) in document.metadata.sorted(by: { $0.key < $1.key }) {
            try metadata.setAttribute(key, .string(value))
        }
        // Last, over the attributes as they are in the file: read back by the reader's own encoding.
        try h5.setAttribute(Name.attributesChecksum, .uint32(try attributesChecksum(of: h5)))
    }

    /// The CRC-32C of every attribute of the groups `Name.checksummedGroups` that exist (but
    /// `/@attributes_crc32c`): for each group, each attribute sorted by its name's UTF-8 bytes, the group's path,
    /// "@" and the attribute's canonical bytes (`canonicalAttributeBytes`).
    static func attributesChecksum(of h5: HDF5File) throws(HDF5Error) -> UInt32 {
        var crc: UInt32 = 0
        for path in Name.checksummedGroups {
            let group: any HDF5Object
            if path == "/" {
                group = h5
            } else {
                guard try h5.hasMember(String(path.dropFirst())) else { continue }
                group = try h5.openGroup(path)
            }
            let names = try group.attributeNames(limit: 100_000)
                .filter { path != "/" || $0 != Name.attributesChecksum }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for name in names {
                let bytes = Array(path.utf8) + [UInt8(ascii: "@")] + (try group.canonicalAttributeBytes(name))
                crc = bytes.withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
            }
        }
        return crc
    }

    /// One dataset per parameter (`<layer>/kernel`, `<layer>/bias`), written from the tensor's own buffer, each
    /// with the CRC-32C of its little-endian bytes, computed slab by slab just before HDF5 copies the slab out.
    private static func writeParameters(_ tensors: [Tensor], names: [String], in group: HDF5Group,
                                        compression: HDF5Compression?) throws(HDF5Error) {
        // The layer groups explicitly, not as intermediate groups, which would carry timestamps.
        var layers = Set<Substring>()
        for name in names {
            guard let layer = name.split(separator: "/").first, layers.insert(layer).inserted else { continue }
            _ = try group.createGroup(String(layer))
        }
        for (tensor, name) in zip(tensors, names) {
            let type: HDF5ElementType = tensor.dtype == .float32 ? .float32 : .float64
            let result = tensor.withUnsafeBytes { bytes in
                Result { () throws(HDF5Error) in
                    var crc: UInt32 = 0
                    let dataset = try group.createDataset(name, type: type, shape: tensor.shape, bytes: bytes,
                                                          compression: compression) { slab in
                        crc = CRC32C.checksum(slab, continuing: crc)
                    }
                    try dataset.setAttribute(Name.checksum, .uint32(crc))
                }
            }
            try result.get()
        }
    }
}

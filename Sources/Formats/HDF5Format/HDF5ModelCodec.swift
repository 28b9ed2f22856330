import CHDF5
import Foundation
import MLPCore
import FormatSupport
import HDF5Support
import MLPDocument

/// mlpconv's native HDF5 layout (`schemas/hdf5-layout.md`): a model document as plain HDF5 that h5py and
/// h5dump read without our code.
///
///     /                      @format = "mlpconv-model", @format_version = 1 (int64),
///                            @architecture = JSON text (the JSON codec's architecture object), @architecture_crc32c
///     /weights/<layer>/kernel   [in, units] float32|float64, @crc32c
///     /weights/<layer>/bias     [units], @crc32c                       (only when use_bias)
///     /optimizer             @name, @iterations, one attribute per hyperparameter (Keras's keys),
///                            @boolean_hyperparameters, @null_hyperparameters
///     /optimizer/<slot>/<layer>/kernel|bias   @crc32c
///     /training              @loss, @epochs_completed, @random_state (4 × uint64, optional)
///     /training/history      scalar UTF-8 string dataset: the history JSON text, @crc32c
///     /metadata              one string attribute per entry
///
/// Reading treats the file as hostile: links, external storage and virtual datasets are refused; every
/// dataset's shape is compared with the architecture, its type must be IEEE float32/float64 little-endian, and
/// its decoded size is checked against the limits and the file before anything is allocated; every tensor and
/// text is checked against its stored CRC-32C, because HDF5 itself reads flipped bytes back as different data.
package enum HDF5ModelCodec {
    // MARK: Names in the file

    package enum Name {
        package static let format = "format"
        package static let formatVersion = "format_version"
        package static let architecture = "architecture"
        package static let architectureChecksum = "architecture_crc32c"
        package static let checksum = "crc32c"
        package static let weights = "weights"
        package static let optimizer = "optimizer"
        package static let training = "training"
        package static let metadata = "metadata"
        package static let kernel = "kernel"
        package static let bias = "bias"
        package static let optimizerName = "name"
        package static let iterations = "iterations"
        package static let booleanHyperparameters = "boolean_hyperparameters"
        package static let nullHyperparameters = "null_hyperparameters"
        package static let loss = "loss"
        package static let epochsCompleted = "epochs_completed"
        package static let randomState = "random_state"
        package static let history = "history"

        /// `/optimizer` attributes that are not hyperparameters.
        package static let optimizerReserved: Set<String> = [optimizerName, iterations, booleanHyperparameters,
                                                     nullHyperparameters]
    }


    /// The history text's cap (a million epochs of a few metrics is about 64 MiB).
    package static let maxHistoryBytes = 64 << 20

    // MARK: - Writing

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
        try writeParameters(document.parameterTensors, names: document.parameterNames, in: weights,
                            compression: compression)

        if let training = document.training {
            let optimizer = try h5.createGroup(Name.optimizer)
            try optimizer.setAttribute(Name.optimizerName, .string(training.optimizer.config.kind.name))
            try optimizer.setAttribute(Name.iterations, .int64(Int64(training.optimizer.iterations)))
            var booleans: [String] = [], nulls: [String] = []
            for (key, value) in training.optimizer.config.hyperparameters {
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
            for slot in training.optimizer.slots {
                let group = try optimizer.createGroup(slot.name)
                try writeParameters(slot.tensors, names: document.parameterNames, in: group, compression: compression)
            }

            let group = try h5.createGroup(Name.training)
            try group.setAttribute(Name.loss, .string(training.loss.name))
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
    }

    /// One dataset per parameter (`<layer>/kernel`, `<layer>/bias`), written with a single `H5Dwrite` from the
    /// tensor's own buffer, each with the CRC-32C of its little-endian bytes.
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
                    let dataset = try group.createDataset(name, type: type, shape: tensor.shape, bytes: bytes,
                                                          compression: compression)
                    try dataset.setAttribute(Name.checksum, .uint32(CRC32C.checksum(bytes)))
                }
            }
            try result.get()
        }
    }

    // MARK: - Reading

    /// Reads the model at `path`; `file` names it in messages. Nothing is allocated for a tensor before its
    /// shape, type, storage and size have been checked.
    package static func read(path: String, file: String, limits: LoadLimits) throws(ModelFileError) -> ModelDocument {
        let opened = try HDF5ModelFile.open(path: path, file: file, limits: limits)
        return try read(h5: opened.h5, file: file, fileSize: opened.size, limits: limits)
    }

    /// Reads the model in an HDF5 file the caller has opened (the façade, which first asks whether it is ours).
    package static func read(h5: HDF5File, file: String, fileSize: Int, limits: LoadLimits) throws(ModelFileError) -> ModelDocument {
        try Reader(h5: h5, file: file, limits: limits, fileSize: fileSize).document()
    }

    /// Whether an open HDF5 file is in mlpconv's layout: it carries our `format` attribute. (A file without it
    /// may be a Keras `.h5`; the façade decides.)
    package static func isNativeFile(_ h5: HDF5File) -> Bool {
        (try? h5.hasAttribute(Name.format)) != false
    }
}

// MARK: - The reader

/// A tensor whose metadata passed every check, ready to be read.
private struct PlannedTensor {
    let dataset: HDF5Dataset
    let path: String
    let shape: [Int]
    let dtype: Tensor.DType
    let byteCount: Int
    let storedChecksum: UInt32
}

/// Checksums tensors on another core while the caller reads the next one from the file. In line, the CRC pass
/// (about 10 GB/s) adds roughly a quarter to a load that otherwise runs at the speed of filling fresh memory;
/// overlapped, it costs little when a second core is free (loads are memory-bound, so the gain is smaller on a
/// busy machine).
private final class ChecksumPipeline: @unchecked Sendable {  // `sums` is only touched under `lock`
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var sums: [UInt32]

    init(count: Int) { sums = [UInt32](repeating: 0, count: count) }

    func submit(_ index: Int, _ tensor: Tensor) {
        // Small tensors cost less to checksum than to hand over.
        if tensor.byteCount < 1 << 20 {
            let crc = CRC32C.checksum(tensor)
            lock.withLock { sums[index] = crc }
            return
        }
        DispatchQueue.global(qos: .userInitiated).async(group: group) { [self] in
            let crc = CRC32C.checksum(tensor)
            lock.withLock { sums[index] = crc }
        }
    }

    /// Waits for every submitted checksum.
    func finish() -> [UInt32] {
        group.wait()
        return lock.withLock { sums }
    }
}

private struct Reader {
    typealias Name = HDF5ModelCodec.Name
    let h5: HDF5File
    let file: String
    let limits: LoadLimits
    let fileSize: Int

    func fail(_ object: String?, _ reason: String) -> ModelFileError {
        ModelFileError(file: file, object: object, reason: reason)
    }

    /// Runs wrapper calls, reporting their failures under our file name.
    func wrap<T>(_ body: @autoclosure () throws(HDF5Error) -> T) throws(ModelFileError) -> T {
        do { return try body() } catch { throw ModelFileError(error, file: file) }
    }

    func document() throws(ModelFileError) -> ModelDocument {
        try checkFormat()
        let architecture = try readArchitecture()
        try checkMembers(of: h5, path: "/",
                         expected: [(Name.weights, true, true), (Name.optimizer, true, false),
                                    (Name.training, true, false), (Name.metadata, true, false)],
                         unexpected: { _ in "an mlpconv model holds only /weights, /optimizer, /training and /metadata" },
                         missing: { _ in "every mlpconv model has it" })

        // Everything but the tensor data first: configuration, then every dataset's metadata.
        let hasOptimizer = try wrap(h5.hasMember(Name.optimizer))
        let hasTraining = try wrap(h5.hasMember(Name.training))
        if hasOptimizer != hasTraining {
            let (present, absent) = hasOptimizer ? (Name.optimizer, Name.training) : (Name.training, Name.optimizer)
            throw fail("/\(absent)", "missing (the file has /\(present); a training record needs both)")
        }
        let weightsGroup = try wrap(h5.openGroup(Name.weights))
        let weights = try planParameters(in: weightsGroup, path: "/\(Name.weights)", architecture: architecture)

        var trainingParts: (config: OptimizerConfig, iterations: Int, slots: [(String, [PlannedTensor])],
                            group: HDF5Group)?
        if hasOptimizer {
            let optimizer = try wrap(h5.openGroup(Name.optimizer))
            let (config, iterations) = try readOptimizerConfig(optimizer)
            let slotNames = config.slotNames
            let settings = "\(config.kind.name) with these settings keeps "
                + (slotNames.isEmpty ? "no slots" : "slots " + slotNames.joined(separator: ", "))
            try checkMembers(of: optimizer, path: "/\(Name.optimizer)", expected: slotNames.map { ($0, true, true) },
                             unexpected: { _ in settings }, missing: { _ in settings })
            var slots: [(String, [PlannedTensor])] = []
            for slot in slotNames {
                let group = try wrap(optimizer.openGroup(slot))
                slots.append((slot, try planParameters(in: group, path: "/\(Name.optimizer)/\(slot)",
                                                       architecture: architecture)))
            }
            trainingParts = (config, iterations, slots, try wrap(h5.openGroup(Name.training)))
        }

        // The whole model's decoded size, before the first allocation.
        let planned = weights + (trainingParts?.slots.flatMap(\.1) ?? [])
        var total = 0
        for tensor in planned {
            total = total.addingReportingOverflow(tensor.byteCount).partialValue
            if total > limits.maxTotalBytes || total < 0 {
                throw fail(nil, "the tensors need more than \(limits.maxTotalBytes) bytes in total (the load limit); "
                           + "\(tensor.path) passes it")
            }
        }

        // Every tree holds one tensor per parameter, in parameter order (each layer's kernel, then its bias);
        // `readTensors` returns exactly one tensor per plan, in plan order.
        let tensors = try readTensors(planned)
        var cursor = 0
        func take() -> Tensor {
            defer { cursor += 1 }
            return tensors[cursor]
        }
        let layerWeights = architecture.layers.map { layer in
            ModelDocument.LayerWeights(kernel: take(), bias: layer.useBias ? take() : nil)
        }
        var document = ModelDocument(architecture: architecture, weights: layerWeights)
        if let trainingParts {
            let slots = trainingParts.slots.map { name, plans in
                ModelDocument.OptimizerRecord.Slot(name: name, tensors: plans.map { _ in take() })
            }
            document.training = try readTraining(
                trainingParts.group,
                optimizer: ModelDocument.OptimizerRecord(config: trainingParts.config,
                                                         iterations: trainingParts.iterations, slots: slots))
        }
        if try wrap(h5.hasMember(Name.metadata)) {
            document.metadata = try readMetadata(try wrap(h5.openGroup(Name.metadata)))
        }
        // Every part was checked on the way; this is the document's own consistency check, as a last guard.
        do { try document.validate() } catch { throw ModelFileError(file: file, error) }
        return document
    }

    // MARK: Root

    func checkFormat() throws(ModelFileError) {
        guard try wrap(h5.hasAttribute(Name.format)) else {
            throw fail(nil, "not an mlpconv model (no format attribute; a Keras file?)")
        }
        let format = try wrap(h5.attribute(Name.format))
        guard format == .string(ModelDocument.formatName) else {
            let found = if case .string(let text) = format { "\"\(text)\"" } else { format.description }
            throw fail(nil, "not an mlpconv model (its format attribute is \(found), expected \"\(ModelDocument.formatName)\")")
        }
        let version = try integerAttribute(h5, Name.formatVersion, path: "/")
        guard version >= 1 else { throw fail("/@\(Name.formatVersion)", "\(version) is not a valid format version") }
        guard version <= ModelDocument.formatVersion else {
            throw fail("/@\(Name.formatVersion)", "the file has format version \(version); this mlpconv reads up to "
                       + "\(ModelDocument.formatVersion): a newer mlpconv wrote it")
        }
    }

    func readArchitecture() throws(ModelFileError) -> ModelDocument.Architecture {
        let object = "/@\(Name.architecture)"
        guard try wrap(h5.hasAttribute(Name.architecture)) else { throw fail(object, "missing") }
        let text = try wrap(h5.stringAttribute(Name.architecture))
        try verifyChecksum(of: text, owner: h5, attribute: Name.architectureChecksum, path: "/",
                           object: object, what: "the architecture text")
        return try DocumentJSON.readArchitecture(text: text, file: file, object: object)
    }

    // MARK: Structure

    /// Checks a group's members against what the layout expects: each `(name, isGroup, required)`. Links of any
    /// kind are refused (an mlpconv file has none, and an external one would make HDF5 open another file).
    func checkMembers<C: HDF5Container>(
        of container: C, path: String, expected: [(name: String, isGroup: Bool, required: Bool)],
        unexpected: (String) -> String, missing: (String) -> String
    ) throws(ModelFileError) {
        let members = try wrap(container.members(limit: 100_000))
        var present: [String: HDF5Member.Kind] = [:]
        for member in members {
            let object = HDF5Path.join(path, member.name)
            switch member.kind {
            case .externalLink(let target, let targetObject):
                throw fail(object, "external link to '\(targetObject)' in file '\(target)'; external links are refused")
            case .softLink(let target):
                throw fail(object, "soft link to '\(target)'; an mlpconv model holds no links")
            case .userDefinedLink(let type):
                throw fail(object, "user-defined link (type \(type)); refused")
            case .group, .dataset, .namedDatatype, .otherObject:
                present[member.name] = member.kind
            }
            guard let spec = expected.first(where: { $0.name == member.name }) else {
                throw fail(object, "unexpected \(describe(member.kind)) (\(unexpected(member.name)))")
            }
            let wanted: HDF5Member.Kind = spec.isGroup ? .group : .dataset
            if member.kind != wanted {
                throw fail(object, "expected a \(describe(wanted)), found a \(describe(member.kind))")
            }
        }
        for spec in expected where spec.required && present[spec.name] == nil {
            throw fail(HDF5Path.join(path, spec.name), "missing (\(missing(spec.name)))")
        }
    }

    private func describe(_ kind: HDF5Member.Kind) -> String {
        switch kind {
        case .group: "group"
        case .dataset: "dataset"
        case .namedDatatype: "named datatype"
        default: "object"
        }
    }

    /// Plans a `<layer>/kernel|bias` tree: exactly the architecture's layers, each with exactly its tensors.
    /// Returns them in parameter order (each layer's kernel, then its bias).
    func planParameters(in group: HDF5Group, path: String,
                        architecture: ModelDocument.Architecture) throws(ModelFileError) -> [PlannedTensor] {
        try checkMembers(of: group, path: path, expected: architecture.layers.map { ($0.name, true, true) },
                         unexpected: { "the architecture has no layer \"\($0)\"" },
                         missing: { "the architecture has a layer \"\($0)\"" })
        var tensors: [PlannedTensor] = []
        for (index, layer) in architecture.layers.enumerated() {
            let layerPath = HDF5Path.join(path, layer.name)
            let layerGroup = try wrap(group.openGroup(layer.name))
            let holds = layer.useBias ? "layer \"\(layer.name)\" has a kernel and a bias"
                                      : "layer \"\(layer.name)\" has only a kernel (use_bias is false)"
            try checkMembers(of: layerGroup, path: layerPath,
                             expected: [(Name.kernel, false, true)] + (layer.useBias ? [(Name.bias, false, true)] : []),
                             unexpected: { _ in holds }, missing: { _ in holds })
            let inputs = architecture.inputWidth(ofLayer: index)
            tensors.append(try planTensor(in: layerGroup, Name.kernel, path: layerPath, shape: [inputs, layer.units],
                                          origin: "layer \"\(layer.name)\" has \(inputs) inputs and \(layer.units) units"))
            if layer.useBias {
                tensors.append(try planTensor(in: layerGroup, Name.bias, path: layerPath, shape: [layer.units],
                                              origin: "layer \"\(layer.name)\" has \(layer.units) units"))
            }
        }
        return tensors
    }

    /// Opens a tensor dataset and checks everything knowable without reading its data.
    func planTensor(in group: HDF5Group, _ name: String, path parent: String, shape expected: [Int],
                    origin: String) throws(ModelFileError) -> PlannedTensor {
        let path = HDF5Path.join(parent, name)
        let dataset = try wrap(group.openDataset(name))
        let info = try wrap(dataset.info())  // refuses virtual datasets
        let dtype: Tensor.DType
        switch info.floatTensorDType(expected: expected, origin: origin) {
        case .success(let found): dtype = found
        case .failure(let problem): throw fail(path, problem.reason)
        }
        // The architecture bounds each width by 2^24, so this cannot overflow; checked all the same.
        guard let count = Tensor.elementCount(of: expected),
              case (let bytes, false) = count.multipliedReportingOverflow(by: dtype.byteSize) else {
            throw fail(path, "shape \(expected) is too large to address")
        }
        if bytes > limits.maxTensorBytes {
            throw fail(path, "shape \(expected) of \(dtype.rawValue) decodes to \(bytes) bytes, over the limit of "
                       + "\(limits.maxTensorBytes) bytes per tensor")
        }
        try checkStorage(info, bytes: bytes, dtype: dtype, path: path)
        let stored = try storedChecksum(of: dataset, attribute: Name.checksum, path: path, what: "the tensor data")
        return PlannedTensor(dataset: dataset, path: path, shape: expected, dtype: dtype, byteCount: bytes,
                             storedChecksum: stored)
    }

    /// The stored data must be able to hold what the shape declares (HDF5DatasetInfo.storageProblem), so a tiny
    /// file cannot make us allocate for a huge declared shape.
    func checkStorage(_ info: HDF5DatasetInfo, bytes: Int, dtype: Tensor.DType, path: String) throws(ModelFileError) {
        if let problem = info.storageProblem(bytes: bytes, dtype: dtype, fileSize: fileSize) { throw fail(path, problem) }
    }

    // MARK: Data

    /// Reads planned tensors, each straight into the array that becomes its storage, and checks every CRC
    /// (computed alongside the reading); a mismatch is reported for the first corrupt tensor in file order.
    func readTensors(_ plans: [PlannedTensor]) throws(ModelFileError) -> [Tensor] {
        let checksums = ChecksumPipeline(count: plans.count)
        // On an early exit too: no checksum task may outlive the load.
        defer { _ = checksums.finish() }
        var tensors: [Tensor] = []
        tensors.reserveCapacity(plans.count)
        for (index, plan) in plans.enumerated() {
            let count = plan.byteCount / plan.dtype.byteSize
            let storage: Tensor.Storage
            switch plan.dtype {
            case .float32: storage = .float32(try wrap(plan.dataset.readValues(as: Float.self, maxElements: count)))
            case .float64: storage = .float64(try wrap(plan.dataset.readValues(as: Double.self, maxElements: count)))
            }
            let tensor = Tensor(unchecked: plan.shape, storage: storage)
            checksums.submit(index, tensor)
            tensors.append(tensor)
        }
        for (plan, computed) in zip(plans, checksums.finish()) {
            try verify(stored: plan.storedChecksum, computed: computed, object: plan.path, what: "the tensor data")
        }
        return tensors
    }

    /// The CRC-32C stored in `attribute` of `owner` (at `path`), for `what`.
    func storedChecksum(of owner: some HDF5Object, attribute: String, path: String,
                        what: String) throws(ModelFileError) -> UInt32 {
        let attributePath = path == "/" ? "/@\(attribute)" : "\(path)@\(attribute)"
        guard try wrap(owner.hasAttribute(attribute)) else {
            throw fail(attributePath, "missing: every mlpconv file stores a CRC-32C of \(what)")
        }
        guard case .int64(let value) = try wrap(owner.attribute(attribute)), let stored = UInt32(exactly: value) else {
            throw fail(attributePath, "expected an unsigned 32-bit checksum")
        }
        return stored
    }

    func verify(stored: UInt32, computed: UInt32, object: String, what: String) throws(ModelFileError) {
        if stored != computed {
            throw fail(object, "checksum mismatch (stored crc32c \(CRC32C.hex(stored)), computed "
                       + "\(CRC32C.hex(computed))): \(what) is corrupt")
        }
    }

    /// Checks a text against the CRC-32C stored beside it.
    func verifyChecksum(of text: String, owner: some HDF5Object, attribute: String, path: String,
                        object: String, what: String) throws(ModelFileError) {
        let stored = try storedChecksum(of: owner, attribute: attribute, path: path, what: what)
        try verify(stored: stored, computed: CRC32C.checksum(text), object: object, what: what)
    }

    // MARK: Training

    func readOptimizerConfig(_ group: HDF5Group) throws(ModelFileError) -> (OptimizerConfig, Int) {
        let path = "/\(Name.optimizer)"
        let nameValue = try stringAttribute(group, Name.optimizerName, path: path)
        guard let kind = OptimizerKind(name: nameValue) else {
            throw fail("\(path)@\(Name.optimizerName)", "unknown optimizer \"\(nameValue)\"; supported: "
                       + OptimizerKind.acceptedNames.joined(separator: ", "))
        }
        let iterationCount = try countAttribute(group, Name.iterations, path: path)
        let names = try wrap(group.attributeNames(limit: 1000))
        let booleans = names.contains(Name.booleanHyperparameters)
            ? try wrap(group.stringArrayAttribute(Name.booleanHyperparameters)) : []
        let nulls = names.contains(Name.nullHyperparameters)
            ? try wrap(group.stringArrayAttribute(Name.nullHyperparameters)) : []

        var hyperparameters: [String: Hyperparameter] = [:]
        for key in nulls {
            if names.contains(key) {
                throw fail("\(path)@\(key)", "is listed in \(Name.nullHyperparameters) but also has a value")
            }
            hyperparameters[key] = .optionalNumber(nil)
        }
        for key in booleans where !names.contains(key) {
            throw fail("\(path)@\(key)", "missing (it is listed in \(Name.booleanHyperparameters))")
        }
        for key in names where !Name.optimizerReserved.contains(key) {
            let object = "\(path)@\(key)"
            let value = try wrap(group.attribute(key))
            if booleans.contains(key) {
                guard case .int64(let flag) = value, flag == 0 || flag == 1 else {
                    throw fail(object, "expected 0 or 1 (a boolean hyperparameter), found \(value)")
                }
                hyperparameters[key] = .flag(flag == 1)
            } else {
                switch value {
                case .double(let number): hyperparameters[key] = .number(number)
                case .int64(let integer):
                    guard let number = Double(exactly: integer) else {
                        throw fail(object, "\(integer) is not exactly representable as a number")
                    }
                    hyperparameters[key] = .number(number)
                default: throw fail(object, "expected a number, found \(value)")
                }
            }
        }
        do {
            return (try OptimizerConfig(kind, hyperparameters: hyperparameters), iterationCount)
        } catch {
            switch error {
            case .unknownHyperparameter(_, let key, _), .invalidHyperparameter(let key, _):
                throw fail("\(path)@\(key)", error.description)
            default:
                throw fail(path, error.description)
            }
        }
    }

    func readTraining(_ group: HDF5Group,
                      optimizer: ModelDocument.OptimizerRecord) throws(ModelFileError) -> ModelDocument.TrainingRecord {
        let path = "/\(Name.training)"
        try checkMembers(of: group, path: path, expected: [(Name.history, false, true)],
                         unexpected: { _ in "/training holds only the history" },
                         missing: { _ in "the history JSON text" })
        let lossName = try stringAttribute(group, Name.loss, path: path)
        guard let loss = Loss(name: lossName) else {
            throw fail("\(path)@\(Name.loss)", "unknown loss \"\(lossName)\"; supported: "
                       + Loss.acceptedNames.joined(separator: ", "))
        }
        let epochsCompleted = try countAttribute(group, Name.epochsCompleted, path: path)
        var randomState: RandomState?
        if try wrap(group.hasAttribute(Name.randomState)) {
            let words = try wrap(group.unsignedAttribute(Name.randomState, maxElements: 16))
            guard let state = RandomState(words: words) else {
                throw fail("\(path)@\(Name.randomState)", "expected 4 words, not all zero; found \(words)")
            }
            randomState = state
        }
        let historyPath = "\(path)/\(Name.history)"
        let dataset = try wrap(group.openDataset(Name.history))
        let text = try wrap(dataset.readString(maxBytes: HDF5ModelCodec.maxHistoryBytes))
        try verifyChecksum(of: text, owner: dataset, attribute: Name.checksum, path: historyPath,
                           object: historyPath, what: "the history text")
        let history = try DocumentJSON.readHistory(text: text, file: file, object: historyPath)
        return ModelDocument.TrainingRecord(loss: loss, optimizer: optimizer, epochsCompleted: epochsCompleted,
                                            randomState: randomState, history: history)
    }

    func readMetadata(_ group: HDF5Group) throws(ModelFileError) -> [String: String] {
        let path = "/\(Name.metadata)"
        try checkMembers(of: group, path: path, expected: [], unexpected: { _ in "metadata are attributes" },
                         missing: { _ in "" })
        var metadata: [String: String] = [:]
        for key in try wrap(group.attributeNames(limit: 100_000)) {
            metadata[key] = try stringAttribute(group, key, path: path)
        }
        return metadata
    }

    // MARK: Attributes

    func stringAttribute(_ object: some HDF5Object, _ name: String, path: String) throws(ModelFileError) -> String {
        let attributePath = path == "/" ? "/@\(name)" : "\(path)@\(name)"
        guard try wrap(object.hasAttribute(name)) else { throw fail(attributePath, "missing") }
        switch try wrap(object.attribute(name)) {
        case .string(let text): return text
        case let other: throw fail(attributePath, "expected a string, found \(other)")
        }
    }

    /// A count (iterations, epochs): an integer attribute that must be ≥ 0.
    func countAttribute(_ object: some HDF5Object, _ name: String, path: String) throws(ModelFileError) -> Int {
        let value = try integerAttribute(object, name, path: path)
        guard value >= 0, let count = Int(exactly: value) else { throw fail("\(path)@\(name)", "must be ≥ 0, got \(value)") }
        return count
    }

    func integerAttribute(_ object: some HDF5Object, _ name: String, path: String) throws(ModelFileError) -> Int64 {
        let attributePath = path == "/" ? "/@\(name)" : "\(path)@\(name)"
        guard try wrap(object.hasAttribute(name)) else { throw fail(attributePath, "missing") }
        switch try wrap(object.attribute(name)) {
        case .int64(let value): return value
        case let other: throw fail(attributePath, "expected an integer, found \(other)")
        }
    }
}

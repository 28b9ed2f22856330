import FormatSupport
import HDF5Support
import MLPCore
import MLPDocument

// Reading: the file is hostile. Structure, configuration and every tensor's metadata are checked before the
// first tensor is allocated; every tensor and text is checked against its CRC-32C.
extension HDF5ModelCodec {
    /// Reads the model at `path`; `file` names it in messages. Nothing is allocated for a tensor before its
    /// shape, type, storage and size have been checked.
    package static func read(path: String, file: String, limits: LoadLimits) throws(ModelFileError) -> ModelDocument {
        let opened = try HDF5ModelFile.open(path: path, file: file, limits: limits)
        return try read(h5: opened.h5, file: file, fileSize: opened.size, limits: limits)
    }

    /// Reads the model in an HDF5 file the caller has opened (the façade, which first asks whether it is ours).
    package static func read(h5: HDF5File, file: String, fileSize: Int, limits: LoadLimits) throws(ModelFileError) -> ModelDocument {
        try HDF5ModelReader(h5: h5, file: file, limits: limits, fileSize: fileSize).document()
    }

    /// Whether an open HDF5 file is in mlpconv's layout: it carries our `format` attribute. (A file without it
    /// may be a Keras `.h5`; the façade decides.)
    package static func isNativeFile(_ h5: HDF5File) -> Bool {
        (try? h5.hasAttribute(Name.format)) != false
    }
}

/// A tensor whose metadata passed every check, ready to be read.
struct PlannedTensor {
    let dataset: HDF5Dataset
    let path: String
    let shape: [Int]
    let dtype: Tensor.DType
    let byteCount: Int
    let storedChecksum: UInt32
}

/// One read of one file, with the limits it was given; every part of the document is read and checked through
/// here, and failures name the file and the object.
struct HDF5ModelReader {
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
        try checkAttributes(of: h5, path: "/", allowed: Name.rootAttributes)
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
        let weights = try planParameters(in: weightsGroup, path: "/\(Name.weights)", architecture: architecture,
                                         trainableOnly: false)

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
                                                       architecture: architecture, trainableOnly: true)))
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

        // /weights holds every variable layer by layer, each slot tree one tensor per trainable parameter in
        // parameter order; `readTensors` returns exactly one tensor per plan, in plan order.
        let tensors = try readTensors(planned)
        var cursor = 0
        func take() -> Tensor {
            defer { cursor += 1 }
            return tensors[cursor]
        }
        let layerWeights = architecture.layers.indices.map { index in
            var weights = ModelDocument.LayerWeights()
            for variable in architecture.variables(ofLayer: index) { weights[variable.name] = take() }
            return weights
        }
        var document = ModelDocument(architecture: architecture, weights: layerWeights)
        if let trainingParts {
            let slots = trainingParts.slots.map { name, plans in
                ModelDocument.OptimizerRecord.Slot(name: name, tensors: plans.map { _ in take() })
            }
            document.training = try readTraining(
                trainingParts.group,
                optimizer: ModelDocument.OptimizerRecord(
                    config: trainingParts.config, iterations: trainingParts.iterations, slots: slots,
                    scalars: try readScalars(try wrap(h5.openGroup(Name.optimizer)), config: trainingParts.config)))
        }
        if try wrap(h5.hasMember(Name.metadata)) {
            document.metadata = try readMetadata(try wrap(h5.openGroup(Name.metadata)))
        }
        // Every part was checked on the way; this is the document's own consistency check, as a last guard.
        do { try document.validate() } catch { throw ModelFileError(file: file, error) }
        // Last, so that a value out of range is named as such: one that passed every check may still differ from
        // what was written.
        try verifyAttributesChecksum()
        return document
    }

    /// Refuses any attribute of `object` (at `path`) outside `allowed`: the layout defines every attribute, and an
    /// unknown name is most likely a known one with a flipped byte, whose value would otherwise be ignored.
    func checkAttributes(of object: some HDF5Object, path: String, allowed: Set<String>) throws(ModelFileError) {
        for name in try wrap(object.attributeNames(limit: 1000)) where !allowed.contains(name) {
            let expected = allowed.isEmpty ? "it has none" : "it has " + allowed.sorted().joined(separator: ", ")
            throw fail("\(path)@\(name)", "unexpected attribute (\(expected) in an mlpconv model)")
        }
    }

    /// Checks `/@attributes_crc32c` when the file has it (files written before it existed do not).
    func verifyAttributesChecksum() throws(ModelFileError) {
        guard try wrap(h5.hasAttribute(Name.attributesChecksum)) else { return }
        let stored = try storedChecksum(of: h5, attribute: Name.attributesChecksum, path: "/",
                                        what: "the attributes")
        let computed = try wrap(HDF5ModelCodec.attributesChecksum(of: h5))
        try verify(stored: stored, computed: computed, object: "/@\(Name.attributesChecksum)",
                   what: "an attribute of " + Name.checksummedGroups.joined(separator: ", ") + " (its name or value)")
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

    /// Plans a `<layer>/<variable>` tree: exactly the architecture's layers that have such tensors (every
    /// weight for /weights, the trainable ones for an optimizer slot), each with exactly its tensors. Returns them
    /// layer by layer in the layer's variable order.
    func planParameters(in group: HDF5Group, path: String, architecture: ModelDocument.Architecture,
                        trainableOnly: Bool) throws(ModelFileError) -> [PlannedTensor] {
        let variables = architecture.layers.indices.map { index in
            architecture.variables(ofLayer: index).filter { !trainableOnly || $0.trainable }
        }
        let holders = architecture.layers.indices.filter { !variables[$0].isEmpty }
        try checkAttributes(of: group, path: path, allowed: [])
        let what = trainableOnly ? "trainable weights" : "weights"
        try checkMembers(of: group, path: path, expected: holders.map { (architecture.layers[$0].name, true, true) },
                         unexpected: { name in
                             architecture.layers.contains { $0.name == name } ? "the layer \"\(name)\" has no \(what)"
                                 : "the architecture has no layer \"\(name)\"" },
                         missing: { "the architecture has a layer \"\($0)\"" })
        var tensors: [PlannedTensor] = []
        for index in holders {
            let layer = architecture.layers[index]
            let layerPath = HDF5Path.join(path, layer.name)
            let layerGroup = try wrap(group.openGroup(layer.name))
            try checkAttributes(of: layerGroup, path: layerPath, allowed: [])
            let inputs = architecture.inputWidth(ofLayer: index)
            let holds: String
            if case .dense(let dense) = layer.kind {
                holds = dense.useBias ? "layer \"\(layer.name)\" has a kernel and a bias"
                                      : "layer \"\(layer.name)\" has only a kernel (use_bias is false)"
            } else {
                holds = "layer \"\(layer.name)\" (\(layer.kind.typeName)) holds "
                    + variables[index].map(\.name).joined(separator: ", ")
            }
            try checkMembers(of: layerGroup, path: layerPath, expected: variables[index].map { ($0.name, false, true) },
                             unexpected: { _ in holds }, missing: { _ in holds })
            for variable in variables[index] {
                let origin: String
                switch (layer.kind, variable.name) {
                case (.dense(let dense), "kernel"): origin = "layer \"\(layer.name)\" has \(inputs) inputs and \(dense.units) units"
                case (.dense(let dense), _): origin = "layer \"\(layer.name)\" has \(dense.units) units"
                default: origin = "layer \"\(layer.name)\" has \(inputs) features"
                }
                tensors.append(try planTensor(in: layerGroup, variable.name, path: layerPath, shape: variable.shape,
                                              origin: origin))
            }
        }
        return tensors
    }

    /// Opens a tensor dataset and checks everything knowable without reading its data.
    func planTensor(in group: HDF5Group, _ name: String, path parent: String, shape expected: [Int],
                    origin: String) throws(ModelFileError) -> PlannedTensor {
        let path = HDF5Path.join(parent, name)
        let dataset = try wrap(group.openDataset(name))
        try checkAttributes(of: dataset, path: path, allowed: [Name.checksum])
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
        let attributePath = "\(path)@\(attribute)"
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

    // MARK: Attributes

    func stringAttribute(_ object: some HDF5Object, _ name: String, path: String) throws(ModelFileError) -> String {
        try requiredAttribute(object, name, path: path, expected: "a string") {
            if case .string(let text) = $0 { text } else { nil }
        }
    }

    /// A count (iterations, epochs): an integer attribute that must be ≥ 0.
    func countAttribute(_ object: some HDF5Object, _ name: String, path: String) throws(ModelFileError) -> Int {
        let value = try integerAttribute(object, name, path: path)
        guard value >= 0, let count = Int(exactly: value) else {
            throw fail("\(path)@\(name)", "must be ≥ 0, got \(value)")
        }
        return count
    }

    func integerAttribute(_ object: some HDF5Object, _ name: String, path: String) throws(ModelFileError) -> Int64 {
        try requiredAttribute(object, name, path: path, expected: "an integer") {
            if case .int64(let value) = $0 { value } else { nil }
        }
    }

    /// The attribute `name` of `object` (at `path`), which must exist and hold what `extract` accepts.
    private func requiredAttribute<T>(_ object: some HDF5Object, _ name: String, path: String, expected: String,
                                      _ extract: (HDF5AttributeValue) -> T?) throws(ModelFileError) -> T {
        let attributePath = "\(path)@\(name)"
        guard try wrap(object.hasAttribute(name)) else { throw fail(attributePath, "missing") }
        let value = try wrap(object.attribute(name))
        guard let result = extract(value) else { throw fail(attributePath, "expected \(expected), found \(value)") }
        return result
    }
}

import FormatSupport
import HDF5Support
import MLPCore
import MLPDocument

// Reading the training record: /optimizer's configuration, /training's loss, counters and history, and /metadata.
extension HDF5ModelReader {
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
        let scalars = try scalarNames(group, names: names)

        var hyperparameters: [String: Hyperparameter] = [:]
        var schedule: LearningRateSchedule?
        for key in nulls {
            if names.contains(key) {
                throw fail("\(path)@\(key)", "is listed in \(Name.nullHyperparameters) but also has a value")
            }
            hyperparameters[key] = .optionalNumber(nil)
        }
        for key in booleans where !names.contains(key) {
            throw fail("\(path)@\(key)", "missing (it is listed in \(Name.booleanHyperparameters))")
        }
        for key in names where !Name.optimizerReserved.contains(key) && !scalars.contains(key) {
            let object = "\(path)@\(key)"
            let value = try wrap(group.attribute(key))
            if booleans.contains(key) {
                guard case .int64(let flag) = value, flag == 0 || flag == 1 else {
                    throw fail(object, "expected 0 or 1 (a boolean hyperparameter), found \(value)")
                }
                hyperparameters[key] = .flag(flag == 1)
            } else {
                switch value {
                case .string(let text) where key == "learning_rate":
                    schedule = try DocumentJSON.readSchedule(text: text, file: file, object: object)
                case .double(let number): hyperparameters[key] = .number(number)
                case .int64(let integer):
                    guard let number = Double(exactly: integer) else {
                        throw fail(object, "\(integer) is not exactly representable as a number")
                    }
                    hyperparameters[key] = .number(number)
                default: throw fail(object, "expected a number\(key == "learning_rate" ? " or a schedule's JSON text" : ""), found \(value)")
                }
            }
        }
        do {
            return (try OptimizerConfig(kind, hyperparameters: hyperparameters, schedule: schedule), iterationCount)
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
        try checkAttributes(of: group, path: path, allowed: Name.trainingAttributes)
        try checkMembers(of: group, path: path, expected: [(Name.history, false, true)],
                         unexpected: { _ in "/training holds only the history" },
                         missing: { _ in "the history JSON text" })
        let loss = try DocumentJSON.readLoss(text: try stringAttribute(group, Name.loss, path: path), file: file,
                                             object: "\(path)@\(Name.loss)")
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
        try checkAttributes(of: dataset, path: historyPath, allowed: [Name.checksum])
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
}

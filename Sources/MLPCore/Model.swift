/// Everything training needs besides the weights, all of it saved with a model so a resumed run continues
/// exactly where it stopped.
public struct TrainingState<T: MLPScalar>: Sendable, Equatable {
    public var loss: Loss
    public var optimizer: Optimizer<T>
    public var epochsCompleted: Int
    /// The generator's state after the last completed epoch (or after initialization).
    public var random: RandomState
    public var history: [EpochRecord]

    public init(loss: Loss, optimizer: Optimizer<T>, epochsCompleted: Int = 0, random: RandomState, history: [EpochRecord] = []) {
        self.loss = loss
        self.optimizer = optimizer
        self.epochsCompleted = epochsCompleted
        self.random = random
        self.history = history
    }
}

/// One epoch's metrics, under Keras's history keys: `loss`, each metric's name (`accuracy`, …), `val_loss`,
/// `val_` + each metric's name.
public struct EpochRecord: Sendable, Equatable {
    public var epoch: Int
    public var metrics: [String: Double]

    public init(epoch: Int, metrics: [String: Double]) {
        self.epoch = epoch
        self.metrics = metrics
    }

    /// Metric names in a stable display order: training metrics first, then validation ones.
    public var orderedKeys: [String] {
        metrics.keys.sorted { a, b in
            let aValidation = a.hasPrefix("val_"), bValidation = b.hasPrefix("val_")
            if aValidation != bValidation { return !aValidation }
            let rank = { (key: String) in key.hasSuffix("loss") ? 0 : 1 }
            return (rank(a), a) < (rank(b), b)
        }
    }
}

/// A network together with its training state: the unit that is trained, saved and resumed.
public struct Model<T: MLPScalar>: Sendable, Equatable {
    public internal(set) var network: Network<T>
    public internal(set) var training: TrainingState<T>

    /// Joins saved parts; the optimizer state has already been checked against the network by `Optimizer`.
    public init(network: Network<T>, training: TrainingState<T>) throws(TrainingError) {
        let expected = OptimizerState<T>(config: training.optimizer.config, network: network)
        for (slot, fresh) in zip(training.optimizer.state.slots, expected.slots) {
            guard slot.values.map(\.count) == fresh.values.map(\.count) else {
                throw .invalidState("optimizer slot \"\(slot.name)\" does not match the network's parameter shapes")
            }
        }
        guard training.epochsCompleted >= 0 else {
            throw .invalidState("epochs completed must be ≥ 0, got \(training.epochsCompleted)")
        }
        self.network = network
        self.training = training
    }

    /// A new model: weights drawn from a generator seeded with `seed`, whose state then carries on into training.
    public init(
        inputWidth: Int, layers: [LayerSpec], loss: Loss, optimizer: OptimizerConfig, seed: UInt64
    ) throws(TrainingError) {
        var random = RandomGenerator(seed: seed)
        do {
            let network = try Network<T>(inputWidth: inputWidth, layers: layers, random: &random)
            let optimizer = try Optimizer(config: optimizer, network: network)
            try self.init(network: network, training: TrainingState(loss: loss, optimizer: optimizer, random: random.state))
        } catch let error as NetworkError {
            throw .network(error)
        } catch let error as OptimizerError {
            throw .optimizer(error)
        } catch let error as TrainingError {
            throw error
        } catch {
            throw .invalidState("\(error)")
        }
    }

    /// Replaces the optimizer; its state starts fresh.
    public mutating func replaceOptimizer(_ config: OptimizerConfig) throws(OptimizerError) {
        training.optimizer = try Optimizer(config: config, network: network)
    }

    public mutating func replaceLoss(_ loss: Loss) {
        training.loss = loss
    }
}

/// How `fit` runs. `validationSplit` holds out the *last* fraction of the rows, as Keras does — not a random
/// subset, so resuming never reshuffles which rows are held out.
public struct FitOptions: Sendable, Equatable {
    public var epochs: Int
    public var batchSize: Int
    public var shuffle: Bool
    public var validationSplit: Double
    /// Training refuses weights that are already NaN or infinite unless this is set.
    public var allowNonFiniteWeights: Bool
    /// The metrics each epoch records, under their names and `val_` + name (Keras's compiled metrics); nil
    /// records `accuracy` for the classification losses, as mlpconv always has.
    public var metrics: [Metric]?

    public init(epochs: Int = 1, batchSize: Int = 32, shuffle: Bool = true, validationSplit: Double = 0,
                allowNonFiniteWeights: Bool = false, metrics: [Metric]? = nil) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.validationSplit = validationSplit
        self.allowNonFiniteWeights = allowNonFiniteWeights
        self.metrics = metrics
    }
}

/// Progress reported while fitting.
public enum TrainingEvent: Sendable {
    /// After each optimizer step: the running mean loss of the epoch so far.
    case batchEnd(epoch: Int, batch: Int, batches: Int, samples: Int, meanLoss: Double)
    case epochEnd(EpochRecord)
}

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case network(NetworkError)
    case optimizer(OptimizerError)
    case invalidState(String)
    case invalidOption(String)
    case dataMismatch(String)
    case invalidLabel(row: Int, value: Double, classes: Int)
    case nonFiniteWeights(tensor: String, count: Int)

    public var description: String {
        switch self {
        case .network(let error): error.description
        case .optimizer(let error): error.description
        case .invalidState(let reason): "training state: \(reason)"
        case .invalidOption(let reason): reason
        case .dataMismatch(let reason): reason
        case .invalidLabel(let row, let value, let classes):
            "row \(row): label \(value) is not a class index in 0..<\(classes)"
        case .nonFiniteWeights(let tensor, let count):
            "\(tensor) holds \(count) NaN or infinite values; refusing to train on it"
        }
    }
}

extension Model {
    /// Changes hyperparameters of the same optimizer (say, the learning rate) and keeps its state, which stays
    /// valid as long as the slots it keeps do not change.
    public mutating func updateOptimizer(_ config: OptimizerConfig) throws(OptimizerError) {
        guard config.slotNames == training.optimizer.config.slotNames else {
            throw .invalidState("the new settings keep slots \(config.slotNames), the stored state has \(training.optimizer.config.slotNames); start fresh state instead")
        }
        training.optimizer = try Optimizer(config: config, state: training.optimizer.state, network: network)
    }

    /// Starts the generator over from `seed` (a resumed run then no longer continues the stored sequence).
    public mutating func reseed(_ seed: UInt64) {
        training.random = RandomGenerator(seed: seed).state
    }
}

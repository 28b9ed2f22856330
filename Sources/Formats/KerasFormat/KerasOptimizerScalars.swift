import MLPCore
import HDF5Support
import MLPDocument

/// The slot groups and optimizer-level scalars of Keras 3's optimizers (docs/keras-formats.md, optimizer
/// variable order), for the readers and writers.
extension KerasOptimizerLayout {
    /// The slot names in the groups Keras creates them in: one group per `add_optimizer_variables` call, whose
    /// names Keras interleaves parameter by parameter (Adam's momentum and velocity), one group after another.
    package static func slotGroups(_ config: OptimizerConfig) -> [[String]] {
        // The base optimizer's build creates the moving averages (one call), then the gradient accumulators (one
        // per parameter, so a block too), before the rule's own slots.
        let wrappers = config.wrapperSlotNames.map { [$0] }
        switch config.kind {
        case .adam, .adamw: return wrappers + [["momentum", "velocity"]] + (config.amsgrad ? [["velocity_hat"]] : [])
        case .nadam, .adamax, .adadelta, .ftrl, .lamb: return wrappers + [config.ruleSlotNames]
        case .sgd, .rmsprop, .adagrad, .lion: return wrappers + config.ruleSlotNames.map { [$0] }
        // Keras holds no torch optimizer (KerasWriting.writable translates it first).
        case .torchSGD, .torchAdam, .torchAdamW, .torchRMSprop, .torchAdagrad: return wrappers + config.ruleSlotNames.map { [$0] }
        }
    }

    /// Slot-name endings of Keras 3 `.h5` variable names besides the original five; longer names first where
    /// one ends another.
    static let moreSlotSuffixes = ["accumulated_delta_var", "accumulated_grad", "norm", "linear", "average"]

    /// What `classify` calls a variable Keras created without a name (`variable`, `variable_3`): Nadam's
    /// `u_product`, stored after the slots, outside the optimizer's name scope.
    package static let unnamedScalar = "(unnamed scalar)"

    /// The scalars Keras names (a LossScaleOptimizer's), as opposed to Nadam's unnamed `u_product`.
    package static let namedScalars: Set<String> = ["step_counter", "dynamic_scale"]

    static func isUnnamedVariable(_ name: Substring) -> Bool {
        guard name.hasPrefix("variable") else { return false }
        let rest = name.dropFirst("variable".count)
        return rest.isEmpty || (rest.first == "_" && rest.count > 1 && rest.dropFirst().allSatisfy(\.isNumber))
    }

    /// The dtype Keras gives a scalar: Nadam's `u_product` takes the first parameter's.
    package static func scalarDType(_ name: String, document: ModelDocument) -> Tensor.DType {
        OptimizerConfig.parameterPrecisionScalarNames.contains(name)
            ? document.parameterTensors.first?.dtype ?? .float32 : .float32
    }

    /// A scalar as the rank-0 tensor Keras stores.
    package static func scalarTensor(_ value: Double, dtype: Tensor.DType) -> Tensor {
        dtype == .float32 ? Tensor(unchecked: [], storage: .float32([Float(value)]))
                          : Tensor(unchecked: [], storage: .float64([value]))
    }
}

extension KerasWeightsReader {
    /// A float scalar (or 1-element) dataset, such as Nadam's `u_product`, widened to double (exactly).
    package func floatScalar(in group: some HDF5Container, _ name: String) throws(ModelFileError) -> Double {
        let path = HDF5Path.join(group.objectPath, name)
        let dataset = try wrap(group.openDataset(name))
        let info = try wrap(dataset.info())
        guard info.extent.elementCount == 1, info.type.typeClass == .float, info.type.size == 4 || info.type.size == 8 else {
            throw fail(path, "expected a single float32 or float64 number, found \(info.type) of shape \(info.shape)")
        }
        guard let value = try wrap(dataset.readValues(as: Double.self, maxElements: 1)).first else {
            throw fail(path, "empty")
        }
        return value
    }
}

/// Backpropagation against central finite differences, in Float64, for every parameter tensor.
public struct GradientCheckReport: Sendable, Equatable {
    /// The loss at the unperturbed weights.
    public var loss: Double
    public var epsilon: Double
    public var scheme: FiniteDifferenceScheme
    public var tensors: [TensorReport]

    public struct TensorReport: Sendable, Equatable {
        /// `layer/kernel`, `layer/bias`, `layer/gamma`, ….
        public var name: String
        public var shape: [Int]
        /// How many elements were perturbed (all, unless a sample was asked for).
        public var checkedElements: Int
        public var maxAbsoluteError: Double
        /// max over elements of `|a − n| / max(|a|, |n|, tiny)`.
        public var maxRelativeError: Double
        /// Flat index of the element with the largest relative error, and both values there.
        public var worstIndex: Int
        public var analytic: Double
        public var numeric: Double
    }

    /// The largest relative error over every tensor.
    public var maxRelativeError: Double { tensors.map(\.maxRelativeError).max() ?? 0 }
}

/// How the numeric derivative is formed.
public enum FiniteDifferenceScheme: String, Sendable, CaseIterable {
    /// `(e(w+ε) − e(w−ε)) / 2ε`: truncation error O(ε²), rounding error O(u/ε) with u the loss's rounding.
    case central
    /// `(−e(w+2ε) + 8e(w+ε) − 8e(w−ε) + e(w−2ε)) / 12ε`: truncation O(ε⁴), so a larger ε (≈1e-3) keeps both
    /// errors near 1e-12 and even small gradient entries can be checked to a relative 1e-6.
    case fourPoint = "four-point"
}

extension Network {
    /// Compares `∂loss/∂w` from backpropagation with `(loss(w + ε) − loss(w − ε)) / 2ε` for each parameter
    /// element, all in Float64 whatever this network's precision.
    ///
    /// - Parameters:
    ///   - tiny: floor of the relative error's denominator, so that elements whose gradient is zero in both
    ///     computations do not divide by zero.
    ///   - maxElementsPerTensor: perturb at most this many elements per tensor, chosen by `random`; all when nil.
    public func gradientCheck(
        loss: Loss, data: Dataset<T>, epsilon: Double = 1e-6, scheme: FiniteDifferenceScheme = .central, tiny: Double = 1e-12,
        maxElementsPerTensor: Int? = nil, random: inout RandomGenerator
    ) throws(TrainingError) -> GradientCheckReport {
        try gradientCheck(loss: loss, data: data, epsilon: epsilon, scheme: scheme, tiny: tiny,
                          elementLimit: { _ in maxElementsPerTensor }, random: &random)
    }

    /// The same check with a per-tensor sample size: `elementLimit(count)` is how many of a tensor's `count`
    /// elements to perturb (chosen by `random` when fewer than `count`), or nil for all of them — so small
    /// tensors can be checked whole while large ones are sampled.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func gradientCheck(
        loss: Loss, data: Dataset<T>, epsilon: Double = 1e-6, scheme: FiniteDifferenceScheme = .central, tiny: Double = 1e-12,
        elementLimit: (_ count: Int) -> Int?, random: inout RandomGenerator
    ) throws(TrainingError) -> GradientCheckReport {
        guard epsilon > 0, epsilon.isFinite else { throw .invalidOption("epsilon must be a positive number, got \(epsilon)") }
        guard data.count > 0 else { throw .dataMismatch("gradient check needs at least one sample") }
        guard data.featureWidth == inputWidth else {
            throw .dataMismatch("data has \(data.featureWidth) feature columns, the model takes \(inputWidth) inputs")
        }
        guard loss.acceptsTargetWidth(data.targetWidth, outputWidth: outputWidth) else {
            throw .dataMismatch("data has \(data.targetWidth) target columns, \(loss.name) needs \(loss.targetWidthDescription(outputWidth: outputWidth))")
        }
        var network = Network<Double>(converting: self)
        let samples: Dataset<Double>
        do {
            samples = try Dataset(
                features: data.features.map(Double.init), featureWidth: data.featureWidth,
                targets: data.targets.map(Double.init), targetWidth: data.targetWidth)
        } catch { throw .dataMismatch(error.description) }

        let ws = Workspace(network: network, capacity: samples.count, targetWidth: samples.targetWidth)
        ws.gather(samples, order: nil, start: 0, rows: samples.count)
        // The function checked is the training-mode loss with one fixed dropout mask (and batch statistics).
        ws.drawDropoutMasks(for: network, rows: samples.count, random: &random)
        let baseLoss = network.lossAndGradients(ws, rows: samples.count, loss: loss)
        let analytic = ws.gradients.map { Array($0) }

        func lossValue(_ network: Network<Double>) -> Double {
            let output = network.forward(ws, rows: samples.count, training: true)
            return loss.evaluate(
                predictions: output.baseAddress!, targets: ws.targets.baseAddress!, rows: samples.count,
                width: network.outputWidth, targetWidth: samples.targetWidth, gradient: nil)
                + network.activityPenalty(ws, rows: samples.count) + network.weightPenalty()
        }

        var reports: [GradientCheckReport.TensorReport] = []
        for (index, parameter) in ws.parameters.enumerated() {
            let count = network[parameter].count
            var elements = Array(0..<count)
            if let limit = elementLimit(count), limit < count {
                random.permutation(count: count, into: &elements)
                elements = Array(elements.prefix(max(limit, 0))).sorted()
            }
            var report = GradientCheckReport.TensorReport(
                name: name(of: parameter), shape: shape(of: parameter), checkedElements: elements.count,
                maxAbsoluteError: 0, maxRelativeError: 0, worstIndex: elements.first ?? 0,
                analytic: 0, numeric: 0)
            for element in elements {
                let original = network[parameter][element]
                func shifted(_ steps: Double) -> Double {
                    network.withMutableValues(of: parameter) { $0[element] = original + steps * epsilon }
                    return lossValue(network)
                }
                let numeric: Double
                switch scheme {
                case .central:
                    numeric = (shifted(1) - shifted(-1)) / (2 * epsilon)
                case .fourPoint:
                    numeric = (-shifted(2) + 8 * shifted(1) - 8 * shifted(-1) + shifted(-2)) / (12 * epsilon)
                }
                network.withMutableValues(of: parameter) { $0[element] = original }
                let a = analytic[index][element]
                let absolute = abs(a - numeric)
                let relative = absolute / max(abs(a), abs(numeric), tiny)
                report.maxAbsoluteError = max(report.maxAbsoluteError, absolute)
                if relative > report.maxRelativeError || element == elements.first {
                    report.maxRelativeError = max(report.maxRelativeError, relative)
                    report.worstIndex = element
                    report.analytic = a
                    report.numeric = numeric
                }
            }
            reports.append(report)
        }
        return GradientCheckReport(loss: baseLoss, epsilon: epsilon, scheme: scheme, tensors: reports)
    }
}

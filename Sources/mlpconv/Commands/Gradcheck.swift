import ArgumentParser
import Foundation
import MLPDocument
internal import TextSupport
import MLPCore

struct Gradcheck: ParsableCommand, LossOptionHelp, JSONFlagHelp {
    static let configuration = CommandConfiguration(
        commandName: "gradcheck",
        abstract: "Check backpropagation against finite differences, in Float64, for every parameter tensor.",
        discussion: """
            The gradient of the model's loss is computed by backpropagation and by finite differences on SAMPLES \
            rows: the first rows of --data, or seeded random inputs (uniform in [-1, 1)) with targets shaped for \
            the loss (one-hot classes for categorical_crossentropy and categorical_hinge, labels for the sparse \
            one, values in (0, 1) for binary_crossentropy and kl_divergence, positive values for poisson and \
            mean_squared_logarithmic_error, ±1 for the hinges, standard normal values otherwise). A tensor fails when its largest relative \
            error |a − n| / max(|a|, |n|, tiny) exceeds --tolerance; the exit status is then 1.

            Defaults: central differences with epsilon 1e-6 (four-point: 1e-3), tolerance 1e-4. A central \
            difference carries the loss's rounding error divided by epsilon, about 100·u·max(|loss|, 1)/epsilon \
            (u the float64 unit roundoff: ≈ 2e-8 at epsilon 1e-6). The default tiny is that noise over the \
            tolerance, so a gradient entry that is really zero passes while any error above the noise still fails. \
            Tensors of up to 10,000 elements are checked whole, larger ones on 1000 elements drawn with --seed \
            (--max-elements K samples K elements of every tensor larger than K).

            Where a pre-activation lies within the stencil's reach of a kink of its activation (relu at 0, \
            relu6 at 0 and 6, …) the finite difference is meaningless: a warning on stderr says so, and a \
            failure there is likely a false alarm.
            """)

    @Argument(help: "The model file (any supported format).")
    var file: String

    @Option(help: "Check on the first rows of this data file (CSV, .npy/.npz, HDF5) instead of random samples.")
    var data: String?

    @OptionGroup var csvHeader: CSVHeaderOption

    @Option(parsing: .unconditional, help: "How many samples (rows) the loss is computed on.")
    var samples: Int = 8

    @Option(parsing: .unconditional, help: "Seed for the random samples and for choosing the elements of sampled tensors.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Finite-difference step (default: 1e-6 central, 1e-3 four-point).")
    var epsilon: Double?

    @Option(parsing: .unconditional, help: "Largest relative error a tensor may have.")
    var tolerance: Double = 1e-4

    @Option(help: "Finite-difference scheme: central or four-point.")
    var scheme: FiniteDifferenceScheme = .central

    @Option(parsing: .unconditional, help: "Floor of the relative error's denominator (default: the scheme's rounding noise divided by the tolerance).")
    var tiny: Double?

    @Option(name: .customLong("max-elements"), parsing: .unconditional, help: "Perturb at most K elements of each tensor, drawn with --seed (default: all up to 10,000, else 1000).")
    var maxElements: Int?

    static let lossHelp = "Check this loss instead of the stored one (required when the model stores none)."
    @OptionGroup var loss: LossOption<Gradcheck>

    static let jsonHelp = "Print the report as JSON on stdout."
    @OptionGroup var style: JSONFlag<Gradcheck>

    /// Tensors up to this many elements are checked whole by default; larger ones on `sampledElements`.
    static let fullCheckLimit = 10_000
    static let sampledElements = 1000
    /// A gradient check computes the loss twice per perturbed element over all its samples; more rows than this
    /// would take hours and could exhaust memory before the first one.
    static let maxSamples = 1 << 20
    /// Rounding of the loss in units of float64's roundoff, generous: the loss is a sum over samples and outputs of
    /// values that went through two GEMMs and an activation per layer.
    static let roundingUnits = 100.0

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be at least 1, got \(samples)") }
        // Random samples are float64 rows held in memory at once: a count past this is a typo, not a check.
        guard samples <= Self.maxSamples else {
            throw ValidationError("--samples must be at most \(Self.maxSamples), got \(samples)")
        }
        if let epsilon, !(epsilon.isFinite && epsilon > 0) {
            throw ValidationError("--epsilon must be a positive number, got \(epsilon)")
        }
        guard tolerance.isFinite && tolerance > 0 else { throw ValidationError("--tolerance must be a positive number, got \(tolerance)") }
        if let tiny, !(tiny.isFinite && tiny > 0) { throw ValidationError("--tiny must be a positive number, got \(tiny)") }
        if let maxElements, maxElements < 1 { throw ValidationError("--max-elements must be at least 1, got \(maxElements)") }
    }

    @OptionGroup var activations: ActivationsOption

    func run() throws {
        let document = try IsolatedRead.load(file, options: activations.loadOptions)
        let loss = try self.loss.resolve(for: document, file: file)
        for (name, tensor) in zip(document.variableNames, document.variableTensors) where tensor.nonFiniteCount > 0 {
            throw CommandError("\(file): weights/\(name): holds \(tensor.nonFiniteCount) NaN or infinite values; gradients cannot be checked")
        }
        let network: Network<Double> = try wrap(file) { () throws(DocumentError) in try document.network(as: Double.self) }
        var random = RandomGenerator(seed: seed)
        let samples = try checkSamples(network: network, loss: loss, random: &random)

        let epsilon = self.epsilon ?? (scheme == .central ? 1e-6 : 1e-3)
        let model = try evaluationModel(document, loss: loss, file: file, as: Double.self)
        let lossValue = try wrap(data ?? file) { () throws(TrainingError) in try model.evaluate(samples)["loss"] ?? .nan }
        guard lossValue.isFinite else {
            throw CommandError("\(data ?? file): the loss on these samples is \(lossValue); gradients cannot be checked")
        }
        // Noise of the numeric derivative: the loss's rounding error, amplified by the stencil's weights over ε
        // (central: 2·δ/2ε; four-point: 18·δ/12ε).
        let noise = Self.roundingUnits * Double.ulpOfOne * max(abs(lossValue), 1) * (scheme == .central ? 1 : 1.5) / epsilon
        let tiny = self.tiny ?? max(noise / tolerance, 1e-12)

        let warnings = kinkWarnings(network: network, samples: samples, reach: (scheme == .central ? 1 : 2) * epsilon)
        for warning in warnings { warn(warning) }

        let maxElements = self.maxElements
        let report = try wrap(data ?? file) { () throws(TrainingError) in
            try network.gradientCheck(
                loss: loss, data: samples, epsilon: epsilon, scheme: scheme, tiny: tiny,
                elementLimit: { count in
                    if let maxElements { return maxElements }
                    return count > Self.fullCheckLimit ? Self.sampledElements : nil
                },
                random: &random)
        }
        let failed = report.tensors.filter { !($0.maxRelativeError <= tolerance) }
        if style.json {
            printJSON(jsonReport(report, loss: loss, rows: samples.count, tiny: tiny, failed: failed.count, warnings: warnings))
        } else {
            emit(textReport(report, loss: loss, rows: samples.count, tiny: tiny, failed: failed), terminator: "")
        }
        if !failed.isEmpty { throw CheckFailed() }
    }

    /// The rows the check runs on, in float64.
    private func checkSamples(network: Network<Double>, loss: Loss, random: inout RandomGenerator) throws -> Dataset<Double> {
        let targetWidth = loss.targetWidth(outputWidth: network.outputWidth)
        if let data {
            let dataset = try loadData(data, inputWidth: network.inputWidth, outputWidth: network.outputWidth, loss: loss,
                                       requireTargets: true, header: csvHeader.value)
            guard dataset.count > 0 else { throw CommandError("\(data): no rows to check the gradient on") }
            let rows = dataset.rows(0..<min(samples, dataset.count))
            do {
                return try Dataset(features: rows.features.map(Double.init), featureWidth: rows.featureWidth,
                                   targets: rows.targets.map(Double.init), targetWidth: rows.targetWidth)
            } catch { throw CommandError("\(data): \(error.description)") }
        }
        // The random rows are float64 and held at once: as large as one tensor a reader accepts, at most.
        let (rowBytes, rowOverflow) = (network.inputWidth + targetWidth).multipliedReportingOverflow(by: MemoryLayout<Double>.size)
        let (bytes, bytesOverflow) = rowBytes.multipliedReportingOverflow(by: samples)
        let limit = LoadLimits().maxTensorBytes
        guard !rowOverflow, !bytesOverflow, bytes <= limit else {
            throw CommandError("--samples \(samples): \(samples) random rows of \(network.inputWidth) features and \(targetWidth) "
                               + "targets would take more than \(limit) bytes; give fewer")
        }
        var features: [Double] = [], targets: [Double] = []
        features.reserveCapacity(samples * network.inputWidth)
        targets.reserveCapacity(samples * targetWidth)
        let classes = network.outputWidth
        for _ in 0..<samples {
            for _ in 0..<network.inputWidth { features.append(2 * random.nextUnitDouble() - 1) }
            switch loss.kind {
            case .categoricalCrossentropy, .categoricalHinge, .crossEntropy:
                let label = random.nextInt(below: classes)
                targets += (0..<classes).map { $0 == label ? 1 : 0 }
            case .sparseCategoricalCrossentropy, .nllLoss:
                targets.append(Double(random.nextInt(below: classes)))
            case .binaryCrossentropy, .klDivergence:
                // Strictly inside (0, 1): the midpoint of one of 2^53 equal cells.
                for _ in 0..<classes { targets.append((Double(random.next() >> 11) + 0.5) * 0x1.0p-53) }
            case .poisson, .meanSquaredLogarithmicError:
                for _ in 0..<classes { targets.append(abs(random.nextStandardNormal()) + 0.1) }
            case .hinge, .squaredHinge:
                for _ in 0..<classes { targets.append(random.nextInt(below: 2) == 0 ? -1 : 1) }
            case .halfSquaredError, .meanSquaredError, .meanAbsoluteError, .meanAbsolutePercentageError, .huber,
                 .smoothL1, .logCosh, .cosineSimilarity:
                for _ in 0..<classes { targets.append(random.nextStandardNormal()) }
            }
        }
        do {
            return try Dataset(features: features, featureWidth: network.inputWidth, targets: targets, targetWidth: targetWidth)
        } catch { throw CommandError("\(file): \(error.description)") }
    }

    /// One warning per layer whose pre-activations come within the stencil's reach of a non-smooth point of its
    /// activation.
    ///
    /// Perturbing a parameter of layer k by `reach` moves `z_k` by at most `reach·max(1, ‖x_k‖∞)` (a kernel entry
    /// multiplies an input, a bias entry moves by itself), and a later layer's `z` by that times the largest
    /// column sum of |W| of each layer in between (activations here are taken as 1-Lipschitz); a factor 2 covers
    /// the rest.
    private func kinkWarnings(network: Network<Double>, samples: Dataset<Double>, reach: Double) -> [String] {
        var warnings: [String] = []
        var x = samples.features
        var width = network.inputWidth
        var amplification = 0.0
        for (index, layer) in network.layers.enumerated() {
            // The activation a layer applies and its pre-activations z for every sample (a standalone activation
            // applies it to its input directly).
            let activation: Activation
            let units = layer.outputWidth
            let inputScale = max(1, x.lazy.map(abs).max() ?? 0)
            var preActivation: (_ row: Int, _ column: Int) -> Double
            switch layer.kind {
            case .dense(let dense):
                activation = dense.activation
                let kernel = layer.weights[0], bias = dense.useBias ? layer.weights[1] : nil
                var columnSum = 0.0
                for j in 0..<units {
                    var sum = 0.0
                    for i in 0..<width { sum += abs(kernel[i * units + j]) }
                    columnSum = max(columnSum, sum)
                }
                amplification = index == 0 ? inputScale : max(inputScale, amplification * columnSum)
                let inputs = x, inputWidth = width
                preActivation = { r, j in
                    var z = bias?[j] ?? 0
                    for i in 0..<inputWidth { z += inputs[r * inputWidth + i] * kernel[i * units + j] }
                    return z
                }
            case .activation(let standalone):
                activation = standalone
                amplification = index == 0 ? inputScale : max(inputScale, amplification)
                let inputs = x
                preActivation = { r, j in inputs[r * units + j] }
            default:
                activation = .linear
                preActivation = { _, _ in 0 }
            }
            let points = activation.nonSmoothPoints
            if !points.isEmpty {
                let limit = 2 * reach * amplification
                var near = 0
                for r in 0..<samples.count {
                    for j in 0..<units {
                        let z = preActivation(r, j)
                        if points.contains(where: { abs(z - $0) <= limit }) { near += 1 }
                    }
                }
                if near > 0 {
                    let kinks = points.map { formatNumber($0) }.joined(separator: " and ")
                    warnings.append("\(file): layer \(layer.name) (\(activation.name)): \(near) of \(samples.count * units) "
                                    + "pre-activations lie within \(String(format: "%.1e", limit)) of \(kinks), where "
                                    + "\(activation.name) is not smooth; finite differences are unreliable there, so a "
                                    + "failure of this layer's or an earlier layer's tensors may be a false alarm")
                }
            }
            // This layer's outputs feed the next one: the network cut after this layer computes them.
            guard index + 1 < network.layers.count,
                  let prefix = try? Network(inputWidth: network.inputWidth, layers: Array(network.layers[0...index])),
                  let outputs = try? prefix.predict(samples.features) else { break }
            x = outputs
            width = units
        }
        return warnings
    }

    private func sourceDescription(rows: Int) -> String {
        if let data { return "the first \(plural(rows, "row")) of \(data)" }
        return "\(plural(rows, "random sample")) (seed \(seed))"
    }

    private func textReport(_ report: GradientCheckReport, loss: Loss, rows: Int, tiny: Double,
                            failed: [GradientCheckReport.TensorReport]) -> String {
        var out = "\(file): \(loss) on \(sourceDescription(rows: rows)), loss \(formatMetric(report.loss))\n"
        out += "\(report.scheme.rawValue) differences in float64, epsilon \(formatNumber(report.epsilon)), "
        out += "tolerance \(formatNumber(tolerance)) (relative; denominators floored at \(scientific(tiny)))\n\n"
        out += renderTable(
            header: ["tensor", "shape", "checked", "max abs error", "max rel error", "result"],
            rows: report.tensors.map { tensor in
                let total = tensor.shape.reduce(1, *)
                return [tensor.name, tensor.shape.map(String.init).joined(separator: "×"),
                        tensor.checkedElements == total ? String(total) : "\(tensor.checkedElements) of \(total)",
                        scientific(tensor.maxAbsoluteError), scientific(tensor.maxRelativeError),
                        tensor.maxRelativeError <= tolerance ? "pass" : "FAIL"]
            },
            rightAligned: [2, 3, 4])
        for tensor in failed {
            out += "  \(tensor.name)\(indexDescription(tensor.worstIndex, shape: tensor.shape)): backprop "
            out += "\(scientific(tensor.analytic)), finite difference \(scientific(tensor.numeric))\n"
        }
        if failed.isEmpty {
            out += "\npassed: every tensor is within tolerance \(formatNumber(tolerance)) (max relative error \(scientific(report.maxRelativeError)))\n"
        } else {
            out += "\nFAILED: \(failed.count) of \(plural(report.tensors.count, "tensor")) exceed tolerance \(formatNumber(tolerance)) "
            out += "(max relative error \(scientific(report.maxRelativeError)))\n"
        }
        return out
    }

    private func jsonReport(_ report: GradientCheckReport, loss: Loss, rows: Int, tiny: Double, failed: Int,
                            warnings: [String]) -> [String: JSONOutput] {
        [
            "file": .string(file), "data": data.map { .string($0) } ?? .null, "samples": .int(rows),
            "seed": .string(String(seed)), "loss": .string(loss.name), "loss_value": .double(report.loss),
            "scheme": .string(report.scheme.rawValue), "epsilon": .double(report.epsilon),
            "tolerance": .double(tolerance), "tiny": .double(tiny), "passed": .bool(failed == 0),
            "failed_tensors": .int(failed), "max_relative_error": .double(report.maxRelativeError),
            "warnings": .array(warnings.map { .string($0) }),
            "tensors": .array(report.tensors.map { tensor in
                .object([
                    "name": .string(tensor.name), "shape": .array(tensor.shape.map { .int($0) }),
                    "elements": .int(tensor.shape.reduce(1, *)), "checked": .int(tensor.checkedElements),
                    "max_abs_error": .double(tensor.maxAbsoluteError), "max_rel_error": .double(tensor.maxRelativeError),
                    "passed": .bool(tensor.maxRelativeError <= tolerance), "worst_index": .int(tensor.worstIndex),
                    "analytic": .double(tensor.analytic), "numeric": .double(tensor.numeric),
                ])
            }),
        ]
    }
}

/// `[row, column]` of a flat index into a kernel, or `[i]` for a bias.
private func indexDescription(_ index: Int, shape: [Int]) -> String {
    guard shape.count == 2, shape[1] > 0 else { return "[\(index)]" }
    return "[\(index / shape[1]), \(index % shape[1])]"
}

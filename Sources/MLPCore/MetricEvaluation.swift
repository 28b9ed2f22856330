// Keras's metrics over an epoch: every metric is a `Mean` of per-sample values, each batch adding its samples'
// sum and count (docs/numerics.md, metrics), computed from outputs the forward pass already has.

/// The running sums of a list of metrics, for one pass over a dataset (a training epoch or an evaluation).
struct MetricAccumulator<T: MLPScalar> {
    enum Computation {
        /// `(y > threshold) == t` per output, averaged over the row.
        case binaryAccuracy(T)
        case categoricalAccuracy
        case sparseCategoricalAccuracy
        /// The target class (argmax of the row, or the label) has fewer than `k` outputs strictly above it.
        case topK(Int, sparse: Bool)
        /// `sign` × the loss's per-sample value.
        case loss(Loss, sign: T)
    }

    let names: [String]
    let computations: [Computation]
    /// Root mean squared error: the square root of the mean.
    let roots: [Bool]
    private var sums: [Double]
    private var count = 0

    /// Resolves `accuracy` from the shapes as Keras does (one output: binary; one target column for several
    /// outputs: sparse; else categorical) and checks that every metric can be computed on these targets.
    init(metrics: [Metric], loss: Loss, outputWidth: Int, targetWidth: Int) throws(MetricError) {
        var seen = Set<String>()
        var computations: [Computation] = []
        for metric in metrics {
            guard seen.insert(metric.name).inserted else {
                throw MetricError(name: metric.name, reason: "is listed twice (history keys must be unique)")
            }
            var kind = metric.kind
            if kind == .accuracy {
                kind = outputWidth == 1 ? .binaryAccuracy
                    : targetWidth == 1 ? .sparseCategoricalAccuracy : .categoricalAccuracy
            }
            if kind.takesLabels {
                guard loss.takesClassIndices(targetWidth: targetWidth, outputWidth: outputWidth) else {
                    throw MetricError(name: metric.name, reason: "(\(kind.rawValue)) needs class labels as targets, "
                                      + "which only sparse_categorical_crossentropy, nll_loss and cross_entropy on a "
                                      + "label column take; the loss is \(loss.name)")
                }
            } else if targetWidth != outputWidth {
                throw MetricError(name: metric.name, reason: "(\(kind.rawValue)) needs a target per output (\(outputWidth)), "
                                  + "the \(loss.name) targets have \(targetWidth) column(s)")
            }
            switch kind {
            case .binaryAccuracy: computations.append(.binaryAccuracy(T(metric.threshold)))
            case .categoricalAccuracy: computations.append(.categoricalAccuracy)
            case .sparseCategoricalAccuracy: computations.append(.sparseCategoricalAccuracy)
            case .topKCategoricalAccuracy: computations.append(.topK(metric.k, sparse: false))
            case .sparseTopKCategoricalAccuracy: computations.append(.topK(metric.k, sparse: true))
            default:
                guard let metricLoss = metric.loss else {
                    throw MetricError(name: metric.name, reason: "has no computation")
                }
                // Keras's cosine_similarity metric is +cos; the loss is −cos.
                computations.append(.loss(metricLoss, sign: kind == .cosineSimilarity ? -1 : 1))
            }
        }
        names = metrics.map(\.name)
        self.computations = computations
        roots = metrics.map { $0.kind == .rootMeanSquaredError }
        sums = [Double](repeating: 0, count: metrics.count)
    }

    /// Adds a block of predictions `[rows, width]` and targets `[rows, targetWidth]`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    mutating func add(predictions y: UnsafePointer<T>, targets t: UnsafePointer<T>, rows: Int, width: Int) {
        for (index, computation) in computations.enumerated() {
            var sum = 0.0
            switch computation {
            case .binaryAccuracy(let threshold):
                // Keras casts y > threshold to the target's type and compares it with the target.
                for r in 0..<rows {
                    var matches = 0
                    for j in r * width..<(r + 1) * width where (y[j] > threshold ? 1 : 0) == t[j] { matches += 1 }
                    sum += Double(T(matches) / T(width))
                }
            case .categoricalAccuracy:
                for r in 0..<rows where argmax(y + r * width, count: width) == argmax(t + r * width, count: width) {
                    sum += 1
                }
            case .sparseCategoricalAccuracy:
                for r in 0..<rows where T(argmax(y + r * width, count: width)) == t[r] { sum += 1 }
            case .topK(let k, let sparse):
                for r in 0..<rows {
                    let row = y + r * width
                    let target = sparse ? Int(t[r]) : argmax(t + r * width, count: width)
                    // JAX's in_top_k: rank = 1 + #(outputs > the target's), NaN at the target ranks last.
                    let value = row[target].isNaN ? -T.infinity : row[target]
                    var above = 0
                    for j in 0..<width where row[j] > value { above += 1 }
                    if above < k { sum += 1 }
                }
            case .loss(let loss, let sign):
                let mean = loss.evaluate(predictions: y, targets: t, rows: rows, width: width,
                                         targetWidth: loss.targetWidth(outputWidth: width), gradient: nil)
                sum = Double(sign * mean) * Double(rows)
            }
            sums[index] += sum
        }
        count += rows
    }

    /// The epoch's values under `prefix` + name.
    func results(prefix: String = "") -> [String: Double] {
        var out: [String: Double] = [:]
        for (index, name) in names.enumerated() {
            let mean = count > 0 ? sums[index] / Double(count) : .nan
            out[prefix + name] = roots[index] ? mean.squareRoot() : mean
        }
        return out
    }

    mutating func reset() {
        for index in sums.indices { sums[index] = 0 }
        count = 0
    }
}

import MLPCore

/// Caps on what a reader accepts, checked before anything is allocated for it.
public struct LoadLimits: Sendable, Equatable {
    /// Largest file accepted at all.
    public var maxFileBytes: Int
    /// Largest single tensor, in bytes, after decoding.
    public var maxTensorBytes: Int
    /// Largest total of all tensors, in bytes.
    public var maxTotalBytes: Int

    public init(maxFileBytes: Int = 16 << 30, maxTensorBytes: Int = 8 << 30, maxTotalBytes: Int = 16 << 30) {
        self.maxFileBytes = maxFileBytes
        self.maxTensorBytes = maxTensorBytes
        self.maxTotalBytes = maxTotalBytes
    }
}

extension LoadLimits {
    /// The widest input or layer a reader accepts (2²⁴ = 16,777,216): larger widths are taken for corruption.
    public static let maxWidth = 1 << 24

    /// What in a model would make every reader refuse it — the input or a layer wider than `maxWidth`, a tensor
    /// over `maxTensorBytes`, all of them (weights and `slotsPerParameter` optimizer slots per trainable tensor)
    /// over `maxTotalBytes` — computed from the widths alone, with checked arithmetic, so that a command can
    /// refuse before allocating anything. Nil when the model fits.
    public func refusal(inputWidth: Int, layers: [LayerKind], dtype: Tensor.DType = .float32,
                        slotsPerParameter: Int) -> LimitRefusal? {
        guard inputWidth <= Self.maxWidth else {
            return LimitRefusal(layer: nil, reason: "\(inputWidth) inputs exceed the readers' limit of \(Self.maxWidth)")
        }
        var width = inputWidth, total = 0
        for (index, kind) in layers.enumerated() {
            if case .dense(let dense) = kind {
                guard dense.units <= Self.maxWidth else {
                    return LimitRefusal(layer: index, reason: "\(dense.units) units exceed the readers' limit of \(Self.maxWidth)")
                }
            }
            for variable in kind.variables(inputWidth: width) {
                let (count, countOverflow) = variable.shape.reduce((1, false)) { product, dimension in
                    let next = product.0.multipliedReportingOverflow(by: dimension)
                    return (next.partialValue, product.1 || next.overflow)
                }
                let (bytes, bytesOverflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
                guard !countOverflow, !bytesOverflow, bytes <= maxTensorBytes else {
                    return LimitRefusal(layer: index, reason: "its \(variable.name) of shape \(variable.shape) would take "
                                        + "more than the readers' limit of \(maxTensorBytes) bytes per tensor")
                }
                let copies = variable.trainable ? 1 + slotsPerParameter : 1
                let (stored, storedOverflow) = bytes.multipliedReportingOverflow(by: copies)
                let (sum, sumOverflow) = total.addingReportingOverflow(stored)
                guard !storedOverflow, !sumOverflow, sum <= maxTotalBytes else {
                    return LimitRefusal(layer: index, reason: "the model's tensors up to this layer (weights and "
                                        + "\(slotsPerParameter) optimizer slot\(slotsPerParameter == 1 ? "" : "s") per weight) "
                                        + "would take more than the readers' limit of \(maxTotalBytes) bytes in total")
                }
                total = sum
            }
            width = kind.outputWidth(inputWidth: width)
        }
        return nil
    }
}

/// Why a model would be refused: the layer (its index; nil for the input) and the reason.
public struct LimitRefusal: Sendable, Equatable {
    public var layer: Int?
    public var reason: String

    public init(layer: Int?, reason: String) {
        self.layer = layer
        self.reason = reason
    }
}

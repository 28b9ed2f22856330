import Foundation
import MLPCore
import MLPDocument

/// An element-wise function of one value on the data path, built from the nodes between two layers: a single
/// `Relu`, or what exporters compose for activations ONNX lacks at their opset (`x·Sigmoid(x)`, the Erf form of gelu,
/// `x·Tanh(Softplus(x))`, torch's thresholded Softplus, …).
///
/// Which of the core's activations it is, is decided by evaluating it with ONNX's definitions of its operators, in
/// float64, at fixed points across [−100, 100] (dense around the kinks at 0, ±3 and 6), and comparing with the core's
/// own activation at the same points: an expression is an activation when every value agrees within 1e-6 relative
/// (the constants exporters write are float32: √2 as 1.4142135, 1/6 as 0.16666667; an approximation such as gelu's
/// tanh form differs by 1e-4 and more). This checks constants as well as structure, whatever order an exporter
/// writes the operators in.
indirect enum ONNXExpression {
    /// The data-path value the expression is over.
    case input
    case constant(Double)
    /// An ONNX operator on its operands, with its attributes (alpha, beta, min, max) already read.
    case apply(op: String, operands: [ONNXExpression], parameters: [Double])

    /// How many times the data-path value is used: more than once is a composed activation or a skip connection.
    var inputUses: Int {
        switch self {
        case .input: 1
        case .constant: 0
        case .apply(_, let operands, _): operands.reduce(0) { $0 + $1.inputUses }
        }
    }

    /// Most operators one expression may hold: composed activations take a dozen; the cap keeps a hostile chain of
    /// element-wise nodes from building a tree deep enough to exhaust the stack when it is evaluated.
    static let maxOperators = 64

    /// The operators in the tree (a value used twice counts twice).
    var operatorCount: Int {
        guard case .apply(_, let operands, _) = self else { return 0 }
        return operands.reduce(1) { $0 + $1.operatorCount }
    }

    /// The operators, innermost first, for messages.
    var operators: [String] {
        guard case .apply(let op, let operands, _) = self else { return [] }
        return operands.flatMap(\.operators) + [op]
    }

    /// The operators an expression may contain, with their operand counts.
    static let arity: [String: Int] = [
        "Relu": 1, "Sigmoid": 1, "Tanh": 1, "Elu": 1, "Selu": 1, "Softplus": 1, "Softsign": 1, "LeakyRelu": 1,
        "HardSigmoid": 1, "HardSwish": 1, "Gelu": 1, "Mish": 1, "Exp": 1, "Erf": 1, "Abs": 1, "Neg": 1, "Sqrt": 1,
        "Reciprocal": 1, "Log": 1, "Clip": 1, "Not": 1,
        "Add": 2, "Sub": 2, "Mul": 2, "Div": 2, "Pow": 2, "Max": 2, "Min": 2, "Greater": 2, "Less": 2,
        "GreaterOrEqual": 2, "LessOrEqual": 2, "Equal": 2,
        "Where": 3,
    ]

    /// The value at `x`, with ONNX's definition of each operator (booleans as 1 and 0).
    func value(at x: Double) -> Double {
        switch self {
        case .input: return x
        case .constant(let value): return value
        case .apply(let op, let operands, let p):
            let a = operands[0].value(at: x)
            let b = operands.count > 1 ? operands[1].value(at: x) : 0
            switch op {
            case "Relu": return max(a, 0)
            case "Sigmoid": return 1 / (1 + Foundation.exp(-a))
            case "Tanh": return Foundation.tanh(a)
            case "Elu": return a >= 0 ? a : p[0] * Foundation.expm1(a)
            case "Selu": return a > 0 ? p[1] * a : p[1] * p[0] * Foundation.expm1(a)
            case "Softplus": return Self.softplus(a)
            case "Softsign": return a / (1 + Swift.abs(a))
            case "LeakyRelu": return a >= 0 ? a : p[0] * a
            case "HardSigmoid": return max(0, min(1, p[0] * a + p[1]))
            case "HardSwish": return a * max(0, min(1, a / 6 + 0.5))
            case "Gelu": return 0.5 * a * (1 + Foundation.erf(a / 2.0.squareRoot()))
            case "Mish": return a * Foundation.tanh(Self.softplus(a))
            case "Exp": return Foundation.exp(a)
            case "Erf": return Foundation.erf(a)
            case "Abs": return Swift.abs(a)
            case "Neg": return -a
            case "Sqrt": return a.squareRoot()
            case "Reciprocal": return 1 / a
            case "Log": return Foundation.log(a)
            case "Clip": return min(max(a, p[0]), p[1])
            case "Not": return a == 0 ? 1 : 0
            case "Add": return a + b
            case "Sub": return a - b
            case "Mul": return a * b
            case "Div": return a / b
            case "Pow": return Foundation.pow(a, b)
            case "Max": return max(a, b)
            case "Min": return min(a, b)
            case "Greater": return a > b ? 1 : 0
            case "Less": return a < b ? 1 : 0
            case "GreaterOrEqual": return a >= b ? 1 : 0
            case "LessOrEqual": return a <= b ? 1 : 0
            case "Equal": return a == b ? 1 : 0
            case "Where": return a != 0 ? b : operands[2].value(at: x)
            default: return .nan
            }
        }
    }

    /// log(1 + eˣ) without overflow, as runtimes compute ONNX's Softplus.
    private static func softplus(_ x: Double) -> Double {
        x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))
    }

    // MARK: Identification

    static let probes: [Double] = {
        var points = stride(from: -12.0, through: 12.0, by: 0.0625).map { $0 }
        points += [-100, -60, -40, -30, -25, -20.5, -19.5, -15, 15, 19.5, 20.5, 25, 30, 40, 60, 100]
        points += [-3.01, -2.99, -1e-3, -1e-6, 1e-6, 1e-3, 2.99, 3.01, 5.99, 6.01, 0.3, -0.7, 1.3, -2.2]
        return points
    }()

    /// The core's element-wise activations at the probes, computed by the core itself.
    static let coreValues: [(activation: Activation, values: [Double])] = Activation.allCases.compactMap { activation in
        guard !activation.isRowwise else { return nil }
        let document = ModelDocument(
            architecture: .init(inputWidth: 1, layers: [.init(name: "probe", kind: .activation(activation))]),
            weights: [.init()])
        guard let network = try? document.network(as: Double.self), let values = try? network.predict(probes) else { return nil }
        return (activation, values)
    }

    /// gelu's tanh approximation, which the core does not have: recognised only to say so.
    private static let geluTanhValues = probes.map { x in
        0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    private static func agrees(_ values: [Double], _ reference: [Double]) -> Bool {
        zip(values, reference).allSatisfy { value, expected in
            if value.isNaN || expected.isNaN { return value.isNaN && expected.isNaN }
            if value.isInfinite || expected.isInfinite { return value == expected }
            return Swift.abs(value - expected) <= 1e-6 * max(1, Swift.abs(expected))
        }
    }

    enum Identification {
        case activation(Activation)
        case geluTanh
        case none
    }

    func identify() -> Identification {
        let values = Self.probes.map { value(at: $0) }
        if let match = Self.coreValues.first(where: { Self.agrees(values, $0.values) }) { return .activation(match.activation) }
        if Self.agrees(values, Self.geluTanhValues) { return .geluTanh }
        return .none
    }
}

/// Weight initializers with Keras's names and scaling (`VarianceScaling`: fan_in = inputs, fan_out = units).
///
/// The numbers drawn cannot match Keras's (different generator); the distributions do.
public enum Initializer: String, NamedChoice {
    case glorotUniform = "glorot_uniform"
    case glorotNormal = "glorot_normal"
    case heUniform = "he_uniform"
    case heNormal = "he_normal"
    case lecunUniform = "lecun_uniform"
    case lecunNormal = "lecun_normal"
    case zeros, ones

    /// Stddev of a standard normal truncated to ±2, which Keras divides out so the truncated draw keeps the
    /// intended variance.
    static let truncatedNormalStddev = 0.87962566103423978

    /// Fills `values` for a tensor with the given fans, drawing from `random`.
    public func fill<T: MLPScalar>(_ values: inout [T], fanIn: Int, fanOut: Int, random: inout RandomGenerator) {
        let fanAverage = Double(fanIn + fanOut) / 2
        switch self {
        case .zeros:
            for i in values.indices { values[i] = 0 }
        case .ones:
            for i in values.indices { values[i] = 1 }
        case .glorotUniform: fillUniform(&values, scale: 1, fan: fanAverage, random: &random)
        case .heUniform: fillUniform(&values, scale: 2, fan: Double(fanIn), random: &random)
        case .lecunUniform: fillUniform(&values, scale: 1, fan: Double(fanIn), random: &random)
        case .glorotNormal: fillTruncatedNormal(&values, scale: 1, fan: fanAverage, random: &random)
        case .heNormal: fillTruncatedNormal(&values, scale: 2, fan: Double(fanIn), random: &random)
        case .lecunNormal: fillTruncatedNormal(&values, scale: 1, fan: Double(fanIn), random: &random)
        }
    }

    private func fillUniform<T: MLPScalar>(_ values: inout [T], scale: Double, fan: Double, random: inout RandomGenerator) {
        let limit = (3 * scale / max(1, fan)).squareRoot()
        for i in values.indices { values[i] = T((2 * random.nextUnitDouble() - 1) * limit) }
    }

    private func fillTruncatedNormal<T: MLPScalar>(
        _ values: inout [T], scale: Double, fan: Double, random: inout RandomGenerator
    ) {
        let stddev = (scale / max(1, fan)).squareRoot() / Self.truncatedNormalStddev
        for i in values.indices { values[i] = T(random.nextTruncatedStandardNormal() * stddev) }
    }
}

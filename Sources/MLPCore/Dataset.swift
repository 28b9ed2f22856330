/// Samples as rows: `features` is `[count, featureWidth]` and `targets` `[count, targetWidth]`, both row-major.
/// For `sparse_categorical_crossentropy` the single target column holds class indices.
public struct Dataset<T: MLPScalar>: Sendable, Equatable {
    public let features: [T]
    public let targets: [T]
    public let count: Int
    public let featureWidth: Int
    public let targetWidth: Int

    public init(features: [T], featureWidth: Int, targets: [T], targetWidth: Int) throws(DatasetError) {
        guard featureWidth > 0 else { throw .invalid("feature width must be positive, got \(featureWidth)") }
        guard targetWidth >= 0 else { throw .invalid("target width must not be negative, got \(targetWidth)") }
        guard features.count % featureWidth == 0 else {
            throw .invalid("\(features.count) feature values do not make whole rows of \(featureWidth)")
        }
        let count = features.count / featureWidth
        guard targets.count == count * targetWidth else {
            throw .invalid("\(count) rows need \(count * targetWidth) target values (width \(targetWidth)), got \(targets.count)")
        }
        self.features = features
        self.targets = targets
        self.count = count
        self.featureWidth = featureWidth
        self.targetWidth = targetWidth
    }

    /// Features only, for prediction.
    public init(features: [T], featureWidth: Int) throws(DatasetError) {
        try self.init(features: features, featureWidth: featureWidth, targets: [], targetWidth: 0)
    }

    /// A contiguous block of rows.
    public func rows(_ range: Range<Int>) -> Dataset {
        Dataset(
            unchecked: Array(features[range.lowerBound * featureWidth..<range.upperBound * featureWidth]),
            featureWidth: featureWidth,
            targets: Array(targets[range.lowerBound * targetWidth..<range.upperBound * targetWidth]),
            targetWidth: targetWidth, count: range.count)
    }

    private init(unchecked features: [T], featureWidth: Int, targets: [T], targetWidth: Int, count: Int) {
        self.features = features
        self.targets = targets
        self.count = count
        self.featureWidth = featureWidth
        self.targetWidth = targetWidth
    }
}

public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let reason): "dataset: \(reason)"
        }
    }
}

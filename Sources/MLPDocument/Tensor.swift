import Foundation

/// A dense row-major array of float32 or float64 values with its shape, as stored in a model file.
///
/// Equality is bit-for-bit (same shape, same dtype, same bytes), so NaN payloads and the sign of zero count:
/// that is what "lossless" means for a conversion.
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    public enum DType: String, Sendable, CaseIterable {
        case float32, float64

        public var byteSize: Int { self == .float32 ? 4 : 8 }
    }

    public enum Storage: Sendable {
        case float32([Float])
        case float64([Double])
    }

    public let shape: [Int]
    public let storage: Storage

    /// Checks that the shape's element count (overflow-checked) matches the values.
    public init(shape: [Int], storage: Storage) throws(TensorError) {
        guard let count = Tensor.elementCount(of: shape) else { throw .invalidShape(shape) }
        let actual: Int
        switch storage {
        case .float32(let values): actual = values.count
        case .float64(let values): actual = values.count
        }
        guard actual == count else { throw .countMismatch(shape: shape, count: actual) }
        self.shape = shape
        self.storage = storage
    }

    public init(shape: [Int], float32 values: [Float]) throws(TensorError) {
        try self.init(shape: shape, storage: .float32(values))
    }

    public init(shape: [Int], float64 values: [Double]) throws(TensorError) {
        try self.init(shape: shape, storage: .float64(values))
    }

    /// The product of the dimensions, or nil when a dimension is negative or the product overflows.
    public static func elementCount(of shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    public var dtype: DType {
        switch storage {
        case .float32: .float32
        case .float64: .float64
        }
    }

    public var count: Int {
        switch storage {
        case .float32(let values): values.count
        case .float64(let values): values.count
        }
    }

    public var byteCount: Int { count * dtype.byteSize }

    /// The values as float32, rounding float64 ones to nearest.
    public var float32Values: [Float] {
        switch storage {
        case .float32(let values): values
        case .float64(let values): values.map { Float($0) }
        }
    }

    /// The values as float64 (exact for both dtypes).
    public var float64Values: [Double] {
        switch storage {
        case .float32(let values): values.map { Double($0) }
        case .float64(let values): values
        }
    }

    /// The same values in another dtype: float32 → float64 is exact; float64 → float32 rounds to nearest.
    public func converted(to dtype: DType) -> Tensor {
        guard dtype != self.dtype else { return self }
        switch dtype {
        case .float32: return Tensor(unchecked: shape, storage: .float32(float32Values))
        case .float64: return Tensor(unchecked: shape, storage: .float64(float64Values))
        }
    }

    /// `converted(to:)` that refuses to round a finite value to ±∞: float64 → float32 fails on the first value
    /// beyond float32's range (±3.4028235e38), naming its index. NaN and ±∞ stay what they are.
    public func checkedConversion(to dtype: DType) throws(TensorError) -> Tensor {
        if dtype == .float32, case .float64(let values) = storage,
           let index = values.firstIndex(where: { $0.isFinite && !Float($0).isFinite }) {
            throw .beyondRange(shape: shape, index: index, value: values[index], dtype: dtype)
        }
        return converted(to: dtype)
    }

    /// `[i, j, …]` of the element at `index` in row-major order (`[index]` for a scalar's or a vector's).
    public static func elementPosition(of index: Int, in shape: [Int]) -> String {
        guard shape.count > 1, !shape.contains(0) else { return "[\(index)]" }
        var rest = index, position: [Int] = []
        for dimension in shape.reversed() {
            position.append(rest % dimension)
            rest /= dimension
        }
        return "[" + position.reversed().map(String.init).joined(separator: ", ") + "]"
    }

    /// The raw values in host byte order (little-endian on every platform Swift supports here).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .float32(let values): try values.withUnsafeBytes(body)
        case .float64(let values): try values.withUnsafeBytes(body)
        }
    }

    /// Reads `count` values of `dtype` from little-endian bytes.
    public init(shape: [Int], dtype: DType, littleEndianBytes bytes: UnsafeRawBufferPointer) throws(TensorError) {
        guard let count = Tensor.elementCount(of: shape) else { throw .invalidShape(shape) }
        guard bytes.count == count * dtype.byteSize else {
            throw .byteCountMismatch(shape: shape, dtype: dtype, bytes: bytes.count)
        }
        switch dtype {
        case .float32:
            let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
                initialized = count
            }
            self.init(unchecked: shape, storage: .float32(values))
        case .float64:
            let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
                initialized = count
            }
            self.init(unchecked: shape, storage: .float64(values))
        }
    }

    package init(unchecked shape: [Int], storage: Storage) {
        self.shape = shape
        self.storage = storage
    }

    /// How many values are NaN or ±infinity.
    public var nonFiniteCount: Int {
        switch storage {
        case .float32(let values): values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        case .float64(let values): values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        }
    }

    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.shape == rhs.shape, lhs.dtype == rhs.dtype else { return false }
        return lhs.withUnsafeBytes { a in
            rhs.withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
    }

    public var description: String { "\(dtype.rawValue)\(shape)" }
}

public enum TensorError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidShape([Int])
    case countMismatch(shape: [Int], count: Int)
    case byteCountMismatch(shape: [Int], dtype: Tensor.DType, bytes: Int)
    /// A value `dtype` cannot hold, at row-major `index`.
    case beyondRange(shape: [Int], index: Int, value: Double, dtype: Tensor.DType)

    public var description: String {
        switch self {
        case .invalidShape(let shape):
            "shape \(shape) has a negative dimension or more elements than can be addressed"
        case .countMismatch(let shape, let count):
            "shape \(shape) needs \(Tensor.elementCount(of: shape) ?? -1) values, got \(count)"
        case .byteCountMismatch(let shape, let dtype, let bytes):
            "shape \(shape) of \(dtype.rawValue) needs \((Tensor.elementCount(of: shape) ?? 0) * dtype.byteSize) bytes, got \(bytes)"
        case .beyondRange(let shape, let index, let value, let dtype):
            "element \(Tensor.elementPosition(of: index, in: shape)) is \(value), beyond \(dtype.rawValue)'s range; "
                + "it would become \(value > 0 ? "+" : "-")infinity"
        }
    }
}

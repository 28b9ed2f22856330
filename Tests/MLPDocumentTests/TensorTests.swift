import MLPDocument
import Testing

@Suite("Tensors: shapes, counts and bit-for-bit equality")
struct TensorTests {
    @Test func shapesAreCheckedAgainstTheValues() throws {
        let tensor = try Tensor(shape: [2, 3], float32: [1, 2, 3, 4, 5, 6])
        #expect(tensor.count == 6)
        #expect(tensor.byteCount == 24)
        #expect(tensor.description == "float32[2, 3]")
        #expect(throws: TensorError.countMismatch(shape: [2, 3], count: 5)) {
            try Tensor(shape: [2, 3], float32: [1, 2, 3, 4, 5])
        }
        #expect(throws: TensorError.invalidShape([-1, 3])) { try Tensor(shape: [-1, 3], float64: []) }
    }

    @Test func elementCountsThatOverflowAreRefused() {
        #expect(Tensor.elementCount(of: []) == 1)
        #expect(Tensor.elementCount(of: [4, 0, 7]) == 0)
        #expect(Tensor.elementCount(of: [1 << 32, 1 << 32]) == nil)
    }

    /// Lossless means the same bits: NaN payloads and the sign of zero count, and so does the dtype.
    @Test func equalityIsBitForBit() throws {
        let quietNaN = Float(nan: 1, signaling: false)
        let otherNaN = Float(nan: 2, signaling: false)
        #expect(try Tensor(shape: [1], float32: [quietNaN]) == Tensor(shape: [1], float32: [quietNaN]))
        #expect(try Tensor(shape: [1], float32: [quietNaN]) != Tensor(shape: [1], float32: [otherNaN]))
        #expect(try Tensor(shape: [1], float32: [0]) != Tensor(shape: [1], float32: [-0.0]))
        #expect(try Tensor(shape: [1], float32: [1]) != Tensor(shape: [1], float64: [1]))
        #expect(try Tensor(shape: [2], float32: [1, 2]) != Tensor(shape: [2, 1], float32: [1, 2]))
    }
}

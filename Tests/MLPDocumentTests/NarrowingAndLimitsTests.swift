import MLPCore
import MLPDocument
import Testing

/// float64 → float32 narrowing that would turn a finite value into ±∞, and the readers' limits applied to a model
/// that exists only as widths.
struct NarrowingAndLimitsTests {
    @Test func narrowingBeyondFloat32NamesTheElement() throws {
        let tensor = try Tensor(shape: [2, 3], float64: [0, 1, 2, 3, -1e300, 5])
        #expect(throws: TensorError.beyondRange(shape: [2, 3], index: 4, value: -1e300, dtype: .float32)) {
            try tensor.checkedConversion(to: .float32)
        }
        #expect(TensorError.beyondRange(shape: [2, 3], index: 4, value: -1e300, dtype: .float32).description
                == "element [1, 1] is -1e+300, beyond float32's range; it would become -infinity")
        // In range, NaN and ±∞ (which float32 holds as they are) convert as before.
        let fine = try Tensor(shape: [3], float64: [3.4e38, .infinity, 1])
        #expect(try fine.checkedConversion(to: .float32) == fine.converted(to: .float32))
        #expect(try tensor.checkedConversion(to: .float64) == tensor)
    }

    private func document() throws -> ModelDocument {
        let model = try Model<Double>(inputWidth: 2, layers: [LayerSpec(3, .relu), LayerSpec(1, .linear)],
                                      loss: .meanSquaredError, optimizer: OptimizerConfig(.adam), seed: 1)
        return ModelDocument(model: model)
    }

    @Test func documentNarrowingNamesTheTensor() throws {
        var document = try document()
        var kernel = try #require(document.weights[1]["kernel"]).float64Values
        kernel[2] = 1e300
        document.weights[1]["kernel"] = try Tensor(shape: [3, 1], float64: kernel)
        #expect(throws: DocumentError("weights/dense_1/kernel", "element [2, 0] is 1e+300, beyond float32's range; it would become +infinity")) {
            try document.checkedConversion(to: .float32)
        }
        // Training in float32 narrows too: the same error instead of an infinite weight.
        #expect(throws: DocumentError.self) { try document.network(as: Float.self) }
        #expect(throws: Never.self) { try document.network(as: Double.self) }
    }

    @Test func optimizerSlotNarrowingNamesTheSlot() throws {
        var document = try document()
        var training = try #require(document.training)
        let slot = try #require(training.optimizer.slots.firstIndex { $0.name == "velocity" })
        training.optimizer.slots[slot].tensors[0] = try Tensor(shape: [2, 3], float64: [0, 0, 0, 0, 0, 1e39])
        document.training = training
        #expect(throws: DocumentError("optimizer/velocity/dense/kernel", "element [1, 2] is 1e+39, beyond float32's range; it would become +infinity")) {
            try document.checkedConversion(to: .float32)
        }
    }

    @Test func limitsRefuseAModelBeforeItExists() {
        let limits = LoadLimits()
        let dense = { (units: Int) in LayerKind.dense(DenseSettings(units: units, activation: .relu)) }
        #expect(limits.refusal(inputWidth: 4, layers: [dense(8)], slotsPerParameter: 2) == nil)
        #expect(limits.refusal(inputWidth: LoadLimits.maxWidth + 1, layers: [dense(8)], slotsPerParameter: 0)?.layer == nil)
        #expect(limits.refusal(inputWidth: 4, layers: [dense(8), dense(LoadLimits.maxWidth + 1)], slotsPerParameter: 0)
                == LimitRefusal(layer: 1, reason: "16777217 units exceed the readers' limit of 16777216"))
        // 100,000 × 100,000 float32 weights are 40 GB: over the per-tensor limit.
        let huge = limits.refusal(inputWidth: 100_000, layers: [dense(100_000)], slotsPerParameter: 2)
        #expect(huge?.layer == 0 && huge?.reason.contains("per tensor") == true, "\(String(describing: huge))")
        // 40,000 × 40,000 fits one tensor (6.4 GB) but not with Adam's two slots (19.2 GB) in all.
        let total = limits.refusal(inputWidth: 40_000, layers: [dense(40_000)], slotsPerParameter: 2)
        #expect(total?.reason.contains("in total") == true, "\(String(describing: total))")
        #expect(limits.refusal(inputWidth: 40_000, layers: [dense(40_000)], slotsPerParameter: 0) == nil)
        // The largest widths with no byte limits: counted with checked arithmetic, without a trap.
        #expect(LoadLimits(maxTensorBytes: .max, maxTotalBytes: .max)
                    .refusal(inputWidth: 1 << 24, layers: [dense(1 << 24), dense(1 << 24), dense(1 << 24)], slotsPerParameter: 3) == nil)
    }
}

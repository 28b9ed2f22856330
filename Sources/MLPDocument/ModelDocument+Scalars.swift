import MLPCore

extension ModelDocument {
    /// The optimizer keeps exactly the scalars its configuration names, once each and in order, each a finite
    /// number in its range.
    func validateScalars(_ optimizer: OptimizerRecord) throws(DocumentError) {
        let expected = optimizer.config.scalarNames
        let present = optimizer.scalars.map(\.name)
        let kind = optimizer.config.kind.name
        let keeps = expected.isEmpty ? "no scalars" : expected.joined(separator: ", ")
        if let missing = expected.first(where: { !present.contains($0) }) {
            throw DocumentError("optimizer/\(missing)", "missing (\(kind) with these settings keeps \(keeps))")
        }
        if let unexpected = present.first(where: { !expected.contains($0) }) {
            throw DocumentError("optimizer/\(unexpected)", "unexpected (\(kind) with these settings keeps \(keeps))")
        }
        guard present == expected else {
            throw DocumentError("optimizer", "scalars \(present) must appear once each, in the order \(expected)")
        }
        for scalar in optimizer.scalars {
            let object = "optimizer/\(scalar.name)"
            guard scalar.value.isFinite else { throw DocumentError(object, "must be a finite number, got \(scalar.value)") }
            switch scalar.name {
            case "u_product":
                // A product of factors β₁(1 − ½·0.96ᵗ) in [0, 1): starts at 1 and only shrinks.
                guard scalar.value >= 0, scalar.value <= 1 else {
                    throw DocumentError(object, "must be in [0, 1], got \(scalar.value)")
                }
            case "step_counter":
                // The loss scale's count of finite steps since the scale last changed: an int32 counter.
                guard scalar.value >= 0, scalar.value == scalar.value.rounded(), scalar.value <= Double(Int32.max) else {
                    throw DocumentError(object, "must be a whole number ≥ 0, got \(scalar.value)")
                }
            case "dynamic_scale":
                // The current loss scale, a float32 variable; zero would divide the gradients by zero.
                guard scalar.value > 0, Float(scalar.value).isFinite, Float(scalar.value) > 0 else {
                    throw DocumentError(object, "must be a number > 0 (in float32), got \(scalar.value)")
                }
            default: break
            }
        }
    }
}

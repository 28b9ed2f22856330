import MLPCore
internal import TextSupport

// Shape and value checks shared by the array formats (.npy/.npz and HDF5), where features `x` and targets `y` come
// as separate n-dimensional arrays rather than columns of one table.

extension DataFiles {
    /// `x` must be `[rows, inputs]`, or `[rows]` for a one-input model, with at least one row.
    static func checkFeatureShape(_ dimensions: [Int], model: ModelShape,
                                  error: (String) -> DataFileError) throws(DataFileError) {
        // Samples with several axes (images for a model that starts with a Flatten) are taken row-major, as
        // Keras's Flatten takes them.
        let sampleSize = dimensions.dropFirst().reduce((1, false)) { partial, dimension in
            let (product, overflow) = partial.0.multipliedReportingOverflow(by: dimension)
            return (product, partial.1 || overflow)
        }
        let fits = (dimensions.count >= 2 && !sampleSize.1 && sampleSize.0 == model.inputs)
            || (dimensions.count == 1 && model.inputs == 1)
        guard fits else {
            throw error("shape \(shapeText(dimensions)); the model takes \(plural(model.inputs, "input")), so expected "
                            + "(rows, \(model.inputs))" + (model.inputs == 1 ? " or (rows,)" : "")
                            + " (or (rows, d1, d2, …) with d1·d2·… = \(model.inputs))")
        }
        guard dimensions[0] > 0 else { throw error("no rows (shape \(shapeText(dimensions)))") }
    }

    /// How `y` of `dimensions` maps onto the model's targets: a column of class labels (for the cross-entropies),
    /// or `[rows, outputs]` values as given (`[rows]` for one output).
    static func checkTargetShape(_ dimensions: [Int], rows: Int, model: ModelShape,
                                 error: (String) -> DataFileError) throws(DataFileError) -> ModelShape.Targets {
        guard let yRows = dimensions.first, dimensions.count <= 2 else {
            throw error("shape \(shapeText(dimensions)); expected \(model.expectedTargetShapes)")
        }
        guard yRows == rows else { throw error("\(plural(yRows, "row")), but x has \(rows)") }
        let isColumn = dimensions.count == 1 || dimensions[1] == 1
        // Categorical cross-entropy with one output: a one-column y is the target as given (see `layout(columns:)`).
        if isColumn, model.takesLabels, !model.singleClassTarget {
            return .labels(oneHot: !model.keepsLabelIndices)
        }
        let width = dimensions.count == 1 ? 1 : dimensions[1]
        guard !model.labelsOnly, width == model.outputs else {
            throw error("shape \(shapeText(dimensions)); the model has \(plural(model.outputs, "output")), "
                            + "so expected \(model.expectedTargetShapes)")
        }
        return .values
    }

    /// Targets from `y`'s values (already shape-checked): labels validated and expanded, values checked finite.
    static func targets(_ values: [Double], layout: ModelShape.Targets, vector: Bool, model: ModelShape,
                        error: (String, [Int]) -> DataFileError) throws(DataFileError) -> (targets: [Float], width: Int) {
        switch layout {
        case .none:
            return ([], 0)
        case .labels(let oneHot):
            var labels = [Float](repeating: 0, count: values.count)
            for (row, value) in values.enumerated() {
                switch classLabel(value, classes: model.outputs) {
                case .success(let label): labels[row] = Float(label)
                case .failure(let problem):
                    throw error(problem.reason(value, classes: model.outputs), vector ? [row] : [row, 0])
                }
            }
            return (targets(fromLabels: labels, classes: model.outputs, oneHot: oneHot), oneHot ? model.outputs : 1)
        case .values:
            let targets = values.map { Float($0) }
            try checkFinite(targets, columns: model.outputs, vector: vector, error: error)
            return (targets, model.outputs)
        }
    }

    /// Refuses NaN and infinities (also from float64 values beyond the float32 range), naming the first one.
    static func checkFinite(_ values: [Float], columns: Int, vector: Bool,
                            error: (String, [Int]) -> DataFileError) throws(DataFileError) {
        guard let index = values.firstIndex(where: { !$0.isFinite }) else { return }
        let reason = values[index].isNaN ? "NaN is not allowed (only finite numbers are)"
            : "infinite value, or one beyond the float32 range, is not allowed (only finite numbers are)"
        throw error(reason, vector ? [index] : [index / columns, index % columns])
    }
}

extension Model {
    /// Trains for `options.epochs` epochs of mini-batch steps and returns their records (also appended to
    /// `training.history`).
    ///
    /// Each epoch draws its row order from the model's generator (when shuffling) and the generator's state is
    /// stored back after every epoch, so `fit` for 2 epochs and `fit` for 1 epoch twice give the same bits.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    @discardableResult
    public mutating func fit(
        _ data: Dataset<T>, options: FitOptions, progress: ((TrainingEvent) -> Void)? = nil
    ) throws(TrainingError) -> [EpochRecord] {
        guard options.epochs >= 0 else { throw .invalidOption("epochs must be ≥ 0, got \(options.epochs)") }
        guard options.batchSize > 0 else { throw .invalidOption("batch size must be positive, got \(options.batchSize)") }
        guard options.validationSplit >= 0, options.validationSplit < 1 else {
            throw .invalidOption("validation split must be in [0, 1), got \(options.validationSplit)")
        }
        try checkShapes(of: data)
        if !options.allowNonFiniteWeights { try checkFiniteWeights() }

        // Keras's split: the first ⌊N·(1 − split)⌋ rows train, the rest validate.
        let trainCount = Int((Double(data.count) * (1 - options.validationSplit)).rounded(.down))
        guard trainCount > 0 else {
            throw .invalidOption("no rows left to train on (\(data.count) rows, validation split \(options.validationSplit))")
        }
        let validation = trainCount < data.count && options.validationSplit > 0 ? data.rows(trainCount..<data.count) : nil
        let trainingData = validation == nil ? data : data.rows(0..<trainCount)

        let loss = training.loss
        let ws = Workspace(
            network: network, capacity: min(options.batchSize, trainCount),
            targetWidth: data.targetWidth)
        var random = RandomGenerator(state: training.random)
        // Rounded up without `trainCount + batchSize - 1`, which overflows for a batch size near Int.max.
        let batches = trainCount / options.batchSize + (trainCount % options.batchSize == 0 ? 0 : 1)
        // The counters a file may have brought close to Int.max must be able to count this run to its end.
        let (steps, stepsOverflow) = batches.multipliedReportingOverflow(by: options.epochs)
        guard !stepsOverflow, !training.optimizer.state.iterations.addingReportingOverflow(steps).overflow,
              !training.epochsCompleted.addingReportingOverflow(options.epochs).overflow else {
            throw .invalidOption("\(options.epochs) epochs of \(batches) steps cannot be counted on from "
                                 + "\(training.epochsCompleted) epochs and \(training.optimizer.state.iterations) steps")
        }
        let usesDropout = network.layers.contains { if case .dropout(let d) = $0.kind { d.rate > 0 } else { false } }
        let normalizesBatches = network.layers.contains { if case .batchNormalization = $0.kind { true } else { false } }
        let constrained = network.hasConstraints
        // Listed metrics replace the default accuracy; without a list the loop is what it always was.
        var tracker = try options.metrics.map { metrics throws(TrainingError) in
            try accumulator(metrics, targetWidth: trainingData.targetWidth)
        }
        var records: [EpochRecord] = []

        for _ in 0..<options.epochs {
            let epoch = training.epochsCompleted + 1
            if options.shuffle { random.permutation(count: trainCount, into: &ws.order) }
            var lossSum = 0.0
            var correct = 0, judged = 0
            tracker?.reset()
            for batch in 0..<batches {
                let start = batch * options.batchSize
                let rows = min(options.batchSize, trainCount - start)
                ws.gather(trainingData, order: options.shuffle ? ws.order : nil, start: start, rows: rows)
                if usesDropout { ws.drawDropoutMasks(for: network, rows: rows, random: &random) }
                let batchLoss = network.lossAndGradients(ws, rows: rows, loss: loss)
                // Keras's metrics see the training forward pass's outputs, before this step's update.
                if tracker != nil {
                    tracker?.add(predictions: ws.y[network.layers.count - 1].baseAddress!, targets: ws.targets.baseAddress!,
                                 rows: rows, width: network.outputWidth)
                } else if let counts = loss.correctPredictions(
                    predictions: ws.y[network.layers.count - 1].baseAddress!, targets: ws.targets.baseAddress!,
                    rows: rows, width: network.outputWidth, targetWidth: ws.targetWidth) {
                    correct += counts.correct
                    judged += counts.judged
                }
                training.optimizer.apply(gradients: ws.gradients, of: ws.parameters, to: &network)
                // Keras projects constrained variables right after the optimizer's update; moving statistics come
                // from the forward pass and do not depend on the step.
                if constrained { network.applyConstraints() }
                if normalizesBatches { network.updateMovingStatistics(from: ws, rows: rows) }
                // Keras's epoch loss: batch losses weighted by batch size.
                lossSum += Double(batchLoss) * Double(rows)
                progress?(.batchEnd(epoch: epoch, batch: batch + 1, batches: batches, samples: start + rows,
                                    meanLoss: lossSum / Double(start + rows)))
            }
            var metrics = ["loss": lossSum / Double(trainCount)]
            if judged > 0 { metrics["accuracy"] = Double(correct) / Double(judged) }
            if let tracker { metrics.merge(tracker.results()) { $1 } }
            if let validation {
                var validationTracker = tracker
                for (key, value) in evaluate(validation, workspace: ws, tracker: &validationTracker) {
                    metrics["val_" + key] = value
                }
            }
            let record = EpochRecord(epoch: epoch, metrics: metrics)
            training.epochsCompleted = epoch
            training.random = random.state
            training.history.append(record)
            records.append(record)
            progress?(.epochEnd(record))
        }
        // Keras's fit ends with finalize_variable_values: with use_ema the weights become their averages.
        if options.epochs > 0 { training.optimizer.finalize(parameters: ws.parameters, network: &network) }
        return records
    }

    /// Loss and metrics over a dataset, computed in batches: `metrics` under their names (Keras's `evaluate`), or
    /// without a list accuracy for the classification losses.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func evaluate(_ data: Dataset<T>, batchSize: Int = 256, metrics: [Metric]? = nil) throws(TrainingError) -> [String: Double] {
        guard batchSize > 0 else { throw .invalidOption("batch size must be positive, got \(batchSize)") }
        try checkShapes(of: data)
        guard data.count > 0 else { throw .dataMismatch("cannot evaluate on an empty dataset") }
        let ws = Workspace(
            network: network, capacity: min(batchSize, data.count),
            targetWidth: data.targetWidth, training: false)
        var tracker = try metrics.map { metrics throws(TrainingError) in try accumulator(metrics, targetWidth: data.targetWidth) }
        return evaluate(data, workspace: ws, tracker: &tracker)
    }

    private func accumulator(_ metrics: [Metric], targetWidth: Int) throws(TrainingError) -> MetricAccumulator<T> {
        do {
            return try MetricAccumulator(metrics: metrics, loss: training.loss, outputWidth: network.outputWidth,
                                         targetWidth: targetWidth)
        } catch {
            throw .invalidOption(error.description)
        }
    }

    private func evaluate(_ data: Dataset<T>, workspace ws: Workspace<T>,
                          tracker: inout MetricAccumulator<T>?) -> [String: Double] {
        tracker?.reset()
        let loss = training.loss
        let weightPenalty = network.weightPenalty()
        var lossSum = 0.0
        var correct = 0, judged = 0
        var start = 0
        while start < data.count {
            let rows = min(ws.capacity, data.count - start)
            ws.gather(data, order: nil, start: start, rows: rows)
            let output = network.forward(ws, rows: rows)
            // Keras's evaluation loss includes the regularization penalties too.
            let value = loss.evaluate(
                predictions: output.baseAddress!, targets: ws.targets.baseAddress!, rows: rows,
                width: network.outputWidth, targetWidth: ws.targetWidth, gradient: nil)
                + (network.isRegularized ? network.activityPenalty(ws, rows: rows) + weightPenalty : 0)
            lossSum += Double(value) * Double(rows)
            if tracker != nil {
                tracker?.add(predictions: output.baseAddress!, targets: ws.targets.baseAddress!, rows: rows,
                             width: network.outputWidth)
            } else if let counts = loss.correctPredictions(
                predictions: output.baseAddress!, targets: ws.targets.baseAddress!, rows: rows, width: network.outputWidth,
                targetWidth: ws.targetWidth) {
                correct += counts.correct
                judged += counts.judged
            }
            start += rows
        }
        var metrics = ["loss": lossSum / Double(data.count)]
        if judged > 0 { metrics["accuracy"] = Double(correct) / Double(judged) }
        if let tracker { metrics.merge(tracker.results()) { $1 } }
        return metrics
    }

    /// Network outputs `[count, outputWidth]` for feature rows `[count, inputWidth]`.
    public func predict(_ features: [T], batchSize: Int = 256) throws(TrainingError) -> [T] {
        try network.predict(features, batchSize: batchSize)
    }

    /// Feature width must match the network's input; target width must match what the loss expects; sparse
    /// labels must be class indices.
    private func checkShapes(of data: Dataset<T>) throws(TrainingError) {
        guard data.featureWidth == network.inputWidth else {
            throw .dataMismatch("data has \(data.featureWidth) feature columns, the model takes \(network.inputWidth) inputs")
        }
        guard training.loss.acceptsTargetWidth(data.targetWidth, outputWidth: network.outputWidth) else {
            throw .dataMismatch(
                "data has \(data.targetWidth) target columns, \(training.loss.name) with \(network.outputWidth) outputs needs \(training.loss.targetWidthDescription(outputWidth: network.outputWidth))")
        }
        if training.loss.takesClassIndices(targetWidth: data.targetWidth, outputWidth: network.outputWidth) {
            for (row, label) in data.targets.enumerated() {
                guard label >= 0, label < T(network.outputWidth), label == label.rounded(.towardZero) else {
                    throw .invalidLabel(row: row, value: Double(label), classes: network.outputWidth)
                }
            }
        }
    }

    private func checkFiniteWeights() throws(TrainingError) {
        for parameter in network.parameters {
            var bad = 0
            for value in network[parameter] where !value.isFinite { bad += 1 }
            if bad > 0 { throw .nonFiniteWeights(tensor: network.name(of: parameter), count: bad) }
        }
    }
}

extension Network {
    /// Outputs `[count, outputWidth]` for feature rows `[count, inputWidth]`, computed in batches.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func predict(_ features: [T], batchSize: Int = 256) throws(TrainingError) -> [T] {
        guard batchSize > 0 else { throw .invalidOption("batch size must be positive, got \(batchSize)") }
        guard features.count % inputWidth == 0 else {
            throw .dataMismatch("\(features.count) values do not make whole rows of \(inputWidth) inputs")
        }
        let count = features.count / inputWidth
        guard count > 0 else { return [] }
        let data: Dataset<T>
        do { data = try Dataset(features: features, featureWidth: inputWidth) } catch { throw .dataMismatch(error.description) }
        let ws = Workspace(network: self, capacity: min(batchSize, count), targetWidth: 0, training: false)
        var outputs = [T](repeating: 0, count: count * outputWidth)
        var start = 0
        while start < count {
            let rows = min(ws.capacity, count - start)
            ws.gather(data, order: nil, start: start, rows: rows)
            let block = forward(ws, rows: rows)
            outputs.withUnsafeMutableBufferPointer { out in
                (out.baseAddress! + start * outputWidth).update(from: block.baseAddress!, count: rows * outputWidth)
            }
            start += rows
        }
        return outputs
    }
}

import ArgumentParser

/// `--batch-size` of the commands that only run the model forward (predict, evaluate). Finetune's is a mini-batch
/// size with a default of its own.
struct ForwardBatchSize: ParsableArguments {
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Rows per forward pass.")
    var batchSize: Int = 256

    var rows: Int { batchSize }

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    }
}

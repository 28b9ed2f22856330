import MLPModelFiles

// How finetune and evaluate name the compiled metrics mlpconv keeps but does not compute.

/// One line for stderr before training, nil when every compiled metric is computed.
func notComputedNote(_ compiled: CompiledMetrics) -> String? {
    guard !compiled.notComputed.isEmpty else { return nil }
    return "compiled metric(s) not computed by mlpconv, kept for Keras: "
        + compiled.notComputed.map { "\($0.name) (\($0.reason))" }.joined(separator: "; ")
}

/// `[{"name": …, "reason": …}, …]` for `--json`.
func notComputedJSON(_ notComputed: [CompiledMetrics.NotComputed]) -> JSONOutput {
    .array(notComputed.map { .object(["name": .string($0.name), "reason": .string($0.reason)]) })
}

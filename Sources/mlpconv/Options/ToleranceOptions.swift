import ArgumentParser

/// `--atol` and `--rtol`: how close two elements must be for `diff` to count them equal.
struct ToleranceOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Absolute tolerance per element.")
    var atol: Double = 0

    @Option(parsing: .unconditional, help: "Relative tolerance per element (relative to B's value).")
    var rtol: Double = 0

    var perElement: ElementTolerance { ElementTolerance(atol: atol, rtol: rtol) }

    func validate() throws {
        guard atol.isFinite && atol >= 0 else { throw ValidationError("--atol must be a finite number ≥ 0, got \(atol)") }
        guard rtol.isFinite && rtol >= 0 else { throw ValidationError("--rtol must be a finite number ≥ 0, got \(rtol)") }
    }
}

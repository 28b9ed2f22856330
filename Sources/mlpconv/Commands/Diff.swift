import ArgumentParser
import MLPModelFiles

struct Diff: ParsableCommand, JSONFlagHelp {
    static let configuration = CommandConfiguration(
        abstract: "Compare two model files: architecture, weights, optimizer state, training state and metadata.",
        discussion: """
            A and B may be in any formats. By default values must be bitwise identical: the same dtype and the \
            same bits (a NaN equals a NaN with the same bits; 0 and -0 differ). With --atol or --rtol an element \
            matches when |a − b| ≤ atol + rtol·|b| (numpy's isclose), or has the same bits; dtype differences are \
            then reported but do not count. Tensors are compared per element (weights and optimizer slots alike), \
            as are the numbers of the loss history; hyperparameters, step counts and the generator's state must \
            be equal.

            Metadata (description, created_at, converted_from, …) is listed but does not make the models differ, \
            since convert and finetune write it: --metadata counts it too.

            Exit status 0 when the models are equal (within the tolerance), 1 when they differ.
            """)

    @Argument(help: "The first model file.")
    var a: String

    @Argument(help: "The second model file.")
    var b: String

    @OptionGroup var tolerance: ToleranceOptions

    @Flag(help: "Count metadata differences too.")
    var metadata = false

    static let jsonHelp = "Print the comparison as JSON on stdout."
    @OptionGroup var style: JSONFlag<Diff>

    @OptionGroup var activations: ActivationsOption

    func run() throws {
        let kindA = try ModelFiles.detectKind(at: a)
        let documentA = try IsolatedRead.load(a, options: activations.loadOptions)
        let kindB = try ModelFiles.detectKind(at: b)
        let documentB = try IsolatedRead.load(b, options: activations.loadOptions)
        let report = ModelComparison(documentA, documentB, tolerance: tolerance.perElement, countMetadata: metadata)
        if style.json {
            printJSON(report.json(a: a, b: b, formatA: kindA.rawValue, formatB: kindB.rawValue))
        } else {
            emit(report.text(a: a, b: b, formatA: kindA.rawValue, formatB: kindB.rawValue), terminator: "")
        }
        if !report.equal { throw CheckFailed() }
    }
}

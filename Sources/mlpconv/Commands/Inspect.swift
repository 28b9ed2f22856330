import ArgumentParser
import MLPModelFiles
internal import FileSupport

struct Inspect: ParsableCommand, JSONFlagHelp {
    static let configuration = CommandConfiguration(
        abstract: "Show what a model file holds: architecture, parameter counts, training state, metadata.",
        discussion: "The format is detected from the file's content. With --stats, per-tensor statistics are added.")

    @Argument(help: "The model file (any supported format).")
    var file: String

    @Flag(help: "Add per-tensor min, max, mean, standard deviation and NaN/Inf counts.")
    var stats = false

    @OptionGroup var style: JSONFlag<Inspect>

    @OptionGroup var activations: ActivationsOption

    func run() throws {
        let kind = try ModelFiles.detectKind(at: file)
        let document = try IsolatedRead.load(file, options: activations.loadOptions)
        let bytes = FileStatus.size(of: file) ?? 0
        let report = InspectReport(file: file, kind: kind, bytes: bytes, document: document, includeStats: stats)
        if style.json { printJSON(report.json) } else { emit(report.text, terminator: "") }
    }
}

import ArgumentParser
import Foundation
import MLPDataFiles
import MLPDocument
internal import TextSupport
import MLPCore

struct Predict: ParsableCommand, DataOptionHelp, JSONFlagHelp {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on the feature rows of a data file and write its outputs.",
        discussion: """
            Only the features of DATA are used; target columns, when present, are ignored. The outputs are \
            computed in float32, as the model trains. Without --output they are printed on stdout as CSV (a \
            header output_0,output_1,… then one row per sample, each number in its shortest form that reads back \
            to the same float32). With --output they are written atomically as CSV or as a float32 .npy of shape \
            (rows, outputs), chosen by the extension.
            """)

    @Argument(help: "The model file (any supported format).")
    var file: String

    static let dataHelp = "The rows to predict: CSV, .npy/.npz or HDF5 with a dataset x."
    @OptionGroup var data: DataOption<Predict>

    @Option(help: "Write the predictions to this .csv or .npy file instead of stdout.")
    var output: String?

    @OptionGroup var batchSize: ForwardBatchSize

    @OptionGroup var overwrite: ForceFlag

    static let jsonHelp = "Print the result as JSON on stdout (with the predictions when there is no --output)."
    @OptionGroup var style: JSONFlag<Predict>

    @OptionGroup var activations: ActivationsOption

    func run() throws {
        var format: PredictionFormat?
        if let output {
            guard let chosen = PredictionFormat(path: output) else {
                throw CommandError("\(output): cannot tell the format from the extension; use .csv or .npy")
            }
            try overwrite.check(output)
            format = chosen
        }
        let document = try IsolatedRead.load(file, options: activations.loadOptions)
        let network: Network<Float> = try wrap(file) { () throws(DocumentError) in try document.network() }
        let dataset: Dataset<Float>
        do { dataset = try DataFiles.loadFeatures(data.path, inputWidth: network.inputWidth, outputWidth: network.outputWidth,
                                                         header: data.csvHeader.value, isolation: .thisProgram) } catch {
            throw CommandError(error.description)
        }
        let values = try wrap(data.path) { () throws(TrainingError) in
            try network.predict(dataset.features, batchSize: batchSize.rows)
        }
        let rows = dataset.count, columns = network.outputWidth

        if let output, let format {
            do { try DataFiles.writePredictions(values, rows: rows, columns: columns, to: output, format: format) } catch {
                throw CommandError(error.description)
            }
            if style.json {
                printJSON(["rows": .int(rows), "columns": .int(columns), "output": .string(output), "format": .string(format.rawValue)])
            } else {
                emit("wrote \(output) (\(format.rawValue), \(plural(rows, "row")) × \(plural(columns, "column"))) from \(file) on \(data.path)")
            }
        } else if style.json {
            let table: [JSONOutput] = (0..<rows).map { row in
                .array((0..<columns).map { .double(Double(values[row * columns + $0])) })
            }
            printJSON(["rows": .int(rows), "columns": .int(columns), "predictions": .array(table)])
        } else {
            emit(String(decoding: DataFiles.predictionsCSV(values, rows: rows, columns: columns), as: UTF8.self), terminator: "")
        }
    }
}

import ArgumentParser
import MLPDataFiles

/// How a command words `--data`'s help: which rows it reads and which datasets it needs.
protocol DataOptionHelp {
    static var dataHelp: String { get }
}

/// `--data FILE`: the rows a command runs the model on (CSV, .npy/.npz or HDF5).
struct DataOption<Command: DataOptionHelp>: ParsableArguments {
    @Option(help: ArgumentHelp(Command.dataHelp))
    var data: String

    @OptionGroup var csvHeader: CSVHeaderOption

    var path: String { data }
}

/// `--header` / `--no-header`: whether a CSV data file's first row names the columns.
struct CSVHeaderOption: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: """
        The CSV data's first row is a header (--header) or data (--no-header). Default: a header when it has text \
        and no number; a first row with both is an error.
        """)
    var header: Bool?

    var value: CSVHeader { header.map { $0 ? .present : .absent } ?? .detect }
}

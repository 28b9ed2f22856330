import ArgumentParser

/// How a command words `--data`'s help: which rows it reads and which datasets it needs.
protocol DataOptionHelp {
    static var dataHelp: String { get }
}

/// `--data FILE`: the rows a command runs the model on (CSV, .npy/.npz or HDF5).
struct DataOption<Command: DataOptionHelp>: ParsableArguments {
    @Option(help: ArgumentHelp(Command.dataHelp))
    var data: String

    var path: String { data }
}

import ArgumentParser

/// How a command words `--json`'s help: most print "the result", some a report, a summary or a comparison.
protocol JSONFlagHelp {
    static var jsonHelp: String { get }
}

extension JSONFlagHelp {
    static var jsonHelp: String { "Print the result as JSON on stdout." }
}

/// `--json`: one JSON object on stdout instead of text.
struct JSONFlag<Command: JSONFlagHelp>: ParsableArguments {
    @Flag(help: ArgumentHelp(Command.jsonHelp))
    var json = false
}

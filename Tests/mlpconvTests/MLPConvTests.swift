import Foundation
import Testing

// The root command: help listing every command, shell completions, progress drawn on a terminal.

struct NewCommandHelpTests {
    @Test(arguments: [
        ("gradcheck", "USAGE: mlpconv gradcheck [<options>] <file>"),
        ("predict", "USAGE: mlpconv predict <file> --data <data> [--header] [--no-header] [--output <output>] [--batch-size <batch-size>] [--force] [--json]"),
        // With --header/--no-header the line grows past ArgumentParser's limit: it folds the options away.
        ("evaluate", "USAGE: mlpconv evaluate [<options>] <file> --data <data>"),
        ("diff", "USAGE: mlpconv diff <a> <b> [--atol <atol>] [--rtol <rtol>] [--metadata] [--json]"),
    ])
    func helpShowsTheUsageLine(command: String, usage: String) throws {
        let help = try mlpconv([command, "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains(usage))
        #expect(try mlpconv(["help", command]).stdout.contains(usage))
    }

    @Test func rootHelpListsEveryCommandInOrder() throws {
        let help = try mlpconv(["--help"]).stdout
        let names = ["inspect", "convert", "gradcheck", "finetune", "init", "predict", "evaluate", "diff"]
        let positions = try names.map { name in try #require(help.range(of: "\n  \(name) ")).lowerBound }
        #expect(positions == positions.sorted())
    }
}

struct TerminalTests {
    /// On a terminal, progress is a bar redrawn in place. `script` (util-linux) runs the command on a pseudo-terminal.
    @Test func liveProgressBarOnATerminal() throws {
        let script = try #require(["/usr/bin/script", "/bin/script"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                  "util-linux's script is needed to give the command a terminal")
        let scratch = try Scratch()
        let model = scratch.path("m.h5")
        #expect(try mlpconv(["init", model, "--inputs", "64", "--layer", "10:softmax", "--loss", "sparse_categorical_crossentropy"]).status == 0)
        let command = [mlpconvPath, "finetune", model, "--data", digitsCSV, "--output", model, "--epochs", "2", "--batch-size", "8"]
            .map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = ["-qefc", command, "/dev/null"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // Redrawn in place: carriage return and erase-line, a bar, the running loss, throughput and ETA.
        #expect(text.contains("\r\u{1B}[2Kepoch 1/2 "))
        #expect(text.contains("█"))
        #expect(text.contains("samples/s  ETA "))
        // The finished epoch's line replaces the bar.
        #expect(text.contains("\r\u{1B}[2Kepoch 2/2 (2 in all)  loss "))
    }

    @Test func shellCompletions() throws {
        for shell in ["bash", "zsh", "fish"] {
            let result = try mlpconv(["--generate-completion-script", shell])
            #expect(result.status == 0)
            for command in ["inspect", "convert", "gradcheck", "finetune", "init", "predict", "evaluate", "diff"] {
                #expect(result.stdout.contains(command), "\(shell) completion lacks \(command)")
            }
        }
    }
}

import ArgumentParser
import Foundation

/// `--force`: the command may replace an existing OUTPUT.
struct ForceFlag: ParsableArguments {
    @Flag(help: "Overwrite OUTPUT if it exists.")
    var force = false

    /// Refuses to replace an existing file unless `--force` was given.
    func check(_ path: String) throws {
        if FileManager.default.fileExists(atPath: path) && !force {
            throw CommandError("\(path): already exists; use --force to replace it")
        }
    }
}

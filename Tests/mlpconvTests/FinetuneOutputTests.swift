import Foundation
import Testing

@Suite("finetune never overwrites its inputs or an existing file (issue 15, item 8)")
struct FinetuneOutputTests {
    @Test func finetuneNeverWritesOverItsInputs() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let data = try sampleDataFile(scratch)
        let modelBytes = try fileBytes(model), dataBytes = try fileBytes(data)
        try FileManager.default.createSymbolicLink(atPath: scratch.path("link.csv"), withDestinationPath: data)
        let cases: [(arguments: [String], message: String)] = [
            (["--output", scratch.path("o.h5"), "--plot", model], "--plot is the model"),
            (["--output", scratch.path("o.h5"), "--plot", data], "--plot is the training data"),
            (["--output", data], "--output is the training data"),
            (["--output", data, "--force"], "--output is the training data"),
            // Another spelling of the same file is the same file.
            (["--output", scratch.path("link.csv"), "--force"], "--output is the training data"),
            (["--output", scratch.url.path + "/./data.csv", "--force"], "--output is the training data"),
            (["--output", scratch.path("o.h5"), "--plot", scratch.path("o.h5")], "--plot is the same file as --output"),
            (["--output", model, "--plot", model], "--plot is the model"),
        ]
        for (arguments, message) in cases {
            let result = try runUnderTest(["finetune", model, "--data", data] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(lines(result.stderr).count == 2, "\(arguments): one line: \(result.stderr)")
            #expect(try fileBytes(model) == modelBytes, "\(arguments)")
            #expect(try fileBytes(data) == dataBytes, "\(arguments)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("o.h5")), "\(arguments)")
        }
    }

    @Test func finetuneReplacesAnExistingFileOnlyWithForce() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let data = try sampleDataFile(scratch)
        let notes = scratch.path("notes.json"), plot = scratch.path("loss.svg")
        try Data("{\"mine\": true}".utf8).write(to: URL(fileURLWithPath: notes))
        try Data("<svg/>".utf8).write(to: URL(fileURLWithPath: plot))

        let refused = try runUnderTest(["finetune", model, "--data", data, "--output", notes])
        #expect(refused.status == 2)
        #expect(refused.stderr == "mlpconv: \(notes): already exists; use --force to replace it\n")
        #expect(try fileBytes(notes) == Data("{\"mine\": true}".utf8))
        let plotRefused = try runUnderTest(["finetune", model, "--data", data, "--output", scratch.path("new.h5"), "--plot", plot])
        #expect(plotRefused.stderr == "mlpconv: \(plot): already exists; use --force to replace it\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("new.h5")))

        let forced = try runUnderTest(["finetune", model, "--data", data, "--output", notes, "--plot", plot, "--force", "--quiet"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try fileBytes(notes).starts(with: Data("{".utf8)) && fileBytes(notes) != Data("{\"mine\": true}".utf8))
        #expect(try fileBytes(plot).starts(with: Data("<svg".utf8)) && fileBytes(plot).count > 100)

        // Resuming in place (--output FILE, spelt differently) needs no --force.
        let resumed = try runUnderTest(["finetune", model, "--data", data, "--output", scratch.url.path + "/./model.h5", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    @Test func finetuneChecksEveryOutputBeforeTraining() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let data = try sampleDataFile(scratch)
        let output = scratch.path("o.h5")
        // A plot that cannot be written used to fail only after the model was saved (and a rerun trained twice).
        let result = try runUnderTest(["finetune", model, "--data", data, "--output", output, "--plot", scratch.path("no/such/loss.svg")])
        #expect(result.status == 2)
        #expect(result.stderr.contains("loss.svg: cannot write: the folder"), "\(result.stderr)")
        #expect(!result.stderr.contains("epoch"))
        #expect(!FileManager.default.fileExists(atPath: output))
        let readOnly = scratch.path("ro")
        try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: false)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: readOnly)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: readOnly) }
        if access(readOnly, W_OK) != 0 {  // root may write anywhere: then there is nothing to refuse
            let denied = try runUnderTest(["finetune", model, "--data", data, "--output", readOnly + "/o.h5"])
            #expect(denied.status == 2)
            #expect(denied.stderr.contains("cannot write in the folder"), "\(denied.stderr)")
        }
    }
}

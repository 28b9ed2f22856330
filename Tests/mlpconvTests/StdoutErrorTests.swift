import Foundation
import Testing

@Suite("Stdout write errors are errors (issue 15, item 7)")
struct StdoutErrorTests {
    @Test(arguments: [
        "inspect", "inspect --json", "inspect --stats", "predict", "predict --json", "evaluate", "evaluate --json",
        "diff", "diff --json", "gradcheck", "gradcheck --json", "convert", "convert --json", "init", "init --json",
        "finetune", "finetune --json", "--help", "inspect --help", "--version",
    ])
    func everyCommandReportsAFullStdout(_ command: String) throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let data = try sampleDataFile(scratch)
        let words = command.split(separator: " ").map(String.init)
        let rest: [String]
        switch words[0] {
        case "inspect", "gradcheck": rest = [model]
        case "predict", "evaluate": rest = [model, "--data", data]
        case "diff": rest = [model, model]
        case "convert": rest = [model, scratch.path("out.json")]
        case "init": rest = [scratch.path("new.json"), "--inputs", "4", "--layer", "3:softmax"]
        case "finetune": rest = [model, "--data", data, "--output", scratch.path("tuned.h5")]
        default: rest = []
        }
        let result = try runUnderTest(words + rest, stdoutTo: "/dev/full")
        #expect(result.status == 2, "\(command): rc \(result.status), stderr \(result.stderr)")
        #expect(result.stderr.hasSuffix("mlpconv: stdout: No space left on device\n"), "\(command): \(result.stderr)")
    }

    @Test func aWorkingStdoutStillExitsZero() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let sink = scratch.path("out.txt")
        #expect(FileManager.default.createFile(atPath: sink, contents: nil))
        let result = try runUnderTest(["predict", model, "--data", try sampleDataFile(scratch, rows: 2000)], stdoutTo: sink)
        #expect(result.status == 0)
        // Larger than the output buffer: every row arrives, in order.
        let text = String(decoding: try fileBytes(sink), as: UTF8.self)
        #expect(lines(text).count == 2002)
        #expect(text.hasPrefix("output_0,output_1,output_2\n"))
    }

    @Test func theSourcesPrintOnlyThroughTheCheckedWriter() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/mlpconv")
        let files = try #require(FileManager.default.enumerator(atPath: folder.path)).compactMap { $0 as? String }
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for (number, line) in lines(text).enumerated() {
                let code = line.components(separatedBy: "//").first ?? ""
                let unchecked = code.range(of: #"(^\s*|[{};]\s*)print\("#, options: .regularExpression) != nil
                    || code.contains("standardOutput.write")
                #expect(!unchecked, "\(file):\(number + 1) writes to stdout around StandardOutput: \(line)")
            }
        }
    }
}

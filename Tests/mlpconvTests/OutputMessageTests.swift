import Foundation
import Testing

@Suite("Escaped messages, --quiet, help texts, symbolic-link outputs (issue 15)")
struct OutputDetailTests {
    @Test func fileContentInMessagesIsEscaped() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let nul = scratch.path("nul.csv")
        try Data("f0,f1,f2,f3,label\n1,2,\u{0}\u{1B}[2J,4,0\n".utf8).write(to: URL(fileURLWithPath: nul))
        let result = try runUnderTest(["evaluate", model, "--data", nul])
        #expect(result.status == 2)
        #expect(result.stderr == "mlpconv: \(nul): line 2, column 3 (f2): '\\x00\\x1b[2J' is not a number\n")
        // A UTF-16 file: its byte-order mark and NULs escaped, every byte visible.
        let utf16 = scratch.path("utf16.csv")
        try #require("1,2,3,4,0\n".data(using: .utf16LittleEndian)).withUnsafeBytes { raw in
            try (Data([0xFF, 0xFE]) + Data(raw)).write(to: URL(fileURLWithPath: utf16))
        }
        let wide = try runUnderTest(["evaluate", model, "--data", utf16])
        #expect(wide.status == 2)
        #expect(wide.stderr.contains("\\xff\\xfe1\\x00"), "\(wide.stderr)")
        #expect(!wide.stderr.utf8.contains(0) && !wide.stderr.contains("\u{FFFD}"))
    }

    @Test func quietFinetunePrintsNothingButErrors() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let data = try sampleDataFile(scratch)
        let quiet = try runUnderTest(["finetune", model, "--data", data, "--output", model, "--quiet"])
        #expect(quiet.status == 0)
        #expect(quiet.stdout.isEmpty, "\(quiet.stdout)")
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")
        let failing = try runUnderTest(["finetune", model, "--data", scratch.path("missing.csv"), "--output", model, "--quiet"])
        #expect(failing.status == 2)
        #expect(!failing.stderr.isEmpty)
    }

    @Test func helpNamesEveryModelExtensionThatWorks() throws {
        let scratch = try Scratch()
        let data = try sampleDataFile(scratch)
        for command in ["finetune", "init"] {
            let help = try runUnderTest([command, "--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
                .replacingOccurrences(of: "  ", with: " ")
            for ext in ["json", "h5", "keras", "safetensors", "pt", "onnx"] {
                #expect(help.contains(".\(ext)"), "\(command) --help does not name .\(ext)")
            }
        }
        let model = try sampleModelFile(scratch).path
        for ext in ["json", "h5", "keras", "safetensors", "pt", "onnx"] {
            #expect(try runUnderTest(["init", scratch.path("i.\(ext)"), "--inputs", "4", "--layer", "3:softmax"]).status == 0, ".\(ext)")
            let tuned = try runUnderTest(["finetune", model, "--data", data, "--output", scratch.path("t.\(ext)"), "--quiet"])
            #expect(tuned.status == 0, ".\(ext): \(tuned.stderr)")
        }
    }

    @Test func anOutputThatIsASymbolicLinkIsWrittenThrough() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        try FileManager.default.createDirectory(atPath: scratch.path("store"), withIntermediateDirectories: false)
        let target = scratch.path("store/real.json"), link = scratch.path("current.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "store/real.json")
        #expect(try runUnderTest(["convert", model, link, "--force"]).status == 0)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "store/real.json")
        #expect(try fileBytes(target).count > 100)
        // The temporary file went next to the target, and nothing is left beside either.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("store")) == ["real.json"])
        #expect(try runUnderTest(["inspect", link]).status == 0)
    }

    @Test func theNextWriteRemovesTemporaryFilesOfKilledWriters() throws {
        let scratch = try Scratch()
        let model = scratch.path("m.json")
        #expect(try runUnderTest(["init", model, "--inputs", "4", "--layer", "3:softmax"]).status == 0)
        // A pid that ran and is gone: a process that has exited and been waited for.
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let stale = scratch.path(".m.json.tmp-\(finished.processIdentifier)-Ab12Cd")
        let live = scratch.path(".m.json.tmp-\(getpid())-Xy34Zw")
        let unknown = scratch.path(".m.json.tmp-Qw12Er")  // an older version's name: its writer cannot be told
        let otherTarget = scratch.path(".n.json.tmp-\(finished.processIdentifier)-Ab12Cd")
        for path in [stale, live, unknown, otherTarget] {
            try Data(repeating: 7, count: 1 << 20).write(to: URL(fileURLWithPath: path))
        }
        #expect(try runUnderTest(["init", model, "--inputs", "4", "--layer", "3:softmax", "--force"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale))
        for kept in [live, unknown, otherTarget] { #expect(FileManager.default.fileExists(atPath: kept), "\(kept)") }
    }
}

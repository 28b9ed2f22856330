import Foundation
import MLPCodecs
import MLPCore
import Testing

let badFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/bad")

struct HostileInputTests {
    /// Files that make HDF5 1.10.8 itself segfault: the command reports them, it does not crash.
    @Test(arguments: ["hdf5-flipped-metadata-segfault-1.h5", "hdf5-flipped-metadata-segfault-2.h5"])
    func libraryCrashesBecomeErrors(name: String) throws {
        let path = badFixtures.appendingPathComponent(name).path
        for command in [["inspect", path], ["convert", path, "/tmp/never-written-\(UUID().uuidString).json"]] {
            let result = try mlpconv(command)
            #expect(result.status == 2)
            #expect(result.stderr == "mlpconv: \(path): the HDF5 library crashed (signal 11) while reading this file; its metadata is corrupt\n")
        }
    }

    /// bad-inputs.md case 3: single bit flips anywhere in a model file. Every one must end as success (the flip
    /// hit unused bytes) or a one-line error — never a signal, a hang or a silently different model.
    @Test func randomBitFlipsNeverCrashTheCommand() throws {
        let scratch = try Scratch()
        let (original, document) = try sampleModelFile(scratch)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: original))
        var random = RandomGenerator(seed: 2024)
        var outcomes = (clean: 0, rejected: 0)
        for attempt in 0..<120 {
            var mutant = bytes
            let position = random.nextInt(below: mutant.count)
            mutant[position] ^= UInt8(1 << random.nextInt(below: 8))
            let path = scratch.path("mutant-\(attempt).h5")
            try mutant.write(to: URL(fileURLWithPath: path))
            let result = try mlpconv(["inspect", path, "--json"])
            #expect(result.status == 0 || result.status == 2, "flip at byte \(position): status \(result.status)")
            if result.status == 0 {
                outcomes.clean += 1
                // A flip the reader accepted must not have changed what the file says.
                #expect(try ModelFiles.load(path) == document, "flip at byte \(position) changed the model silently")
            } else {
                outcomes.rejected += 1
                #expect(result.stderr.hasPrefix("mlpconv: \(path): "))
                #expect(result.stderr.split(separator: "\n").count == 1)
            }
        }
        // Both outcomes occur, so the test exercises the error paths too.
        #expect(outcomes.clean > 0 && outcomes.rejected > 0)
    }
}

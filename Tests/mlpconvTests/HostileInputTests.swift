import Foundation
import MLPCore
import Testing
import ZIPFoundation
@testable import MLPModelFiles

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

    /// Flips one random bit of `original` per attempt and runs `mlpconv inspect` on each mutant: it must exit 0 or
    /// with a one-line error naming the file, never a signal or a hang. `accepted` checks each mutant that loaded.
    private func inspectBitFlips(of original: String, attempts: Int, seed: UInt64, in scratch: Scratch,
                                 accepted: (_ path: String, _ position: Int) throws -> Void = { _, _ in }) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: original))
        var random = RandomGenerator(seed: seed)
        var outcomes = (clean: 0, rejected: 0)
        for attempt in 0..<attempts {
            var mutant = bytes
            let position = random.nextInt(below: mutant.count)
            mutant[position] ^= UInt8(1 << random.nextInt(below: 8))
            let path = scratch.path("mutant-\(attempt).h5")
            try mutant.write(to: URL(fileURLWithPath: path))
            let result = try mlpconv(["inspect", path, "--json"])
            #expect(result.status == 0 || result.status == 2, "flip at byte \(position): status \(result.status)")
            if result.status == 0 {
                outcomes.clean += 1
                try accepted(path, position)
            } else {
                outcomes.rejected += 1
                #expect(result.stderr.hasPrefix("mlpconv: \(path): ") && result.stderr.split(separator: "\n").count == 1)
            }
        }
        // Both outcomes occur, so the test exercises the error paths too.
        #expect(outcomes.clean > 0 && outcomes.rejected > 0)
    }

    /// docs/robustness.md, catalogue case 3: single bit flips anywhere in a model file. Every one must end as
    /// success (the flip hit unused bytes) or a one-line error — never a signal, a hang or a silently different model.
    @Test func randomBitFlipsNeverCrashTheCommand() throws {
        let scratch = try Scratch()
        let (original, document) = try sampleModelFile(scratch)
        try inspectBitFlips(of: original, attempts: 120, seed: 2024, in: scratch) { path, position in
            // A flip the reader accepted must not have changed what the file says.
            let loaded = try ModelFiles.load(path)
            #expect(loaded == document, "flip at byte \(position) changed the model silently")
        }
    }

    /// The same for Keras's legacy `.h5` layout. Keras files carry no checksums, so a flip inside a tensor's
    /// bytes loads as a different value, as it would in Keras; what must never happen is a signal or a hang.
    @Test func randomBitFlipsInKerasH5NeverCrashTheCommand() throws {
        let scratch = try Scratch()
        let (native, _) = try sampleModelFile(scratch)
        let original = scratch.path("keras.h5")
        try ModelFiles.save(try ModelFiles.load(native), to: original, format: .kerasH5)
        try inspectBitFlips(of: original, attempts: 100, seed: 2025, in: scratch)
    }

    /// Keras's `config.json` is parsed from whatever the archive holds: random byte substitutions in it (archive
    /// rebuilt, so the zip CRC is right) give a model or a one-line error naming the JSON path, never a crash.
    @Test func mutatedKerasConfigsNeverCrashTheCommand() throws {
        let scratch = try Scratch()
        let (native, _) = try sampleModelFile(scratch)
        let original = scratch.path("model.keras")
        try ModelFiles.save(try ModelFiles.load(native), to: original, format: .keras)
        let source = try Archive(url: URL(fileURLWithPath: original), accessMode: .read)
        var members: [(String, Data)] = []
        for entry in source {
            var data = Data()
            _ = try source.extract(entry) { data.append($0) }
            members.append((entry.path, data))
        }
        let config = try #require(members.first { $0.0 == "config.json" }?.1)
        let replacements = Array("{}[]\",:0123456789-.eE nulltruefalse\\".utf8) + [0x00, 0x7F, 0xC3, 0xFF]
        var random = RandomGenerator(seed: 2026)
        var outcomes = (clean: 0, rejected: 0)
        for attempt in 0..<80 {
            var mutant = config
            for _ in 0..<(1 + random.nextInt(below: 3)) {
                mutant[random.nextInt(below: mutant.count)] = replacements[random.nextInt(below: replacements.count)]
            }
            let archive = try Archive(accessMode: .create)
            for (name, data) in members {
                let bytes = name == "config.json" ? mutant : data
                try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(bytes.count)) { position, size in
                    bytes.subdata(in: Int(position)..<Int(position) + size)
                }
            }
            let path = scratch.path("mutant-\(attempt).keras")
            try (try #require(archive.data)).write(to: URL(fileURLWithPath: path))
            let result = try mlpconv(["inspect", path, "--json"])
            #expect(result.status == 0 || result.status == 2, "attempt \(attempt): status \(result.status)")
            if result.status == 2 {
                outcomes.rejected += 1
                #expect(result.stderr.hasPrefix("mlpconv: \(path): ") && result.stderr.split(separator: "\n").count == 1,
                        "\(result.stderr)")
            } else {
                outcomes.clean += 1
            }
        }
        #expect(outcomes.rejected > 0)
    }
}

import Foundation
import PickleSupport
import Testing
import ZipSupport

@Suite("Mutated torch.save files load or fail with one error; nothing crashes or hangs")
struct MutationTests {
    /// SplitMix64: the same mutants on every run.
    struct Generator {
        var state: UInt64
        mutating func next(below bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    /// Opens the archive and reads every tensor; returns whether all of it loaded. A storage's CRC-32 is checked
    /// when its tensor is read, so a failure can come from either step; each is one error naming the file.
    static func load(_ data: Data) -> Bool {
        do {
            let archive = try TorchArchive(data: data, file: "mutant.pt")
            for (path, tensor) in TorchArchive.tensors(in: archive.root) {
                _ = try archive.tensor(tensor, at: path)
            }
            return true
        } catch {
            #expect(error.description.hasPrefix("mutant.pt: ") && !error.reason.isEmpty, "\(error)")
            return false
        }
    }

    @Test(arguments: ["state_dict", "checkpoint"])
    func bitFlipsAnywhereInTheFile(_ name: String) throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(name + ".pt")))
        var random = Generator(state: 0x5EED)
        var loaded = 0
        for _ in 0..<800 {
            var mutant = original
            for _ in 0...random.next(below: 3) {
                let index = random.next(below: mutant.count)
                mutant[index] ^= UInt8(1) << UInt8(random.next(below: 8))
            }
            if Self.load(mutant) { loaded += 1 }
        }
        // Flips in zip padding and unused header fields leave a loadable file; most break a CRC or a header.
        #expect(loaded > 0 && loaded < 800, "loaded \(loaded)")
    }

    /// Flips inside data.pkl, with the archive rebuilt around it so the CRC-32 passes: these reach the unpickler.
    @Test(arguments: ["state_dict", "checkpoint"])
    func bitFlipsInThePickleBehindAValidCRC(_ name: String) throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(name + ".pt")))
        let zip = try ZipReader(original, maxEntries: 100)
        let members = try zip.entries.map { StoredZip.Member(name: $0.name, data: try zip.contents(of: $0, cap: 1 << 20)) }
        guard let pickleIndex = members.firstIndex(where: { $0.name.hasSuffix("/data.pkl") }) else {
            Issue.record("no data.pkl in \(name)")
            return
        }
        var random = Generator(state: 0xF1195)
        var loaded = 0, refused = 0
        for _ in 0..<800 {
            var mutated = members
            var pickle = mutated[pickleIndex].data
            for _ in 0...random.next(below: 2) {
                let index = pickle.startIndex + random.next(below: pickle.count)
                pickle[index] ^= UInt8(1) << UInt8(random.next(below: 8))
            }
            mutated[pickleIndex].data = pickle
            if Self.load(StoredZip(modified: Date(timeIntervalSince1970: 0)).archive(mutated)) { loaded += 1 } else { refused += 1 }
        }
        #expect(loaded > 0 && refused > 0, "loaded \(loaded), refused \(refused)")
    }
}

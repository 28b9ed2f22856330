import Foundation
import HDF5Support
import MLPModelFiles
import Testing

/// The per-tensor CRC-32C of JSON model files, seen from the command line.
struct JSONChecksumCLITests {
    /// The sample model as JSON, with the first digit of the hidden kernel's data changed to another digit: still a
    /// valid document, with one different value.
    private func corruptedModel(_ scratch: Scratch) throws -> String {
        let (path, _) = try sampleModelFile(scratch, name: "model.json", format: .json)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let kernel = try #require(position(after: #""kernel": {"#, in: bytes, from: 0))
        let data = try #require(position(after: #""data": ["#, in: bytes, from: kernel))
        let digit = try #require(bytes[data...].firstIndex { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        bytes[digit] = bytes[digit] == UInt8(ascii: "9") ? UInt8(ascii: "8") : bytes[digit] + 1
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The index just past the first `text` in `bytes` at or after `start`.
    private func position(after text: String, in bytes: [UInt8], from start: Int) -> Int? {
        let pattern = Array(text.utf8)
        return (start...(bytes.count - pattern.count)).first { bytes[$0..<($0 + pattern.count)].elementsEqual(pattern) }
            .map { $0 + pattern.count }
    }

    @Test func inspectOfAChangedJSONModelFailsNamingTheTensor() throws {
        let scratch = try Scratch()
        let path = try corruptedModel(scratch)
        let result = try mlpconv(["inspect", path])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("mlpconv: \(path): $.weights.hidden.kernel: checksum mismatch (stored crc32c 0x"),
                "\(result.stderr)")
        #expect(result.stderr.hasSuffix("): the values differ from those written (the file is corrupt, or was edited by "
                                        + "hand: an edited tensor should drop its \"crc32c\" field)\n"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stdout.isEmpty)
    }

    /// The checksum is over the values' little-endian bytes in the stored dtype, as the native HDF5 layout's
    /// `@crc32c`: the same model as .json and .h5 carries the same numbers.
    @Test func aJSONModelAndItsHDF5ConversionCarryTheSameChecksums() throws {
        let scratch = try Scratch()
        let (json, _) = try sampleModelFile(scratch, name: "model.json", format: .json)
        let h5 = scratch.path("model.h5")
        #expect(try mlpconv(["convert", json, h5]).status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json)))
            as? [String: Any])
        let weights = try #require(object["weights"] as? [String: [String: [String: Any]]])
        let file = try HDF5File.openReadOnly(at: h5)
        var compared = 0
        for (layer, tensors) in weights {
            for (name, tensor) in tensors {
                let stored = try #require(tensor["crc32c"] as? String, "\(layer)/\(name)")
                let attribute = try file.openDataset("/weights/\(layer)/\(name)").attribute("crc32c")
                #expect(attribute == .int64(Int64(stored, radix: 16) ?? -1), "\(layer)/\(name)")
                compared += 1
            }
        }
        #expect(compared == 4)
    }
}

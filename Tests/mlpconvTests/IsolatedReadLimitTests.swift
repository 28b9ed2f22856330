import Foundation
import Testing

/// The isolated reader's memory limit (issue 15, item 5): a compressed file decodes to far more than its size, so
/// a limit sized from the file alone (it was 2 × file + 2 GiB of address space) rejected models `convert
/// --compress` wrote itself, and called that "the HDF5 library crashed (signal 6) … its metadata is corrupt".
@Suite struct IsolatedReadLimitTests {
    /// A model of 8 M zero parameters with Adam's two slots (about 96 MB decoded), compressed to about 150 kB.
    func compressedModel(_ scratch: Scratch) throws -> String {
        let plain = scratch.path("plain.h5"), compressed = scratch.path("compressed.h5")
        let made = try mlpconv(["init", plain, "--inputs", "2000", "--layer", "4000:relu", "--layer", "2:softmax",
                                "--initializer", "zeros", "--optimizer", "adam"])
        #expect(made.status == 0, "\(made.stderr)")
        let converted = try mlpconv(["convert", plain, compressed, "--compress"])
        #expect(converted.status == 0, "\(converted.stderr)")
        try FileManager.default.removeItem(atPath: plain)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: compressed)[.size] as? Int)
        #expect(size < 1_000_000, "the model should compress to well under 1 MB, got \(size) bytes")
        return compressed
    }

    @Test func aCompressedFileMuchLargerDecodedThanOnDiskLoads() throws {
        let scratch = try Scratch()
        let path = try compressedModel(scratch)
        let result = try mlpconv(["inspect", path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("8,012,002 parameters"), "\(result.stdout.prefix(300))")
    }

    /// A read stopped at its memory limit says so, with the limit, and is not called a crash or corruption. The
    /// limit is lowered through the test-only MLPCONV_READ_CHECK_MEMORY_BYTES.
    @Test func aReadOverTheMemoryLimitSaysSo() throws {
        let scratch = try Scratch()
        let path = try compressedModel(scratch)
        let result = try mlpconv(["inspect", path], environment: ["MLPCONV_READ_CHECK_MEMORY_BYTES": "50000000"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr == "mlpconv: \(path): reading it ran out of memory (limit 50.0 MB for the isolated reader); "
                + "the file declares more data than this machine can hold, or its metadata is hostile\n")
        #expect(!result.stderr.contains("crashed") && !result.stderr.contains("corrupt"))
    }
}

import FileSupport
import Foundation
import TestSupport
import Testing

@Suite("Whole-file reads that give memory back")
struct FileContentsTests {
    @Test func readsTheWholeFile() throws {
        let folder = try TemporaryFolder()
        let content = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let path = try folder.write("data.bin", content)
        let contents = try FileContents(path: path, limit: content.count)
        withExtendedLifetime(contents) { #expect(Array(contents.bytes) == content) }
        let empty = try FileContents(path: try folder.write("empty.bin", []), limit: 0)
        withExtendedLifetime(empty) { #expect(empty.bytes.isEmpty) }
    }

    @Test func refusesWhatWholeFileRefusesWithTheSameReasons() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.bin", Array(repeating: 7, count: 100))
        let error = expectError(FileFailure.self) { _ = try FileContents(path: path, limit: 99) }
        let reference = expectError(FileFailure.self) { _ = try WholeFile.read(path, limit: 99) }
        #expect(error?.reason == "file of 100 bytes exceeds the limit of 99 bytes" && error?.reason == reference?.reason)
        let missing = expectError(FileFailure.self) { _ = try FileContents(path: folder.path("missing"), limit: 99) }
        #expect(missing?.reason == "cannot open the file for reading")
    }

    /// A pipe has no size to check first: it is read to its end, growing the buffer, and refused past the limit.
    @Test func readsAPipeAndRefusesOneOverTheLimit() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("pipe")
        #expect(mkfifo(path, 0o600) == 0)
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        for limit in [content.count, content.count - 1] {
            let writer = Thread {
                guard let handle = FileHandle(forWritingAtPath: path) else { return }
                try? handle.write(contentsOf: content)
                try? handle.close()
            }
            writer.start()
            if limit == content.count {
                let contents = try FileContents(path: path, limit: limit)
                withExtendedLifetime(contents) { #expect(Array(contents.bytes) == content) }
            } else {
                let error = expectError(FileFailure.self) { _ = try FileContents(path: path, limit: limit) }
                #expect(error?.reason == "file grew past the limit of \(limit) bytes while being read")
                // Let the writer finish into a reader that drains the rest.
                _ = try? Data(contentsOf: URL(fileURLWithPath: path))
            }
            while !writer.isFinished { usleep(1000) }
        }
    }

    @Test func releasingGivesBackOnlyWholePagesInsideTheRange() throws {
        let folder = try TemporaryFolder()
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let content = [UInt8](repeating: 0xAB, count: 8 * page)
        let contents = try FileContents(path: try folder.write("data.bin", content), limit: content.count)
        let range = (page + 1)..<(5 * page + 10)
        contents.release(range)
        let (bytes, base) = withExtendedLifetime(contents) {
            (Array(contents.bytes), Int(bitPattern: contents.bytes.baseAddress))
        }
        // The pages (in memory, wherever the buffer starts) lying wholly inside the range read as zeros once
        // released; the bytes of the partial pages at its ends, and outside it, are kept.
        let start = (base + range.lowerBound + page - 1) / page * page - base
        let end = (base + range.upperBound) / page * page - base
        #expect(end - start >= 3 * page)
        #expect(bytes[..<start].allSatisfy { $0 == 0xAB })
        #expect(bytes[start..<end].allSatisfy { $0 == 0 })
        #expect(bytes[end...].allSatisfy { $0 == 0xAB })
    }
}

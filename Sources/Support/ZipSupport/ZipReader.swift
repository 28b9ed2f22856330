import Foundation
internal import CZip

/// A zip archive, for `.keras` models and `.npz` data, read from bytes in memory or from a file on demand: the
/// central directory (ZIP64 included) and each member's local header are parsed with every offset and size checked
/// against the archive's size, members are stored or DEFLATE (zlib), and decompression runs in bounded steps so the
/// caller can stop a bomb. Nothing is written anywhere. (ZIPFoundation's in-memory reader crashed on a valid ZIP64
/// archive: an untrusted file must never be able to do that.)
package struct ZipReader {
    package struct Entry {
        package var name: String
        package var method: UInt16
        package var crc: UInt32
        package var compressedSize: UInt64
        package var uncompressedSize: UInt64
        package var localHeaderOffset: UInt64
        package var isSymbolicLink: Bool
        package var isDirectory: Bool
    }

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
        /// The archive may be fine but is over a caller's limit (too many entries), rather than malformed.
        package var isOverLimit = false
        package init(_ description: String, isOverLimit: Bool = false) {
            self.description = description
            self.isOverLimit = isOverLimit
        }
    }

    private let bytes: ByteView
    package let entries: [Entry]

    /// Parses the central directory; more than `maxEntries` entries are refused before any is read.
    package init(_ data: Data, maxEntries: Int) throws(Failure) {
        try self.init(ByteView(data), maxEntries: maxEntries)
    }

    /// Parses the central directory of the archive in an open file, reading only the records: a member is read
    /// when asked for, and `read` and `extract` stream it in pieces, so a member as large as a model is never held
    /// whole. The reader keeps the handle; the file must stay as it is meanwhile (a shorter file is a failure).
    package init(file: FileHandle, maxEntries: Int) throws(Failure) {
        try self.init(ByteView(try ArchiveFile(file)), maxEntries: maxEntries)
    }

    /// The archive's size in bytes.
    package var size: UInt64 { bytes.count }

    private init(_ bytes: ByteView, maxEntries: Int) throws(Failure) {
        self.bytes = bytes
        let count = bytes.count
        // The end-of-central-directory record: 22 bytes and a comment of up to 65535 at the very end.
        guard count >= 22 else { throw Failure("too short to be a zip archive (\(count) bytes)") }
        var endOffset: UInt64?
        var position = count - 22
        let lowest = count >= 22 + 0xFFFF ? count - 22 - 0xFFFF : 0
        while true {
            if bytes.u32(position) == 0x0605_4b50, position + 22 + UInt64(bytes.u16(position + 20) ?? 0) <= count {
                endOffset = position
                break
            }
            if position == lowest { break }
            position -= 1
        }
        guard let endOffset else { throw Failure("no end-of-central-directory record: not a zip archive") }
        guard bytes.u16(endOffset + 4) == 0, bytes.u16(endOffset + 6) == 0 else {
            throw Failure("a multi-disk (split) archive")
        }
        var entryCount = UInt64(bytes.u16(endOffset + 10) ?? 0)
        var directorySize = UInt64(bytes.u32(endOffset + 12) ?? 0)
        var directoryOffset = UInt64(bytes.u32(endOffset + 16) ?? 0)
        var directoryEnd = endOffset
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64: a locator right before the record points at the ZIP64 end record.
            // (Offsets read from the file are compared by subtraction: an addition could overflow.)
            guard endOffset >= 20 + 56, bytes.u32(endOffset - 20) == 0x0706_4b50,
                  let recordOffset = bytes.u64(endOffset - 12), recordOffset <= endOffset - 20 - 56,
                  bytes.u32(recordOffset) == 0x0606_4b50,
                  let entries = bytes.u64(recordOffset + 32), let size = bytes.u64(recordOffset + 40),
                  let offset = bytes.u64(recordOffset + 48) else {
                throw Failure("the ZIP64 end-of-central-directory record is missing or corrupt")
            }
            (entryCount, directorySize, directoryOffset, directoryEnd) = (entries, size, offset, recordOffset)
        }
        guard entryCount <= UInt64(maxEntries) else {
            throw Failure("the archive has \(entryCount) entries, over the limit of \(maxEntries)", isOverLimit: true)
        }
        guard directoryOffset <= directoryEnd, directorySize <= directoryEnd - directoryOffset else {
            throw Failure("the central directory (\(directorySize) bytes at offset \(directoryOffset)) lies outside the archive")
        }
        // Each entry needs at least 46 bytes: a count the directory cannot hold is a lie.
        guard entryCount <= directorySize / 46 else {
            throw Failure("the central directory of \(directorySize) bytes cannot hold \(entryCount) entries")
        }

        var entries: [Entry] = []
        var cursor = directoryOffset
        for index in 0..<entryCount {
            guard bytes.u32(cursor) == 0x0201_4b50, let madeBy = bytes.u16(cursor + 4), let flags = bytes.u16(cursor + 8),
                  let method = bytes.u16(cursor + 10), let crc = bytes.u32(cursor + 16),
                  let compressed32 = bytes.u32(cursor + 20), let uncompressed32 = bytes.u32(cursor + 24),
                  let nameLength = bytes.u16(cursor + 28), let extraLength = bytes.u16(cursor + 30),
                  let commentLength = bytes.u16(cursor + 32), let external = bytes.u32(cursor + 38),
                  let offset32 = bytes.u32(cursor + 42) else {
                throw Failure("central directory entry \(index) is corrupt")
            }
            let nameStart = cursor + 46, extraStart = nameStart + UInt64(nameLength)
            let next = extraStart + UInt64(extraLength) + UInt64(commentLength)
            guard next <= directoryOffset + directorySize, let nameBytes = bytes.slice(nameStart, UInt64(nameLength)) else {
                throw Failure("central directory entry \(index) runs past the directory")
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            if flags & 1 != 0 { throw Failure("member \"\(name)\" is encrypted") }
            var uncompressed = UInt64(uncompressed32), compressed = UInt64(compressed32), offset = UInt64(offset32)
            if uncompressed32 == .max || compressed32 == .max || offset32 == .max {
                // The ZIP64 extra field holds, in this order, the fields whose 32-bit value is all ones.
                var extra = extraStart
                var found = false
                while extra + 4 <= extraStart + UInt64(extraLength) {
                    guard let id = bytes.u16(extra), let size = bytes.u16(extra + 2) else { break }
                    if id == 0x0001 {
                        var field = extra + 4
                        for (isSet, apply) in [(uncompressed32 == .max, { (v: UInt64) in uncompressed = v }),
                                               (compressed32 == .max, { (v: UInt64) in compressed = v }),
                                               (offset32 == .max, { (v: UInt64) in offset = v })] where isSet {
                            guard field + 8 <= extra + 4 + UInt64(size), let value = bytes.u64(field) else {
                                throw Failure("member \"\(name)\": its ZIP64 extra field is too short")
                            }
                            apply(value)
                            field += 8
                        }
                        found = true
                        break
                    }
                    extra += 4 + UInt64(size)
                }
                guard found else { throw Failure("member \"\(name)\" has 32-bit sizes at their maximum and no ZIP64 field") }
            }
            let isUnix = madeBy >> 8 == 3
            entries.append(Entry(name: name, method: method, crc: crc, compressedSize: compressed,
                                 uncompressedSize: uncompressed, localHeaderOffset: offset,
                                 isSymbolicLink: isUnix && (external >> 16) & 0o170000 == 0o120000,
                                 isDirectory: name.hasSuffix("/")))
            cursor = next
        }
        self.entries = entries
    }

    /// A member's whole content, at most `cap` bytes (else `isOverLimit`). A stored member of an archive in memory
    /// is a slice of the archive's bytes, not a copy; its CRC-32 is checked all the same.
    package func contents(of entry: Entry, cap: Int) throws(Failure) -> Data {
        try checkDeclaredSize(of: entry, cap: cap)
        if entry.method == 0, let data = bytes.memory {
            let start = try dataStart(of: entry)
            guard entry.compressedSize == entry.uncompressedSize else {
                throw Failure("stored, but declares \(entry.compressedSize) bytes stored and \(entry.uncompressedSize) "
                              + "uncompressed")
            }
            let slice = data[data.startIndex + Int(start)..<data.startIndex + Int(start + entry.compressedSize)]
            let crc = slice.withUnsafeBytes { mlp_crc32_zip(0, $0.baseAddress, $0.count) }
            guard crc == entry.crc else { throw Failure("corrupt (CRC-32 mismatch)") }
            return slice
        }
        var buffer = Data()
        buffer.reserveCapacity(Int(entry.uncompressedSize))
        try extract(entry, cap: cap) { chunk in buffer.append(contentsOf: chunk) }
        return buffer
    }

    /// Feeds a member's content to `consume` in pieces, at most `cap` bytes in all (else `isOverLimit`), with the
    /// same checks and failures as `contents`: for a member too large to hold, such as a model's weights copied to
    /// a file. `consume`'s own errors pass through.
    package func extract(_ entry: Entry, cap: Int, into consume: (UnsafeRawBufferPointer) throws -> Void) throws(Failure) {
        try checkDeclaredSize(of: entry, cap: cap)
        struct TooLarge: Error {}
        var produced = 0
        do {
            try read(entry) { chunk in
                guard chunk.count <= cap - produced else { throw TooLarge() }
                produced += chunk.count
                try consume(chunk)
            }
        } catch is TooLarge {
            throw Failure("decompresses to more than the limit of \(cap) bytes (a zip bomb?)", isOverLimit: true)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure("\(error)")
        }
    }

    private func checkDeclaredSize(of entry: Entry, cap: Int) throws(Failure) {
        guard entry.uncompressedSize <= UInt64(max(cap, 0)) else {
            throw Failure("declares \(entry.uncompressedSize) bytes uncompressed, over the limit of \(cap) bytes",
                          isOverLimit: true)
        }
    }

    /// Where a member's data starts, after its local header; checked to lie inside the archive.
    private func dataStart(of entry: Entry) throws(Failure) -> UInt64 {
        let offset = entry.localHeaderOffset
        guard bytes.u32(offset) == 0x0403_4b50, let nameLength = bytes.u16(offset + 26),
              let extraLength = bytes.u16(offset + 28) else {
            throw Failure("no local header at offset \(offset)")
        }
        let start = offset + 30 + UInt64(nameLength) + UInt64(extraLength)
        guard start <= bytes.count, entry.compressedSize <= bytes.count - start else {
            throw Failure("its \(entry.compressedSize) bytes run past the end of the archive")
        }
        return start
    }

    /// Feeds a member's decompressed bytes to `consume` in pieces of at most `chunkSize`, then checks that they
    /// are exactly the declared size and match the CRC-32. `consume` may throw to stop early (a size limit).
    /// Failures do not repeat the member's name: callers name it.
    package func read(_ entry: Entry, chunkSize: Int = 1 << 22,
              _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        let start = try dataStart(of: entry)
        var crc: UInt32 = 0
        var produced: UInt64 = 0
        func emit(_ piece: UnsafeRawBufferPointer) throws {
            // The consumer sees the piece first: its own limits (what a header inside says) explain more than
            // the declared size does. A piece is at most `chunkSize`, so that is all a lying entry gets past.
            try consume(piece)
            produced += UInt64(piece.count)
            guard produced <= entry.uncompressedSize else {
                throw Failure("decompresses to more than the \(entry.uncompressedSize) bytes it declares")
            }
            crc = mlp_crc32_zip(crc, piece.baseAddress, piece.count)
        }
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw Failure("stored, but declares \(entry.compressedSize) bytes stored and \(entry.uncompressedSize) "
                              + "uncompressed")
            }
            try bytes.forEachPiece(at: start, length: entry.compressedSize, pieceSize: chunkSize) { piece in
                if !piece.isEmpty { try emit(piece) }
                return true
            }
        case 8:
            guard let inflater = mlp_inflater_new() else { throw Failure("out of memory starting decompression") }
            defer { mlp_inflater_free(inflater) }
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
            defer { output.deallocate() }
            var finished = false
            // In memory the input is one piece; from a file, pieces of 4 MiB, each inflated until it is used up.
            try bytes.forEachPiece(at: start, length: entry.compressedSize, pieceSize: bytes.memory == nil ? 1 << 22 : .max) {
                input in
                var position = 0
                while true {
                    var consumed = 0, made = 0
                    let status = mlp_inflater_step(inflater, input.baseAddress.map { $0 + position }, input.count - position,
                                                   &consumed, output.baseAddress, output.count, &made)
                    position += consumed
                    if status < 0 { throw Failure("corrupt DEFLATE data") }
                    if made > 0 { try emit(UnsafeRawBufferPointer(rebasing: output[0..<made])) }
                    if status == 1 {
                        finished = true
                        return false
                    }
                    if consumed == 0 && made == 0 {
                        // Out of input: the next piece, if any, goes on.
                        if position == input.count { return true }
                        throw Failure("its DEFLATE data ends before the stream does")
                    }
                }
            }
            if !finished { throw Failure("its DEFLATE data ends before the stream does") }
        default:
            throw Failure("compression method \(entry.method); only stored (0) and DEFLATE (8) are read")
        }
        guard produced == entry.uncompressedSize else {
            throw Failure("decompresses to \(produced) bytes, not the \(entry.uncompressedSize) it declares")
        }
        guard crc == entry.crc else { throw Failure("corrupt (CRC-32 mismatch)") }
    }
}

/// The archive's bytes, in memory or in a file: little-endian reads that return nil past the end (or when the file
/// cannot be read there) instead of trapping.
private struct ByteView {
    private let storage: Storage
    let count: UInt64

    private enum Storage {
        case memory(Data)
        case file(ArchiveFile)
    }

    init(_ data: Data) {
        storage = .memory(data)
        count = UInt64(data.count)
    }

    init(_ file: ArchiveFile) {
        storage = .file(file)
        count = file.size
    }

    /// The bytes, when they are in memory.
    var memory: Data? {
        if case .memory(let data) = storage { data } else { nil }
    }

    private func value<T: FixedWidthInteger>(_ offset: UInt64, _: T.Type) -> T? {
        guard let bytes = slice(offset, UInt64(MemoryLayout<T>.size)) else { return nil }
        var result: T = 0
        for (index, byte) in bytes.enumerated() { result |= T(byte) << (8 * index) }
        return result
    }

    func u16(_ offset: UInt64) -> UInt16? { value(offset, UInt16.self) }
    func u32(_ offset: UInt64) -> UInt32? { value(offset, UInt32.self) }
    func u64(_ offset: UInt64) -> UInt64? { value(offset, UInt64.self) }

    func slice(_ offset: UInt64, _ length: UInt64) -> [UInt8]? {
        guard offset <= count, length <= count - offset else { return nil }
        switch storage {
        case .memory(let data):
            return [UInt8](data[data.startIndex + Int(offset)..<data.startIndex + Int(offset + length)])
        case .file(let file):
            return file.bytes(at: offset, count: Int(length))
        }
    }

    /// Passes `length` bytes from `offset` (checked to lie inside) to `body` in pieces of at most `pieceSize`, at
    /// least one (empty for no bytes), until `body` returns false. A file that has become shorter, or cannot be
    /// read, fails.
    func forEachPiece(at offset: UInt64, length: UInt64, pieceSize: Int,
                      _ body: (UnsafeRawBufferPointer) throws -> Bool) throws {
        switch storage {
        case .memory(let data):
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
                let input = UnsafeRawBufferPointer(rebasing: raw[Int(offset)..<Int(offset + length)])
                var position = 0
                repeat {
                    let end = position + min(input.count - position, pieceSize)
                    guard try body(UnsafeRawBufferPointer(rebasing: input[position..<end])) else { return }
                    position = end
                } while position < input.count
            }
        case .file(let file):
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, Int(min(length, UInt64(pieceSize)))),
                                                                alignment: 16)
            defer { buffer.deallocate() }
            var position: UInt64 = 0
            repeat {
                let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(length - position, UInt64(buffer.count)))])
                try file.read(into: piece, at: offset + position)
                guard try body(UnsafeRawBufferPointer(piece)) else { return }
                position += UInt64(piece.count)
            } while position < length
        }
    }
}

/// An archive file read with `pread`. The records are read a few bytes at a time, so small reads go through one
/// cached block.
private final class ArchiveFile {
    private let handle: FileHandle
    let size: UInt64
    private static let blockSize = 1 << 16
    private var block: [UInt8] = []
    private var blockStart: UInt64 = 0

    init(_ handle: FileHandle) throws(ZipReader.Failure) {
        self.handle = handle
        var status = stat()
        guard fstat(handle.fileDescriptor, &status) == 0 else {
            throw ZipReader.Failure("cannot examine the file: \(String(cString: strerror(errno)))")
        }
        size = UInt64(status.st_size)
    }

    /// `count` bytes at `offset` (inside the file), or nil when they cannot be read.
    func bytes(at offset: UInt64, count: Int) -> [UInt8]? {
        if offset >= blockStart, offset - blockStart + UInt64(count) <= UInt64(block.count) {
            let start = Int(offset - blockStart)
            return Array(block[start..<start + count])
        }
        if count > Self.blockSize {
            var bytes = [UInt8](repeating: 0, count: count)
            let done = bytes.withUnsafeMutableBytes { (try? read(into: $0, at: offset)) != nil }
            return done ? bytes : nil
        }
        // The block that ends at `offset + count`: records are searched for and read from the end backwards.
        let blockSize = UInt64(Self.blockSize)
        let end = min(size, max(offset + UInt64(count), blockSize))
        let start = end >= blockSize ? end - blockSize : 0
        var fresh = [UInt8](repeating: 0, count: Int(end - start))
        guard fresh.withUnsafeMutableBytes({ (try? read(into: $0, at: start)) != nil }) else { return nil }
        block = fresh
        blockStart = start
        return bytes(at: offset, count: count)
    }

    /// Fills `buffer` from `offset`.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(ZipReader.Failure) {
        var done = 0
        while done < buffer.count {
            let got = pread(handle.fileDescriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if got < 0 {
                if errno == EINTR { continue }
                throw ZipReader.Failure("cannot read the archive: \(String(cString: strerror(errno)))")
            }
            if got == 0 { throw ZipReader.Failure("the archive became shorter while being read") }
            done += got
        }
    }
}

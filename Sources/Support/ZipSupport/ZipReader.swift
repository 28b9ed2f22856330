import Foundation
internal import CZip

/// A zip archive read from bytes in memory, for `.keras` models and `.npz` data: the central directory (ZIP64
/// included) and each member's local header are parsed with every offset and size checked against the buffer,
/// members are stored or DEFLATE (zlib), and decompression runs in bounded steps so the caller can stop a bomb.
/// Nothing is written anywhere. (ZIPFoundation's in-memory reader crashed on a valid ZIP64 archive: an untrusted
/// file must never be able to do that.)
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

    package let data: Data
    package let entries: [Entry]

    /// Parses the central directory; more than `maxEntries` entries are refused before any is read.
    package init(_ data: Data, maxEntries: Int) throws(Failure) {
        self.data = data
        let bytes = ByteView(data)
        let count = UInt64(data.count)
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

    /// A member's whole content, at most `cap` bytes (else `isOverLimit`). A stored member is a slice of the
    /// archive's bytes, not a copy; its CRC-32 is checked all the same.
    package func contents(of entry: Entry, cap: Int) throws(Failure) -> Data {
        guard entry.uncompressedSize <= UInt64(cap) else {
            throw Failure("declares \(entry.uncompressedSize) bytes uncompressed, over the limit of \(cap) bytes",
                          isOverLimit: true)
        }
        if entry.method == 0 {
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
        struct TooLarge: Error {}
        var buffer = Data()
        buffer.reserveCapacity(Int(entry.uncompressedSize))
        do {
            try read(entry) { chunk in
                guard buffer.count + chunk.count <= cap else { throw TooLarge() }
                buffer.append(contentsOf: chunk)
            }
        } catch is TooLarge {
            throw Failure("decompresses to more than the limit of \(cap) bytes (a zip bomb?)", isOverLimit: true)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure("\(error)")
        }
        return buffer
    }

    /// Where a member's data starts, after its local header; checked to lie inside the archive.
    private func dataStart(of entry: Entry) throws(Failure) -> UInt64 {
        let bytes = ByteView(data)
        let offset = entry.localHeaderOffset
        guard bytes.u32(offset) == 0x0403_4b50, let nameLength = bytes.u16(offset + 26),
              let extraLength = bytes.u16(offset + 28) else {
            throw Failure("no local header at offset \(offset)")
        }
        let start = offset + 30 + UInt64(nameLength) + UInt64(extraLength)
        guard start <= UInt64(data.count), entry.compressedSize <= UInt64(data.count) - start else {
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
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
            let input = UnsafeRawBufferPointer(rebasing: raw[Int(start)..<Int(start + entry.compressedSize)])
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
                var position = 0
                while position < input.count {
                    let end = min(input.count, position + chunkSize)
                    try emit(UnsafeRawBufferPointer(rebasing: input[position..<end]))
                    position = end
                }
            case 8:
                guard let inflater = mlp_inflater_new() else { throw Failure("out of memory starting decompression") }
                defer { mlp_inflater_free(inflater) }
                let output = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
                defer { output.deallocate() }
                var position = 0
                while true {
                    var consumed = 0, made = 0
                    let status = mlp_inflater_step(inflater, input.baseAddress.map { $0 + position }, input.count - position,
                                                   &consumed, output.baseAddress, output.count, &made)
                    position += consumed
                    if status < 0 { throw Failure("corrupt DEFLATE data") }
                    if made > 0 { try emit(UnsafeRawBufferPointer(rebasing: output[0..<made])) }
                    if status == 1 { break }
                    if consumed == 0 && made == 0 {
                        throw Failure("its DEFLATE data ends before the stream does")
                    }
                }
            default:
                throw Failure("compression method \(entry.method); only stored (0) and DEFLATE (8) are read")
            }
        }
        guard produced == entry.uncompressedSize else {
            throw Failure("decompresses to \(produced) bytes, not the \(entry.uncompressedSize) it declares")
        }
        guard crc == entry.crc else { throw Failure("corrupt (CRC-32 mismatch)") }
    }
}

/// Little-endian reads that return nil past the end instead of trapping.
private struct ByteView {
    let data: Data
    init(_ data: Data) { self.data = data }

    private func value<T: FixedWidthInteger>(_ offset: UInt64, _: T.Type) -> T? {
        guard offset <= UInt64(data.count), UInt64(MemoryLayout<T>.size) <= UInt64(data.count) - offset else { return nil }
        var result: T = 0
        data.withUnsafeBytes { raw in
            for index in 0..<MemoryLayout<T>.size {
                result |= T(raw[Int(offset) + index]) << (8 * index)
            }
        }
        return result
    }

    func u16(_ offset: UInt64) -> UInt16? { value(offset, UInt16.self) }
    func u32(_ offset: UInt64) -> UInt32? { value(offset, UInt32.self) }
    func u64(_ offset: UInt64) -> UInt64? { value(offset, UInt64.self) }

    func slice(_ offset: UInt64, _ length: UInt64) -> [UInt8]? {
        guard offset <= UInt64(data.count), length <= UInt64(data.count) - offset else { return nil }
        return [UInt8](data[data.startIndex + Int(offset)..<data.startIndex + Int(offset + length)])
    }
}

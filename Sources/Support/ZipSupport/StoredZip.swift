import Foundation
internal import CZip

/// Writes a zip archive of stored (uncompressed) members, as Keras writes `.keras` files: either straight into one
/// buffer (`archive`) or member by member through a sink (`Writer`), so that a member as large as a model can be
/// copied in from a file instead of being held in memory. The CRC-32 is zlib's. ZIP64 records are added when a
/// size or offset needs them, as Python's zipfile does. (ZIPFoundation's in-memory archive spent most of a 300 MB
/// save on its own CRC and copies.)
package struct StoredZip {
    package struct Member {
        package var name: String
        package var data: Data

        package init(name: String, data: Data) {
            self.name = name
            self.data = data
        }
    }

    /// DOS date and time of the members.
    package var modified: Date
    /// Tests set this to write the ZIP64 records a small archive would not need.
    package var forceZip64 = false
    /// When over 1, each member's data starts at a multiple of this offset, padded by an extra field in its local
    /// header as PyTorch's writer pads it (id "FB", filled with "Z"), so a reader can map storages aligned.
    /// Between 1 and 4096.
    package var dataAlignment = 1

    package init(modified: Date, forceZip64: Bool = false, dataAlignment: Int = 1) {
        self.modified = modified
        self.forceZip64 = forceZip64
        self.dataAlignment = min(max(dataAlignment, 1), 4096)
    }

    fileprivate static let limit32 = UInt64(UInt32.max)

    package func archive(_ members: [Member]) -> Data {
        var out = Data()
        out.reserveCapacity(members.reduce(0) { $0 + $1.data.count + 2 * $1.name.utf8.count + 160 } + 100)
        var writer = Writer<Never>(self) { bytes in out.append(contentsOf: bytes) }
        for member in members {
            member.data.withUnsafeBytes { bytes in writer.add(name: member.name, bytes: bytes) }
        }
        writer.finish()
        return out
    }

    /// A member whose bytes are asked for (once) only when it is written, so a writer can produce each large member
    /// in turn and let it go, instead of holding the whole archive.
    package struct StreamedMember {
        package var name: String
        package var content: Content

        /// Either the whole member at once, or `size` bytes handed out in pieces by a producer that is run twice
        /// (once for the CRC-32 the header needs first, once to write) and must give the same bytes both times.
        package enum Content {
            case whole(() -> any ContiguousBytes)
            case pieces(size: UInt64, produce: (_ emit: (UnsafeRawBufferPointer) -> Void) -> Void)
        }

        package init(name: String, content: @escaping () -> any ContiguousBytes) {
            self.name = name
            self.content = .whole(content)
        }

        package init(name: String, content: Content) {
            self.name = name
            self.content = content
        }

        package init(name: String, size: UInt64, pieces: @escaping (_ emit: (UnsafeRawBufferPointer) -> Void) -> Void) {
            self.name = name
            self.content = .pieces(size: size, produce: pieces)
        }
    }

    /// The archive `archive` builds for the same members, handed to `sink` piece by piece in file order, each
    /// member's bytes produced only when its turn comes.
    package func write<Failure: Error>(
        _ members: [StreamedMember], to sink: (UnsafeRawBufferPointer) throws(Failure) -> Void
    ) throws(Failure) {
        // The writer keeps its sink only until `finish`, which returns before this function does.
        let result = withoutActuallyEscaping(sink) { sink in
            Result { () throws(Failure) in
                var writer = Writer<Failure>(self, sink: sink)
                for member in members {
                    switch member.content {
                    case .whole(let produce):
                        try produce().withUnsafeBytes { raw in
                            Result { () throws(Failure) in try writer.add(name: member.name, bytes: raw) }
                        }.get()
                    case .pieces(let size, let produce):
                        var crc: UInt32 = 0
                        produce { crc = StoredZip.checksum($0, continuing: crc) }
                        try writer.add(name: member.name, size: size, crc: crc) { write throws(Failure) in
                            // The first failure stops the writing; the producer's remaining pieces are ignored.
                            var failure: Failure?
                            produce { piece in
                                guard failure == nil else { return }
                                do throws(Failure) { try write(piece) } catch { failure = error }
                            }
                            if let failure { throw failure }
                        }
                    }
                }
                try writer.finish()
            }
        }
        try result.get()
    }

    /// The CRC-32 a member's header records for its data, continuing `crc` (0 to start), so a caller streaming a
    /// member in pieces can compute it before `Writer.add(name:size:crc:data:)`.
    package static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        mlp_crc32_zip(crc, bytes.baseAddress, bytes.count)
    }

    /// Writes an archive through `sink`, one member at a time; the bytes are exactly those `archive` builds for the
    /// same members. Only the central directory (about 100 bytes per member) is kept until `finish()`.
    package struct Writer<Failure: Error> {
        private let zip: StoredZip
        private let sink: (UnsafeRawBufferPointer) throws(Failure) -> Void
        private let time: UInt16, date: UInt16
        /// Bytes written so far: where the next local header goes.
        private var offset: UInt64 = 0
        private var central = Data()
        private var count: UInt64 = 0

        package init(_ zip: StoredZip, sink: @escaping (UnsafeRawBufferPointer) throws(Failure) -> Void) {
            self.zip = zip
            self.sink = sink
            (time, date) = zip.dosTimeAndDate(zip.modified)
        }

        /// Adds a member held in memory.
        package mutating func add(name: String, bytes: UnsafeRawBufferPointer) throws(Failure) {
            try add(name: name, size: UInt64(bytes.count), crc: StoredZip.checksum(bytes)) { write throws(Failure) in
                try write(bytes)
            }
        }

        /// Adds a member of `size` bytes with CRC-32 `crc`, whose data `data` writes through the closure it is
        /// given: exactly `size` bytes, which must have that CRC (the header that precedes them says so).
        package mutating func add(
            name: String, size: UInt64, crc: UInt32,
            data: (_ write: (UnsafeRawBufferPointer) throws(Failure) -> Void) throws(Failure) -> Void
        ) throws(Failure) {
            let name = Array(name.utf8)
            let offset = self.offset
            let zip64 = zip.forceZip64 || size >= StoredZip.limit32 || offset >= StoredZip.limit32
            let (time, date) = (self.time, self.date)

            // From "version needed" to the extra field's length, both headers hold the same fields.
            func appendSharedFields(to header: inout Data, extraLength: UInt16) {
                header.append(le16: zip64 ? 45 : 20)
                header.append(le16: 0)  // flags
                header.append(le16: 0)  // stored
                header.append(le16: time); header.append(le16: date)
                header.append(le32: crc)
                header.append(le32: zip64 ? UInt32.max : UInt32(size))
                header.append(le32: zip64 ? UInt32.max : UInt32(size))
                header.append(le16: UInt16(name.count))
                header.append(le16: extraLength)
            }

            // Local file header; ZIP64 sizes, then the alignment padding, in its extra field.
            let zip64Extra = zip64 ? 20 : 0
            var padding = 0
            if zip.dataAlignment > 1 {
                let unpadded = Int(offset % UInt64(zip.dataAlignment)) + 30 + name.count + zip64Extra + 4
                padding = (zip.dataAlignment - unpadded % zip.dataAlignment) % zip.dataAlignment
            }
            let localExtra = zip64Extra + (zip.dataAlignment > 1 ? 4 + padding : 0)
            var local = Data()
            local.append(le32: 0x0403_4b50)
            appendSharedFields(to: &local, extraLength: UInt16(localExtra))
            local.append(contentsOf: name)
            if zip64 {
                local.append(le16: 0x0001); local.append(le16: 16)
                local.append(le64: size); local.append(le64: size)
            }
            if zip.dataAlignment > 1 {
                local.append(le16: 0x4246); local.append(le16: UInt16(padding))  // "FB"
                local.append(contentsOf: repeatElement(UInt8(ascii: "Z"), count: padding))
            }
            try emit(local)
            try data { bytes throws(Failure) in try emit(bytes) }

            // Its central directory entry; ZIP64 sizes and offset in its extra field.
            central.append(le32: 0x0201_4b50)
            central.append(le16: (3 << 8) | (zip64 ? 45 : 20))  // made by Unix
            appendSharedFields(to: &central, extraLength: zip64 ? 28 : 0)
            central.append(le16: 0)  // comment
            central.append(le16: 0)  // disk
            central.append(le16: 0)  // internal attributes
            central.append(le32: UInt32(0o100644) << 16)  // a regular file, rw-r--r--
            central.append(le32: zip64 ? UInt32.max : UInt32(offset))
            central.append(contentsOf: name)
            if zip64 {
                central.append(le16: 0x0001); central.append(le16: 24)
                central.append(le64: size); central.append(le64: size); central.append(le64: offset)
            }
            count += 1
        }

        /// Writes the central directory and the end records.
        package mutating func finish() throws(Failure) {
            let centralOffset = offset, centralSize = UInt64(central.count), count = self.count
            var end = central
            let zip64End = zip.forceZip64 || centralOffset >= StoredZip.limit32 || centralSize >= StoredZip.limit32
                || count >= 0xFFFF
            if zip64End {
                let recordOffset = centralOffset + centralSize
                end.append(le32: 0x0606_4b50)
                end.append(le64: 44)
                end.append(le16: (3 << 8) | 45); end.append(le16: 45)
                end.append(le32: 0); end.append(le32: 0)
                end.append(le64: count); end.append(le64: count)
                end.append(le64: centralSize); end.append(le64: centralOffset)
                end.append(le32: 0x0706_4b50)
                end.append(le32: 0); end.append(le64: recordOffset); end.append(le32: 1)
            }
            end.append(le32: 0x0605_4b50)
            end.append(le16: 0); end.append(le16: 0)
            end.append(le16: zip64End ? 0xFFFF : UInt16(count)); end.append(le16: zip64End ? 0xFFFF : UInt16(count))
            end.append(le32: zip64End ? UInt32.max : UInt32(centralSize))
            end.append(le32: zip64End ? UInt32.max : UInt32(centralOffset))
            end.append(le16: 0)
            try emit(end)
        }

        private mutating func emit(_ bytes: Data) throws(Failure) {
            let result = bytes.withUnsafeBytes { raw in Result { () throws(Failure) in try sink(raw) } }
            try result.get()
            offset += UInt64(bytes.count)
        }

        private mutating func emit(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
            try sink(bytes)
            offset += UInt64(bytes.count)
        }
    }

    /// MS-DOS time (2-second resolution) and date of `date` in UTC; 1980 is the earliest the format holds.
    private func dosTimeAndDate(_ date: Date) -> (UInt16, UInt16) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year = max((c.year ?? 1980) - 1980, 0)
        let time = UInt16((c.hour ?? 0) << 11 | (c.minute ?? 0) << 5 | (c.second ?? 0) / 2)
        let day = UInt16(min(year, 127) << 9 | (c.month ?? 1) << 5 | (c.day ?? 1))
        return (time, day)
    }
}

private extension Data {
    mutating func append(le16 value: UInt16) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func append(le32 value: UInt32) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func append(le64 value: UInt64) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file read whole into memory of its own, whose consumed parts the reader can hand back to the system
/// (`release`), so that decoding a large text into tensors does not keep the text and the tensors resident at once.
///
/// `init(path:limit:)` reads with read(2) rather than mapping the file: a mapping of a file that another process
/// truncates meanwhile faults (SIGBUS, which kills the process) on the first access past the new end, and one that is
/// rewritten meanwhile shows different bytes to a validating pass and a later decoding pass. Those bytes are read
/// once and stay as read, but a validating pass over them makes every page resident at once. `init(mapping:limit:)`
/// takes that risk for files far larger than what is decoded from them (numbers as decimal text): the pages of a
/// read-only mapping that are released are read from the file again when touched, so each pass can give back what
/// it has passed.
package final class FileContents {
    /// The file's bytes, valid only as long as this object lives: whoever keeps them must keep it too (an owner
    /// reference, `withExtendedLifetime`). Released ranges read as zeros, or, mapped, as the file's bytes again.
    package let bytes: UnsafeRawBufferPointer
    private let storage: UnsafeMutableRawBufferPointer
    /// Whether `storage` is a mapping of the file (unmapped, not deallocated, at the end).
    package let isMapped: Bool

    /// Maps `path` read-only when it is a non-empty regular file within `limit`; reads it as `init(path:limit:)`
    /// does otherwise (a pipe, an empty file). The reasons are `init(path:limit:)`'s.
    package init(mapping path: String, limit: Int) throws(FileFailure) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileFailure("cannot open the file for reading") }
        defer { close(descriptor) }
        var info = stat()
        let size = fstat(descriptor, &info) == 0 && info.st_mode & S_IFMT == S_IFREG ? Int(info.st_size) : 0
        guard size <= limit else {
            throw FileFailure("file of \(size) bytes exceeds the limit of \(limit) bytes")
        }
        guard size > 0, let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            (storage, bytes) = try Self.readWhole(path: path, limit: limit)
            isMapped = false
            return
        }
        storage = UnsafeMutableRawBufferPointer(start: base, count: size)
        bytes = UnsafeRawBufferPointer(storage)
        isMapped = true
    }

    /// Reads `path` whole. A regular file's size is checked against `limit` before anything is read; the bytes
    /// actually read (a pipe, a file that grew meanwhile) are checked as they come. The reasons are `WholeFile`'s.
    package init(path: String, limit: Int) throws(FileFailure) {
        (storage, bytes) = try Self.readWhole(path: path, limit: limit)
        isMapped = false
    }

    /// The allocation holding the file's bytes, and the bytes.
    private static func readWhole(path: String, limit: Int) throws(FileFailure)
        -> (UnsafeMutableRawBufferPointer, UnsafeRawBufferPointer) {
        let size = FileStatus.size(of: path) ?? 0
        guard size <= limit else {
            throw FileFailure("file of \(size) bytes exceeds the limit of \(limit) bytes")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileFailure("cannot open the file for reading") }
        defer { close(descriptor) }
        let ceiling = limit == .max ? limit : limit + 1
        // One byte more than the size, so that the read that finds the end is not mistaken for a full buffer.
        // From the allocator rather than a mapping of its own: small buffers then reuse memory already faulted in
        // (a fresh mapping costs a zeroed page per 4 KiB on every read); large ones are mappings anyway.
        var storage = UnsafeMutableRawBufferPointer.allocate(byteCount: min(size == .max ? size : size + 1, ceiling),
                                                             alignment: 64)
        var count = 0
        while true {
            if count == storage.count {
                // The file is longer than its size said (or has none): room for more, within the limit.
                let (doubled, overflow) = storage.count.multipliedReportingOverflow(by: 2)
                let grown = UnsafeMutableRawBufferPointer.allocate(
                    byteCount: min(overflow ? .max : max(doubled, 1 << 16), ceiling), alignment: 64)
                grown.copyMemory(from: UnsafeRawBufferPointer(storage))
                storage.deallocate()
                storage = grown
            }
            let got = read(descriptor, storage.baseAddress! + count, storage.count - count)
            if got < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                storage.deallocate()
                throw FileFailure("cannot read the file: \(reason)")
            }
            if got == 0 { break }
            count += got
            guard count <= limit else {
                storage.deallocate()
                throw FileFailure("file grew past the limit of \(limit) bytes while being read")
            }
        }
        return (storage, UnsafeRawBufferPointer(rebasing: storage[..<count]))
    }

    deinit {
        if isMapped {
            munmap(storage.baseAddress, storage.count)
        } else {
            storage.deallocate()
        }
    }

    /// Gives the whole pages inside `range` back to the system: the caller is done with those bytes, which read as
    /// zeros afterwards (mapped: as the file's bytes, read again).
    package func release(_ range: Range<Int>) {
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0, let base = storage.baseAddress else { return }
        let lower = max(range.lowerBound, 0), upper = min(range.upperBound, bytes.count)
        guard lower < upper else { return }
        let first = UInt(bitPattern: base + lower), last = UInt(bitPattern: base + upper)
        let start = (first + page - 1) / page * page, end = last / page * page
        guard end > start, let address = UnsafeMutableRawPointer(bitPattern: start) else { return }
        madvise(address, Int(end - start), MADV_DONTNEED)
    }
}

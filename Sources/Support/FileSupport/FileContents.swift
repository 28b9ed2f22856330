#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file read whole into memory of its own, whose consumed parts the reader can hand back to the system
/// (`release`), so that decoding a large text into tensors does not keep the text and the tensors resident at once.
///
/// Read with read(2) rather than mapped from the file: a mapping of a file that another process truncates meanwhile
/// faults (SIGBUS, which kills the process) on the first access past the new end, and one that is rewritten
/// meanwhile shows different bytes to a validating pass and a later decoding pass. These bytes are read once and
/// stay as read.
package final class FileContents {
    /// The file's bytes, valid only as long as this object lives: whoever keeps them must keep it too (an owner
    /// reference, `withExtendedLifetime`). Released ranges read as zeros.
    package let bytes: UnsafeRawBufferPointer
    private let storage: UnsafeMutableRawBufferPointer

    /// Reads `path` whole. A regular file's size is checked against `limit` before anything is read; the bytes
    /// actually read (a pipe, a file that grew meanwhile) are checked as they come. The reasons are `WholeFile`'s.
    package init(path: String, limit: Int) throws(FileFailure) {
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
        self.storage = storage
        bytes = UnsafeRawBufferPointer(rebasing: storage[..<count])
    }

    deinit {
        storage.deallocate()
    }

    /// Gives the whole pages inside `range` back to the system: the caller is done with those bytes, which read as
    /// zeros afterwards.
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

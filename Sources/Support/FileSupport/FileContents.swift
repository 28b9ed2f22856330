#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file read whole into memory of its own (an anonymous mapping rather than the heap), whose consumed parts the
/// reader hands back to the system (`release`), so that decoding a large text into tensors does not keep the text
/// and the tensors resident at once.
///
/// Read with read(2) rather than mapped from the file: a mapping of a file that another process truncates meanwhile
/// faults (SIGBUS, which kills the process) on the first access past the new end, and one that is rewritten
/// meanwhile shows different bytes to a validating pass and a later decoding pass. These bytes are read once and
/// stay as read.
package final class FileContents {
    /// The file's bytes, valid only as long as this object lives: whoever keeps them must keep it too (an owner
    /// reference, `withExtendedLifetime`). Released ranges read as zeros.
    package let bytes: UnsafeRawBufferPointer
    private let mapping: UnsafeMutableRawBufferPointer

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
        var mapping = try Self.allocate(byteCount: min(size == .max ? size : size + 1, ceiling))
        var count = 0
        while true {
            if count == mapping.count {
                // The file is longer than its size said (or has none): room for more, within the limit.
                let (doubled, overflow) = mapping.count.multipliedReportingOverflow(by: 2)
                let grown: UnsafeMutableRawBufferPointer
                do throws(FileFailure) {
                    grown = try Self.allocate(byteCount: min(overflow ? .max : max(doubled, 1 << 16), ceiling))
                } catch {
                    Self.deallocate(mapping)
                    throw error
                }
                grown.copyMemory(from: UnsafeRawBufferPointer(mapping))
                Self.deallocate(mapping)
                mapping = grown
            }
            let got = read(descriptor, mapping.baseAddress! + count, mapping.count - count)
            if got < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                Self.deallocate(mapping)
                throw FileFailure("cannot read the file: \(reason)")
            }
            if got == 0 { break }
            count += got
            guard count <= limit else {
                Self.deallocate(mapping)
                throw FileFailure("file grew past the limit of \(limit) bytes while being read")
            }
        }
        self.mapping = mapping
        bytes = UnsafeRawBufferPointer(rebasing: mapping[..<count])
    }

    deinit {
        Self.deallocate(mapping)
    }

    /// Gives the whole pages inside `range` back to the system: the caller is done with those bytes, which read as
    /// zeros afterwards.
    package func release(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let lower = max(range.lowerBound, 0), upper = min(range.upperBound, bytes.count)
        let start = (lower + page - 1) / page * page, end = upper / page * page
        guard end > start, let base = mapping.baseAddress else { return }
        madvise(base + start, end - start, MADV_DONTNEED)
    }

    private static func allocate(byteCount: Int) throws(FileFailure) -> UnsafeMutableRawBufferPointer {
        let address = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else {
            throw FileFailure("cannot allocate \(byteCount) bytes to read the file: \(String(cString: strerror(errno)))")
        }
        return UnsafeMutableRawBufferPointer(start: address, count: byteCount)
    }

    private static func deallocate(_ mapping: UnsafeMutableRawBufferPointer) {
        if let base = mapping.baseAddress { munmap(base, mapping.count) }
    }
}

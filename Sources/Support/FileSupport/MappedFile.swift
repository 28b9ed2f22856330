#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A file's bytes as `Data` mapped read-only from the file rather than read into memory, for readers whose
/// parsers need the whole file addressable (a zip's central directory points anywhere in it): a page costs memory
/// only once it is touched, and `releasePages` gives it back after use, so a reader that copies one member at a
/// time into its own arrays holds about one member of the file, not all of it, next to what it builds.
package enum MappedFile {
    /// The bytes of `path`, refused over `limit` before anything is read. Something that is not a regular file
    /// (a pipe) cannot be mapped and is read whole instead (`WholeFile`).
    package static func data(path: String, limit: Int) throws(FileFailure) -> (data: Data, isMapped: Bool) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileFailure("cannot open the file for reading") }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            return (try WholeFile.read(path, limit: limit), false)
        }
        let size = Int(info.st_size)
        guard size <= limit else {
            throw FileFailure("file of \(size) bytes exceeds the limit of \(limit) bytes")
        }
        guard size > 0 else { return (Data(), false) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw FileFailure("cannot map the file: \(AtomicFile.errnoText())")
        }
        return (Data(bytesNoCopy: base, count: size, deallocator: .custom { pointer, count in munmap(pointer, count) }), true)
    }

    /// Gives back the memory of the whole pages inside `range` of `data`, which must come from `data(path:limit:)`
    /// with `isMapped`: they are read from the file again if used again (never lost: the mapping is read-only).
    package static func releasePages(_ range: Range<Int>, of data: Data) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, range.lowerBound >= 0, range.upperBound <= raw.count, page > 0 else { return }
            let address = Int(bitPattern: base)
            let start = (address + range.lowerBound + page - 1) / page * page
            let end = (address + range.upperBound) / page * page
            guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
            madvise(pointer, end - start, MADV_DONTNEED)
        }
    }
}

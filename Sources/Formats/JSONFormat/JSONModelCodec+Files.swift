import FileSupport
import FormatSupport
import JSONSupport
import MLPDocument

/// JSON model files on disk. Neither direction holds the whole text next to the model: the writer streams through
/// one buffer (`StreamingFile`), and the reader maps a large file and gives back the pages of text each pass has
/// gone past (`FileContents.release`).
extension JSONModelCodec {
    /// Writes exactly the bytes `encode` returns to `path` (an `AtomicFile.replace` temporary file) without
    /// building them in memory; `file` names the destination in errors. `bufferSize` is the file buffer's.
    package static func write(
        _ document: ModelDocument, tensors: JSONTensorEncoding, toPath path: String, file: String,
        bufferSize: Int = 1 << 20
    ) throws(ModelFileError) {
        do throws(FileFailure) {
            let output = try StreamingFile(path: path, bufferSize: bufferSize)
            let sink = FileSink(output)
            var writer = JSONWriter(style: .pretty, streamingTo: sink)
            write(document, tensors: tensors, to: &writer)
            writer.finishStream()
            if let failure = sink.failure { throw failure }
            try output.finish()
        } catch {
            throw modelFileFailure(file)(error)
        }
    }

    /// Reads and decodes the JSON model file at `path`. The parser works on the text as read (no copy). A regular
    /// file of `releaseThreshold` bytes or more is mapped rather than read: the value count, the audit and the
    /// decoding of each tensor give back the text they have gone past (numbers as decimal text take about three
    /// times the tensors' bytes), so the peak is about the tensors plus a window of text. Each tensor's text is also
    /// released once the tensor is decoded.
    /// `releaseStride`: how much text each pass reads between two releases.
    package static func read(path: String, limits: LoadLimits, releaseThreshold: Int = 32 << 20,
                             releaseStride: Int = 16 << 20) throws(ModelFileError) -> ModelDocument {
        let contents: FileContents
        do {
            let size = FileStatus.size(of: path) ?? 0
            contents = size >= releaseThreshold ? try FileContents(mapping: path, limit: limits.maxFileBytes)
                                                : try FileContents(path: path, limit: limits.maxFileBytes)
        } catch {
            throw ModelFileError(file: path, reason: error.reason)
        }
        // A smaller file keeps its pages: the allocator reuses them for the next read, whereas released pages would be
        // faulted in (and zeroed) again. Only a mapping's pages can be released before the last pass over them.
        let release = contents.bytes.count >= releaseThreshold ? contents.release : nil
        let releasePassed = contents.isMapped ? contents.release : nil
        return try decode(file: path, limits: limits, releasingText: release) { () throws(JSONError) in
            try JSONDocument.parse(borrowing: contents.bytes, owner: contents, file: path, limits: jsonLimits(for: limits),
                                   releasing: releasePassed, releaseStride: releaseStride)
        }
    }
}

/// A `StreamingFile` as a JSON writer's sink. The first failure is kept and later pieces are dropped; the codec
/// reports the failure once the document has been written.
private final class FileSink: JSONTextSink {
    private let file: StreamingFile
    private(set) var failure: FileFailure?

    init(_ file: StreamingFile) {
        self.file = file
    }

    var fillCapacity: Int { file.bufferSize }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        do { try file.write(bytes) } catch { failure = error }
    }

    func fill(upTo capacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        guard failure == nil else { return }
        do { try file.fill(upTo: capacity, body) } catch { failure = error }
    }
}

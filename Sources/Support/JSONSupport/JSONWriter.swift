/// Appends JSON text to a byte buffer: no intermediate tree, no per-number objects.
///
/// Numbers are written in the shortest form that reads back to the same value in their own type (the standard
/// library's shortest round-trip digits), so float32 `0.1` is `0.1`, not `0.10000000149011612`. Non-finite
/// numbers have no JSON form; callers decide how to represent them before calling.
///
/// `.compact` writes no whitespace (text embedded in HDF5 attributes). `.pretty` puts each member of an object
/// or array on its own indented line, except inside containers begun with `inline: true`, which stay on one
/// line (`{"name": "dense", "units": 16}`), so a model file reads and diffs line by line.
///
/// A writer made with `streamingTo:` hands its text to a sink as it goes (a file), so a document of any size
/// costs a small buffer: the structure collects in `bytes` until the next bulk value (or 64 KiB), and bulk
/// values (`numberArray`, `base64String`) are encoded straight into the sink's buffer, in pieces.
package struct JSONWriter {
    package enum Style: Sendable {
        case compact, pretty
    }

    package let style: Style
    /// The text so far; when streaming, only what has not gone to the sink yet.
    package private(set) var bytes: [UInt8] = []
    private let sink: (any JSONTextSink)?
    /// One entry per open container, after one for the top level.
    private var levels: [Level]

    private struct Level {
        var hasMembers = false
        /// A key was written; its value comes next, without a separator.
        var afterKey = false
        /// Members on lines of their own.
        var multiline: Bool
    }

    package init(style: Style = .compact, reservingCapacity capacity: Int = 4096) {
        self.style = style
        levels = [Level(multiline: style == .pretty)]
        sink = nil
        bytes.reserveCapacity(capacity)
    }

    /// A writer that sends its text to `sink` as it goes; end with `finishStream()`.
    package init(style: Style = .compact, streamingTo sink: any JSONTextSink) {
        self.style = style
        levels = [Level(multiline: style == .pretty)]
        self.sink = sink
        bytes.reserveCapacity(Self.drainThreshold + 4096)
    }

    /// How much structure a streaming writer collects before handing it to the sink.
    private static let drainThreshold = 1 << 16

    package mutating func beginObject(inline: Bool = false) { open(UInt8(ascii: "{"), inline: inline) }
    package mutating func endObject() { close(UInt8(ascii: "}")) }
    package mutating func beginArray(inline: Bool = false) { open(UInt8(ascii: "["), inline: inline) }
    package mutating func endArray() { close(UInt8(ascii: "]")) }

    /// An object member's key; the next value written is its value.
    package mutating func key(_ key: String) {
        beginValue()
        appendQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        if style == .pretty { bytes.append(UInt8(ascii: " ")) }
        levels[levels.count - 1].afterKey = true
    }

    package mutating func string(_ text: String) { beginValue(); appendQuoted(text) }
    package mutating func bool(_ flag: Bool) { beginValue(); append(flag ? "true" : "false") }
    package mutating func null() { beginValue(); append("null") }
    package mutating func integer<I: BinaryInteger>(_ number: I) { beginValue(); append(String(number)) }

    /// A finite double in shortest round-trip form. A non-finite one is a caller's error that no input can cause:
    /// the model writers run only on documents `ModelFiles.save` has validated (docs/robustness.md, "Values from
    /// flags and files"), and parsed JSON holds only finite numbers.
    package mutating func number(_ number: Double) {
        precondition(number.isFinite, "JSON has no literal for \(number)")
        beginValue()
        append(number.description)
    }

    /// A finite float in shortest round-trip form for float32.
    package mutating func number(_ number: Float) {
        precondition(number.isFinite, "JSON has no literal for \(number)")
        beginValue()
        append(number.description)
    }

    /// Pre-rendered JSON (a nested document another writer produced).
    package mutating func raw(_ json: [UInt8]) { beginValue(); bytes.append(contentsOf: json) }

    /// `[v0,v1,…]` in shortest round-trip form, without spaces in either style (these arrays are the bulk of a
    /// file). Returns false and writes nothing when a value is NaN or infinite, which JSON cannot express.
    package mutating func numberArray<T: BinaryFloatingPoint & TextOutputStreamable>(_ values: UnsafeBufferPointer<T>) -> Bool {
        // Checked first, so that nothing has been written (or streamed) when the answer is no.
        for value in values where !value.isFinite { return false }
        beginValue()
        bytes.append(UInt8(ascii: "["))
        drainBeforeBulk()
        // In chunks, each formatted straight into room sized for its longest text: the standard library formats a
        // Float or Double into at most 32 bytes, plus the comma.
        let maxLiteral = 32
        let chunk = max(1, min(1 << 14, bulkCapacity / (maxLiteral + 1)))
        var start = 0
        while start < values.count {
            let end = min(start + chunk, values.count)
            emit(upTo: (end - start) * (maxLiteral + 1)) { buffer in
                guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
                var sink = ASCIISink(cursor: base)
                for index in start..<end {
                    if index > 0 { sink.put(UInt8(ascii: ",")) }
                    values[index].write(to: &sink)
                }
                return sink.cursor - base
            }
            start = end
        }
        bytes.append(UInt8(ascii: "]"))
        return true
    }

    /// A string holding the standard base64 (RFC 4648 §4, padded) of `raw`.
    package mutating func base64String(_ raw: UnsafeRawBufferPointer) {
        beginValue()
        bytes.append(UInt8(ascii: "\""))
        drainBeforeBulk()
        // In pieces of whole 3-byte groups, so that only the last one can end in padding.
        let piece = max(3, bulkCapacity / 4 * 3)
        var start = 0
        while start < raw.count {
            let end = min(start + piece, raw.count)
            emit(upTo: Base64.encodedCount(end - start)) { buffer in
                Base64.encode(UnsafeRawBufferPointer(rebasing: raw[start..<end]), into: buffer.bindMemory(to: UInt8.self))
            }
            start = end
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The text, ending with a newline in the pretty style (a text file's last line ends with one).
    package mutating func finish() -> [UInt8] {
        if style == .pretty { bytes.append(0x0A) }
        return bytes
    }

    /// Ends a streaming writer's text (with a newline in the pretty style) and hands the rest to the sink.
    package mutating func finishStream() {
        if style == .pretty { bytes.append(0x0A) }
        drain()
    }

    /// The most a bulk value writes in one piece: what the sink takes at once, or 1 MiB in memory.
    private var bulkCapacity: Int { sink?.fillCapacity ?? 1 << 20 }

    /// Lets `body` write up to `capacity` bytes (≤ `bulkCapacity`) of a bulk value and return how many it wrote:
    /// straight into the sink's buffer when streaming, onto `bytes` otherwise.
    private mutating func emit(upTo capacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        if let sink {
            sink.fill(upTo: capacity, body)
        } else {
            bytes += [UInt8](unsafeUninitializedCapacity: capacity) { buffer, written in
                written = body(UnsafeMutableRawBufferPointer(buffer))
            }
        }
    }

    /// Bulk values go straight to the sink, after the structure before them.
    private mutating func drainBeforeBulk() {
        if sink != nil { drain() }
    }

    private mutating func drain() {
        guard let sink, !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { sink.write($0) }
        bytes.removeAll(keepingCapacity: true)
    }

    private mutating func open(_ bracket: UInt8, inline: Bool) {
        let multiline = levels[levels.count - 1].multiline && !inline
        beginValue()
        bytes.append(bracket)
        levels.append(Level(multiline: multiline))
    }

    private mutating func close(_ bracket: UInt8) {
        let level = levels.removeLast()
        if level.multiline && level.hasMembers { newline() }
        bytes.append(bracket)
    }

    /// The separator and line break before a value or key.
    private mutating func beginValue() {
        if sink != nil && bytes.count >= Self.drainThreshold { drain() }
        let last = levels.count - 1
        if levels[last].afterKey {
            levels[last].afterKey = false
            return
        }
        if levels[last].hasMembers {
            bytes.append(UInt8(ascii: ","))
            if style == .pretty && !levels[last].multiline { bytes.append(UInt8(ascii: " ")) }
        }
        levels[last].hasMembers = true
        // The top level holds one value and no line break.
        if levels[last].multiline && last > 0 { newline() }
    }

    /// A line break indented to the current depth.
    private mutating func newline() {
        bytes.append(0x0A)
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * (levels.count - 1)))
    }

    private mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        Self.appendEscaped(text.utf8, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// The inside of a string literal for `text`: `"`, `\` and control characters escaped, the rest as it is.
    /// `JSONPath` quotes keys in messages the same way.
    static func appendEscaped(_ text: some Sequence<UInt8>, to bytes: inout [UInt8]) {
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""): bytes += "\\\"".utf8
            case UInt8(ascii: "\\"): bytes += "\\\\".utf8
            case 0x0A: bytes += "\\n".utf8
            case 0x0D: bytes += "\\r".utf8
            case 0x09: bytes += "\\t".utf8
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                bytes += "\\u00".utf8
                bytes += [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: bytes.append(byte)
            }
        }
    }
}

/// Receives a number's digits from the standard library straight into a buffer the caller has sized.
///
/// `Float.write(to:)` formats into a stack buffer and hands it to `_writeASCII`, the stream hook for ASCII text,
/// so no String is made per number (about 25% faster than `description`, measured). Should a future standard
/// library call `write(_:)` instead, the same characters arrive there.
private struct ASCIISink: TextOutputStream {
    var cursor: UnsafeMutablePointer<UInt8>

    mutating func put(_ byte: UInt8) {
        cursor.pointee = byte
        cursor += 1
    }

    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let base = buffer.baseAddress else { return }
        cursor.update(from: base, count: buffer.count)
        cursor += buffer.count
    }

    mutating func write(_ string: String) {
        for byte in string.utf8 { put(byte) }
    }
}

/// Where a streaming `JSONWriter` sends its text, in order (a file). Errors are the sink's to keep: the writer's
/// calls do not fail, and the owner of the sink reports its failure once the document is written.
package protocol JSONTextSink: AnyObject {
    /// The most `fill` takes at once.
    var fillCapacity: Int { get }
    /// Takes the next `bytes`, which are valid only during the call.
    func write(_ bytes: UnsafeRawBufferPointer)
    /// Lets `body` write up to `capacity` (at most `fillCapacity`) bytes straight into the sink's buffer; `body`
    /// returns how many it wrote.
    func fill(upTo capacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int)
}

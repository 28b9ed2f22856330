internal import CJSONC
import Foundation

// A hardened front end to json-c, private to the codecs.
//
// json-c 0.16 does the tokenising and builds the tree, with a small nesting limit and
// JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8. Even then it lets through (measured, see
// docs/robustness.md and the tests): NaN / Infinity / -Infinity literals, numbers that overflow to inf or
// underflow to zero, integers beyond Int64 (saturated, errno 0), duplicate keys (last one wins silently),
// "\u0000" in keys (the key is cut there), single-quoted keys ({'a': 1}), lone surrogates (replaced by U+FFFD),
// raw control characters in strings, overlong and surrogate UTF-8 byte sequences, "1." as a number, and data
// after a NUL byte.
// So once json-c has accepted a document, `JSONAudit` re-reads the same bytes — a small non-recursive scanner
// that only validates — and rejects all of those with the JSON path and byte offset. Only then does anybody
// get to see the tree.
//
// json-c spends a malloc'd object, a copy of the literal and a strtod on every number, which makes a tensor of a
// million numbers cost ~100 MB and half a second. A caller that reads such arrays only through
// `JSONValue.readNumbers` can opt in (`JSONLimits.bulkNumberArrays`): the audit then runs first, notes every long
// array of numbers only, and json-c parses a copy in which each of those is `[]`; `readNumbers` converts their
// literals straight from the text (`DecimalText`). If anything is wrong with the document, the usual order runs
// instead, so errors read the same either way.

/// A parsed, audited JSON document. Owns json-c's tree and releases it once (`json_object_put`) in `deinit`.
package final class JSONDocument {
    /// The name used in error messages.
    package let file: String
    private let tree: OpaquePointer?  // nil for a top-level `null`
    /// Where the text has the integer literal `-0`: json-c stores it as the integer 0 and drops the sign, which
    /// matters for a weight. Almost always empty.
    fileprivate(set) var negativeZeroIntegers: Set<JSONPath> = []
    /// The values read from the text rather than from json-c's tree (`JSONLimits.bulkNumberArrays`, `bulkStrings`),
    /// by path, and the text they are in: the caller's when it keeps it alive (`parse(borrowing:owner:…)`), else a
    /// copy.
    fileprivate(set) var bulkValues: [JSONPath: JSONAudit.BulkValue] = [:]
    fileprivate(set) var text = UnsafeRawBufferPointer(start: nil, count: 0)
    /// Keeps `text` alive.
    private var textOwner: AnyObject?
    /// Gives back the pages of a range of `text` a pass is done with (`parse(borrowing:owner:…releasing:)`).
    fileprivate(set) var releaseText: ((Range<Int>) -> Void)?
    /// How much text a pass reads between two calls of `releaseText`.
    fileprivate(set) var releaseStride = Int.max

    private init(file: String, tree: OpaquePointer?) {
        self.file = file
        self.tree = tree
    }

    deinit {
        if let tree { json_object_put(tree) }
    }

    /// The top-level value.
    package var root: JSONValue { JSONValue(document: self, object: tree, path: .root) }

    /// Parses `bytes` (named `file` in messages). The document keeps a copy of what it needs of them.
    package static func parse(_ bytes: UnsafeRawBufferPointer, file: String,
                      limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONDocument {
        try parse(bytes, owner: nil, file: file, limits: limits)
    }

    /// Parses `bytes`, which `owner` keeps alive and unchanged for as long as the document or a value from it is
    /// used: bulk values are then read from `bytes` themselves, and no copy of the text is made.
    ///
    /// `releasing`, when given, is called with ranges of `bytes` that a pass over the text has gone past — every
    /// `releaseStride` bytes of the value count, of the audit and of `JSONValue.readNumbers` — so that those pages
    /// can be given back; the bytes must read the same when touched again (a read-only mapping of the file).
    package static func parse(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject, file: String,
                              limits: JSONLimits = JSONLimits(), releasing: ((Range<Int>) -> Void)? = nil,
                              releaseStride: Int = 16 << 20) throws(JSONError) -> JSONDocument {
        try parse(bytes, owner: owner, file: file, limits: limits,
                  releasing: releasing.map { TextRelease(release: $0, stride: max(releaseStride, 1)) })
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, owner: AnyObject?, file: String, limits: JSONLimits,
                              releasing: TextRelease? = nil) throws(JSONError) -> JSONDocument {
        let byteCap = limits.byteCap
        guard bytes.count <= byteCap else {
            throw JSONError(kind: .tooLarge, file: file, path: JSONPath.root.description,
                            reason: "input of \(bytes.count) bytes exceeds the limit of \(byteCap) bytes")
        }
        let depth = max(1, min(limits.maxDepth, 10_000))
        if limits.maxValues < .max {
            let bound = valueCountBound(bytes, releasing: releasing)
            guard bound <= limits.maxValues else {
                throw JSONError(kind: .tooLarge, file: file, path: JSONPath.root.description,
                                reason: "about \(bound) JSON values exceed the limit of \(limits.maxValues) "
                                    + "(each costs the parser ~100 bytes of memory)")
            }
        }
        if limits.bulkNumberArrays < .max || limits.bulkStrings < .max {
            // Audit first; when the document is valid and has bulk values, json-c gets a copy with each of them
            // replaced by `[]` or `""`. Otherwise (or should json-c refuse what the audit accepted), the usual order
            // below gives the usual messages.
            var audit = JSONAudit(bytes: bytes, file: file, maxDepth: depth, bulkNumbers: limits.bulkNumberArrays,
                                  bulkStrings: limits.bulkStrings)
            audit.releasePassed = releasing.map { Unmanaged.passUnretained($0) }
            let audited = withExtendedLifetime(releasing) { (try? audit.run()) != nil }
            if audited, !audit.bulkValues.isEmpty,
               let document = try? tokenize(withoutBulkValues: audit.bulkValues, of: bytes, file: file, depth: depth) {
                document.negativeZeroIntegers = audit.negativeZeroIntegers
                document.bulkValues = audit.bulkValues
                if let owner {
                    document.text = bytes
                    document.textOwner = owner
                    document.releaseText = releasing?.release
                    document.releaseStride = releasing?.stride ?? .max
                } else {
                    let copy = TextCopy(bytes)
                    document.text = UnsafeRawBufferPointer(copy.bytes)
                    document.textOwner = copy
                }
                return document
            }
        }
        let document = try tokenize(bytes, file: file, depth: depth)
        var audit = JSONAudit(bytes: bytes, file: file, maxDepth: depth)
        try audit.run()
        document.negativeZeroIntegers = audit.negativeZeroIntegers
        return document
    }

    /// json-c's parse of `bytes` with each bulk value replaced by `[]` or `""`, so that json-c builds nothing for
    /// them.
    private static func tokenize(
        withoutBulkValues bulkValues: [JSONPath: JSONAudit.BulkValue], of bytes: UnsafeRawBufferPointer, file: String,
        depth: Int
    ) throws(JSONError) -> JSONDocument {
        let values = bulkValues.values.sorted { $0.range.lowerBound < $1.range.lowerBound }
        var compact: [UInt8] = []
        compact.reserveCapacity(bytes.count - values.reduce(0) { $0 + $1.range.count } + 2 * values.count)
        var copied = 0
        for value in values {
            compact.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[copied..<value.range.lowerBound]))
            compact.append(contentsOf: value.kind == .numbers ? [UInt8(ascii: "["), UInt8(ascii: "]")]
                                                              : [UInt8(ascii: "\""), UInt8(ascii: "\"")])
            copied = value.range.upperBound
        }
        compact.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[copied...]))
        let result = compact.withUnsafeBytes { raw in
            Result { () throws(JSONError) in try tokenize(raw, file: file, depth: depth) }
        }
        return try result.get()
    }

    /// json-c's parse of `bytes`, its errors turned into `JSONError`s with paths, and the check that nothing but
    /// whitespace follows the document.
    private static func tokenize(_ bytes: UnsafeRawBufferPointer, file: String, depth: Int) throws(JSONError) -> JSONDocument {
        // json-c counts a container's contents as one more level ([[1]] needs 3, [[]] needs 2); the audit
        // enforces `depth` containers exactly, json-c one more as the bound on its own recursion.
        guard let tokener = json_tokener_new_ex(Int32(depth + 1)) else {
            throw JSONError(kind: .io, file: file, path: "$", reason: "json-c could not allocate a tokener")
        }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, mlp_JSON_TOKENER_STRICT() | mlp_JSON_TOKENER_VALIDATE_UTF8())

        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self)
        var tree = json_tokener_parse_ex(tokener, base, Int32(bytes.count))
        var status = json_tokener_get_error(tokener)
        var consumed = json_tokener_get_parse_end(tokener)
        // A top-level number, `true`, `null`… is only complete once something follows it: json-c says
        // "continue" at the end of "123". One space ends it (and leaves real truncation as "continue").
        if status == json_tokener_continue && consumed == bytes.count {
            tree = json_tokener_parse_ex(tokener, " ", 1)
            status = json_tokener_get_error(tokener)
            consumed = bytes.count  // The whole input was consumed before the extra space.
        }
        let document = JSONDocument(file: file, tree: tree)

        switch status {
        case json_tokener_success:
            break
        case json_tokener_continue:
            throw JSONError.at(bytes.count, in: bytes, kind: .syntax, file: file,
                               path: JSONAudit.locate(bytes.count, in: bytes).path,
                               reason: bytes.isEmpty ? "empty input" : "unexpected end of input (truncated?)")
        default:
            let offset = min(consumed, bytes.count)
            let location = JSONAudit.locate(offset, in: bytes)
            let description = json_tokener_error_desc(status).map { String(cString: $0) } ?? "parse error"
            let found = offset < bytes.count ? JSONAudit.describeByte(bytes[offset]) : "end of input"
            if status == json_tokener_error_depth {
                // json-c trips at a different place than the limit means (see above); the audit stops at the
                // first container beyond `depth`, or at an earlier problem, which is then the first error anyway.
                var audit = JSONAudit(bytes: bytes, file: file, maxDepth: depth)
                try audit.run()
            }
            let (kind, reason): (JSONError.Kind, String) =
                switch status {
                case json_tokener_error_depth:
                    (.depth, "nesting deeper than \(depth) levels (json-c: \(description))")
                case json_tokener_error_parse_utf8_string:
                    (.invalidUnicode, "invalid UTF-8 (json-c: \(description)) at \(found)")
                case _ where location.afterDocument:
                    (.trailingData, "data after the end of the document: \(found) (json-c: \(description))")
                default:
                    (.syntax, "\(description) at \(found) (json-c)")
                }
            throw JSONError.at(offset, in: bytes, kind: kind, file: file, path: location.path, reason: reason)
        }

        // json-c stops at a NUL byte and reports success; anything but whitespace after the document is an error.
        var end = consumed
        while end < bytes.count, JSONAudit.isWhitespace(bytes[end]) { end += 1 }
        if end < bytes.count {
            throw JSONError.at(end, in: bytes, kind: .trailingData, file: file, path: "$",
                               reason: "data after the end of the document: " + JSONAudit.describeByte(bytes[end]))
        }
        return document
    }

    /// An upper bound on the number of values in `bytes`: every value but the first in a container follows a
    /// comma, and every container opens with a bracket (bytes inside strings only make the bound looser).
    private static func valueCountBound(
        _ bytes: UnsafeRawBufferPointer, releasing: TextRelease?
    ) -> Int {
        // 16 bytes at a time: this runs over the whole file before json-c does.
        var released = 0
        let comma = SIMD16<UInt8>(repeating: UInt8(ascii: ",")), bracket = SIMD16<UInt8>(repeating: UInt8(ascii: "["))
        let brace = SIMD16<UInt8>(repeating: UInt8(ascii: "{")), one = SIMD16<UInt8>(repeating: 1)
        var count = 1, index = 0
        while index + 16 * 255 <= bytes.count {
            // Up to 255 blocks per lane counter before it could overflow.
            var lanes = SIMD16<UInt8>()
            for _ in 0..<255 {
                let block = bytes.loadUnaligned(fromByteOffset: index, as: SIMD16<UInt8>.self)
                lanes &+= one.replacing(with: 0, where: (block .!= comma) .& (block .!= bracket) .& (block .!= brace))
                index += 16
            }
            count += lanes.indices.reduce(0) { $0 + Int(lanes[$1]) }
            if let releasing, index - released >= releasing.stride {
                releasing.release(released..<index)
                released = index
            }
        }
        for byte in bytes[index...] where byte == UInt8(ascii: ",") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
            count += 1
        }
        return count
    }

    /// Parses `bytes` (named `file` in messages).
    package static func parse(_ bytes: [UInt8], file: String,
                      limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONDocument {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONError) in try parse(raw, file: file, limits: limits) }
        }
        return try result.get()
    }

    /// Reads and parses the file at `path`, checking its size against the cap before reading it.
    package static func parse(contentsOfFile path: String, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONDocument {
        func ioError(_ reason: String) -> JSONError {
            JSONError(kind: .io, file: path, path: "$", reason: reason)
        }
        func systemError(_ what: String) -> JSONError {
            ioError("\(what): \(String(cString: strerror(errno)))")
        }
        // Open first and inspect what was opened (fstat), so the file cannot be swapped between the check and
        // the read. O_NONBLOCK keeps opening a FIFO from blocking; it changes nothing for regular files.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("cannot open file") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw systemError("cannot read file") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw ioError("not a regular file") }
        let cap = limits.byteCap
        guard status.st_size <= cap else {
            throw JSONError(kind: .tooLarge, file: path, path: "$",
                            reason: "file of \(status.st_size) bytes exceeds the limit of \(cap) bytes")
        }
        // One byte more than fstat said, to notice a file that grew in the meantime.
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size) + 1)
        var count = 0
        while count < bytes.count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[count...])
                return read(fd, rest.baseAddress, rest.count)
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw systemError("cannot read file")
            }
            if got == 0 { break }
            count += got
        }
        if count == bytes.count { throw ioError("file changed while being read") }
        bytes.removeSubrange(count...)
        return try parse(bytes, file: path, limits: limits)
    }
}

/// How a pass hands back the text behind it (`JSONDocument.parse(borrowing:owner:file:limits:releasing:releaseStride:)`):
/// `release` with each range, every `stride` bytes. A class, so that the audit's state stays a plain struct.
final class TextRelease {
    let release: (Range<Int>) -> Void
    let stride: Int
    /// Where the audit's last release ended.
    private var released = 0

    init(release: @escaping (Range<Int>) -> Void, stride: Int) {
        self.release = release
        self.stride = stride
    }

    /// The audit is at `position`: releases what lies behind it once `stride` bytes have passed.
    func passed(_ position: Int) {
        guard position - released >= stride else { return }
        release(released..<position)
        released = position
    }
}

/// A copy of a parsed text, for a document whose caller's buffer is only borrowed.
private final class TextCopy {
    let bytes: UnsafeMutableRawBufferPointer

    init(_ source: UnsafeRawBufferPointer) {
        bytes = .allocate(byteCount: source.count, alignment: 1)
        bytes.copyMemory(from: source)
    }

    deinit {
        bytes.deallocate()
    }
}

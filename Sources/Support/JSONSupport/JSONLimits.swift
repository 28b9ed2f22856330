/// Caps applied before and while parsing.
package struct JSONLimits: Sendable {
    /// Largest accepted input, checked before anything is parsed. json-c takes an `int` length, so this is
    /// also kept below 2 GiB.
    package var maxBytes: Int = 256 << 20
    /// Deepest accepted nesting of arrays and objects (`[[1]]` is 2). json-c's own default is 32; freeing a
    /// very deep document recurses, so this stays small.
    package var maxDepth: Int = 64
    /// Most JSON values (numbers, strings, containers…) accepted, checked before json-c builds its tree: json-c
    /// spends about 100 bytes on each value, so a file of 500 MB of `0,` would otherwise cost ~25 GB.
    package var maxValues: Int = .max
    /// Arrays of at least this many numbers (and nothing else) are left out of json-c's tree and read straight
    /// from the text by `JSONValue.readNumbers`, which is many times faster than json-c's object per number. Off by
    /// default: such an array then has no elements for `JSONValue.array()`.
    package var bulkNumberArrays: Int = .max
    /// Strings of at least this many bytes without escapes are likewise left out of json-c's tree (which copies
    /// them byte by byte); `string()` and `withStringBytes` read them from the text. Off by default.
    package var bulkStrings: Int = .max

    package init(maxBytes: Int = 256 << 20, maxDepth: Int = 64, maxValues: Int = .max, bulkNumberArrays: Int = .max,
                 bulkStrings: Int = .max) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxValues = maxValues
        self.bulkNumberArrays = bulkNumberArrays
        self.bulkStrings = bulkStrings
    }

    /// `maxBytes`, within what json-c can take.
    var byteCap: Int { min(maxBytes, Int(Int32.max) - 1) }
}

/// How an HDF5 file is recognised from its bytes: the superblock's 8-byte signature, at offset 0 or, after a
/// user block, at 512, 1024, 2048, … (powers of two).
package enum HDF5Signature {
    package static let bytes: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The offsets past 0 where the signature may sit, up to `limit`.
    package static func userBlockOffsets(upTo limit: Int) -> some Sequence<Int> {
        sequence(first: 512) { $0 <= limit / 2 ? $0 * 2 : nil }.lazy.filter { $0 <= limit }
    }
}

/// How a zip archive is recognised from its first bytes: a local file header, or the end record of an empty
/// archive.
package enum ZipSignature {
    package static func starts(_ head: some Collection<UInt8>) -> Bool {
        head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06])
    }
}

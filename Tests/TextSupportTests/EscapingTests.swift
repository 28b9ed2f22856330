import Testing
import TextSupport

@Suite("Escaping file content for messages")
struct EscapingTests {
    @Test func printableTextIsKept() {
        #expect(escapedForMessage(Array("weights/dense_1: ä → ∞ 🙂".utf8)) == "weights/dense_1: ä → ∞ 🙂")
    }

    @Test func controlAndFormatCharactersAreEscapedByteByByte() {
        #expect(escapedForMessage([0x61, 0x00, 0x1B, 0x5B, 0x32, 0x4A, 0x0A, 0x7F]) == "a\\x00\\x1b[2J\\x0a\\x7f")
        // C1 controls, a right-to-left override, a line separator: hidden or reordering on a terminal.
        #expect(escapedForMessage(Array("\u{85}x\u{202E}y\u{2028}".utf8)) == "\\xc2\\x85x\\xe2\\x80\\xaey\\xe2\\x80\\xa8")
    }

    @Test func bytesThatAreNotUTF8AreEscapedAndDecodingResumesAfterThem() {
        // UTF-16LE "1,": a byte-order mark, then NULs between the characters.
        #expect(escapedForMessage([0xFF, 0xFE, 0x31, 0x00, 0x2C, 0x00]) == "\\xff\\xfe1\\x00,\\x00")
        // A truncated three-byte sequence, an overlong encoding, a lone continuation byte, a surrogate.
        #expect(escapedForMessage([0xE2, 0x86, 0x41]) == "\\xe2\\x86A")
        #expect(escapedForMessage([0xC0, 0xAF, 0x80]) == "\\xc0\\xaf\\x80")
        #expect(escapedForMessage([0xED, 0xA0, 0x80]) == "\\xed\\xa0\\x80")
        #expect(escapedForMessage([0xF0, 0x9F, 0x99]) == "\\xf0\\x9f\\x99")
    }

    @Test func aMessageKeepsItsTextAndLosesItsControls() {
        #expect(escapedForMessage("file.csv: line 2: 'a\u{7}b'") == "file.csv: line 2: 'a\\x07b'")
    }
}

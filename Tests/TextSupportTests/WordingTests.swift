import Testing
import TextSupport

@Suite("Wording of messages")
struct WordingTests {
    @Test func pluralAddsAnSExceptForOne() {
        #expect(plural(0, "row") == "0 rows")
        #expect(plural(1, "row") == "1 row")
        #expect(plural(64, "input") == "64 inputs")
    }

    @Test func numbersReadAsTyped() {
        #expect(formatNumber(3) == "3")
        #expect(formatNumber(-2) == "-2")
        #expect(formatNumber(0.5) == "0.5")
        #expect(formatNumber(1e-6) == "1e-06")
        // Past 1e15 a Double no longer holds every integer: printed as a Double, not as a rounded Int64.
        #expect(formatNumber(1e300) == "1e+300")
        #expect(formatNumber(.nan) == "nan")
        #expect(formatNumber(-.infinity) == "-inf")
    }
}

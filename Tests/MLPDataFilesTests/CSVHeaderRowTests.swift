import Foundation
import MLPCore
import MLPDataFiles
import Testing
import TestSupport

/// The first CSV row: a header when it holds text and no number, data when only numbers, an error when both —
/// unless the caller says which (`CSVHeader.present`, `.absent`).
@Suite("CSV header rows")
struct CSVHeaderRowTests {
    private func rows(_ text: String, header: CSVHeader = .detect) throws -> Int {
        let folder = try TemporaryFolder()
        let path = try folder.write("d.csv", Array(text.utf8))
        return try DataFiles.load(path, inputWidth: 2, outputWidth: 1, loss: nil, requireTargets: true, header: header).count
    }

    private func error(_ text: String, header: CSVHeader = .detect) throws -> String? {
        let folder = try TemporaryFolder()
        let path = try folder.write("d.csv", Array(text.utf8))
        do {
            _ = try DataFiles.load(path, inputWidth: 2, outputWidth: 1, loss: nil, requireTargets: true, header: header)
            return nil
        } catch {
            return String(error.description.dropFirst(path.count + 2))
        }
    }

    @Test func aRowOfNamesIsAHeaderAndARowOfNumbersIsData() throws {
        #expect(try rows("a,b,y\n1,2,3\n4,5,6\n") == 2)
        #expect(try rows("\"a\",\"b\",\"y\"\n1,2,3\n") == 1)
        #expect(try rows("1,2,3\n4,5,6\n") == 2)
        // Empty and NaN cells decide nothing: a pandas index column, a column named "nan".
        #expect(try rows(",a,nan\n1,2,3\n") == 1)
    }

    @Test func aRowMixingNumbersAndTextIsAnErrorNamingTheCell() throws {
        #expect(try error("1,2O,3\n4,5,6\n")
                    == "line 1, column 2: '2O' is not a number, but column 1 of this first row is: neither a header (no "
                    + "numbers) nor data (only numbers); fix the cell, or say which it is with --header or --no-header")
        #expect(try error("x,2,y\n4,5,6\n")?.hasPrefix("line 1, column 1: 'x' is not a number, but column 2") == true)
    }

    @Test func theCallerCanSayWhichItIs() throws {
        #expect(try rows("1,2O,3\n4,5,6\n", header: .present) == 1)
        #expect(try rows("1,2,3\n4,5,6\n", header: .present) == 1)
        #expect(try error("a,b,y\n4,5,6\n", header: .absent) == "line 1, column 1: 'a' is not a number")
    }

    @Test func headerNamesInMessagesAreEscaped() throws {
        #expect(try error("a,b\u{1B}[31m,y\n4,x,6\n") == "line 2, column 2 (b\\x1b[31m): 'x' is not a number")
    }
}

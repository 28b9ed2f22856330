import Foundation
import Testing

@Suite("A CSV header row has no number (issue 15, item 9)")
struct CSVHeaderTests {
    @Test func aTypoInTheFirstRowIsAnErrorNotAHeader() throws {
        let scratch = try Scratch()
        let model = try sampleModelFile(scratch).path
        let data = scratch.path("typo.csv")
        try Data("1,2,3O,4,0\n1,2,3,4,1\n1,2,3,4,2\n".utf8).write(to: URL(fileURLWithPath: data))
        let detected = try runUnderTest(["evaluate", model, "--data", data, "--json"])
        #expect(detected.status == 2)
        #expect(detected.stderr.hasPrefix("mlpconv: \(data): line 1, column 3: '3O' is not a number, but column 1 of this first row is"),
                "\(detected.stderr)")
        #expect(detected.stderr.contains("--header or --no-header"))

        let asData = try runUnderTest(["evaluate", model, "--data", data, "--no-header"])
        #expect(asData.status == 2)
        #expect(asData.stderr == "mlpconv: \(data): line 1, column 3: '3O' is not a number\n")

        let asHeader = try runUnderTest(["evaluate", model, "--data", data, "--header", "--json"])
        #expect(asHeader.status == 0, "\(asHeader.stderr)")
        #expect(try jsonObject(asHeader.stdout)["rows"] as? Int == 2)

        // A row of names is still a header without being told; a row of numbers is still data.
        let named = try runUnderTest(["evaluate", model, "--data", try sampleDataFile(scratch), "--json"])
        #expect(try jsonObject(named.stdout)["rows"] as? Int == 20)
        try Data("1,2,3,4,0\n1,2,3,4,1\n".utf8).write(to: URL(fileURLWithPath: data))
        #expect(try jsonObject(try runUnderTest(["evaluate", model, "--data", data, "--json"]).stdout)["rows"] as? Int == 2)
        #expect(try jsonObject(try runUnderTest(["predict", model, "--data", data, "--header", "--json"]).stdout)["rows"] as? Int == 1)
    }
}

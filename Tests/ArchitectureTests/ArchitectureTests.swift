import Foundation
import Testing

/// The layering of docs/architecture.md, checked on the sources themselves: every `import` in every Swift file
/// must point down. Reads the files as text, so it also catches an import the compiler would accept because
/// Package.swift happens to allow it.
@Suite("Imports point down the layers")
struct ArchitectureTests {
    @Test func everyImportIsAllowedForItsModule() throws {
        let violations = try Layering.violations(root: Layering.packageRoot)
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func everyModuleIsInTheTable() throws {
        let modules = try Layering.sourceModules(root: Layering.packageRoot)
        let unknown = modules.filter { Layering.rule(for: $0) == nil }
        #expect(unknown.isEmpty, "modules without a layering rule: \(unknown.sorted())")
    }

    /// The check itself must be able to fail: a format importing another format, the core importing a C
    /// format library and the CLI importing a C library are each reported.
    @Test func reportsImportsThatPointTheWrongWay() throws {
        let found = Layering.violations(in: [
            ("Sources/Formats/KerasFormat/A.swift", "import Foundation\nimport HDF5Format\n"),
            ("Sources/MLPCore/B.swift", "internal import CHDF5\n"),
            ("Sources/mlpconv/C.swift", "import CJSONC\n"),
            ("Sources/MLPDocument/D.swift", "@testable import JSONFormat\n"),
            ("Sources/MLPCore/E.swift", "import Foundation\n// import MLPDocument in a comment is fine\n"),
        ])
        #expect(found.count == 4, "\(found)")
        #expect(found.contains { $0.contains("KerasFormat") && $0.contains("HDF5Format") })
        #expect(found.contains { $0.contains("MLPCore") && $0.contains("CHDF5") })
        #expect(found.contains { $0.contains("mlpconv") && $0.contains("CJSONC") })
    }
}

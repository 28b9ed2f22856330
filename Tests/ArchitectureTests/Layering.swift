import Foundation

/// Which module may import which: docs/architecture.md's diagram as data. A module's row lists everything it
/// may import besides the system (Foundation, Glibc, Darwin, Dispatch, Synchronization). Adding a module means
/// adding its row here; `ArchitectureTests` fails for a module that has none.
enum Layering {
    static let system: Set<String> = ["Foundation", "FoundationEssentials", "Glibc", "Darwin", "Dispatch", "Synchronization"]

    /// Modules every format module may build on.
    private static let formatBase: Set<String> = ["MLPDocument", "MLPCore", "FormatSupport", "FileSupport", "TextSupport"]

    static let rules: [String: Set<String>] = [
        // Support wrappers: their own C library at most, no model knowledge.
        "TextSupport": [],
        "FileSupport": [],
        "HDF5Support": ["CHDF5", "CHDF5Driver"],
        "JSONSupport": ["CJSONC"],
        "ZipSupport": ["CZip"],
        "PickleSupport": ["ZipSupport", "FileSupport"],
        "ONNXSupport": ["SwiftProtobuf"],
        // The core: BLAS, its own element-wise kernels and swift-numerics only; no formats, no C format library.
        "MLPCore": ["CBLAS", "CKernels", "RealModule"],
        "MLPDocument": ["MLPCore"],
        "FormatSupport": ["MLPDocument", "MLPCore", "JSONSupport", "HDF5Support", "FileSupport", "TextSupport", "CCRC32C"],
        // Formats: the wrappers they read through; never another format.
        "JSONFormat": formatBase.union(["JSONSupport"]),
        "HDF5Format": formatBase.union(["HDF5Support"]),
        "KerasFormat": formatBase.union(["HDF5Support", "JSONSupport", "ZipSupport"]),
        "SafetensorsFormat": formatBase.union(["JSONSupport"]),
        "TorchFormat": formatBase.union(["JSONSupport", "PickleSupport"]),
        "ONNXFormat": formatBase.union(["ONNXSupport"]),
        // The façade: the only module that knows every format.
        "MLPModelFiles": ["MLPDocument", "MLPCore", "FormatSupport", "FileSupport", "HDF5Support", "ZipSupport",
                          "JSONFormat", "HDF5Format", "KerasFormat", "SafetensorsFormat", "TorchFormat", "ONNXFormat"],
        "MLPDataFiles": ["MLPCore", "MLPDocument", "HDF5Support", "ZipSupport", "FileSupport", "TextSupport"],
        // Programs: the public libraries and the pure-Swift helpers; never a C library or a format module.
        "mlpconv": ["MLPModelFiles", "MLPDocument", "MLPDataFiles", "MLPCore", "TextSupport", "FileSupport",
                    "ArgumentParser"],
        "mlpbench": ["MLPModelFiles", "MLPDocument", "MLPDataFiles", "MLPCore", "ArgumentParser"],
        // The fuzz harness drives each pure-Swift reader directly, below the façade, as the façade does; it reads
        // no HDF5 (HDF5Support only for the signature it skips) and imports no C library.
        "mlpfuzz": ["JSONSupport", "ZipSupport", "PickleSupport", "HDF5Support", "MLPDocument", "MLPCore",
                    "JSONFormat", "KerasFormat", "SafetensorsFormat", "TorchFormat", "ONNXFormat", "MLPDataFiles"],
        "mlpconv-reader": ["MLPModelFiles", "MLPDataFiles"],
    ]

    static func rule(for module: String) -> Set<String>? { rules[module] }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The module a source path belongs to: the folder directly holding its sources under `Sources/`
    /// (`Sources/Formats/KerasFormat/X.swift` → KerasFormat, `Sources/mlpconv/Commands/X.swift` → mlpconv).
    static func module(of relativePath: String) -> String? {
        let parts = relativePath.split(separator: "/").map(String.init)
        guard parts.count >= 3, parts[0] == "Sources" else { return nil }
        // Layer folders that group modules.
        if ["C", "Support", "Formats"].contains(parts[1]) { return parts.count >= 4 ? parts[2] : nil }
        return parts[1]
    }

    /// Every Swift file under Sources/, as (path relative to the package root, text).
    static func sources(root: URL) throws -> [(String, String)] {
        let sourcesPath = root.appendingPathComponent("Sources").path
        guard let walker = FileManager.default.enumerator(atPath: sourcesPath) else { return [] }
        var files: [(String, String)] = []
        for case let relative as String in walker where relative.hasSuffix(".swift") {
            let text = try String(contentsOfFile: sourcesPath + "/" + relative, encoding: .utf8)
            files.append(("Sources/" + relative, text))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    static func sourceModules(root: URL) throws -> Set<String> {
        Set(try sources(root: root).compactMap { module(of: $0.0) })
    }

    static func violations(root: URL) throws -> [String] {
        violations(in: try sources(root: root))
    }

    /// One line per import a file may not have: `path:line: Module imports Other`.
    static func violations(in files: [(String, String)]) -> [String] {
        var found: [String] = []
        for (path, text) in files {
            guard let module = module(of: path) else { continue }
            let allowed = (rules[module] ?? []).union(system)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                guard let imported = importedModule(String(line)) else { continue }
                if !allowed.contains(imported) {
                    found.append("\(path):\(number + 1): \(module) imports \(imported)")
                }
            }
        }
        return found
    }

    /// `import X`, `internal import X`, `@testable import X`, `import struct X.Y`: X. Nil for other lines.
    static func importedModule(_ line: String) -> String? {
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        while let first = words.first, first.hasPrefix("@") || ["public", "package", "internal", "private",
                                                                "fileprivate"].contains(first) {
            words.removeFirst()
        }
        guard words.first == "import", words.count >= 2 else { return nil }
        let kinds: Set<String> = ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"]
        let path = kinds.contains(words[1]) && words.count >= 3 ? words[2] : words[1]
        return path.split(separator: ".").first.map(String.init)
    }
}

import MLPCore
import MLPDocument

/// A model's `nn.Sequential` as its user has it: the expression that builds it
/// (`Sequential(Linear(6, 8, bias=False), BatchNorm1d(8, eps=0.001), ReLU(), Linear(8, 3))`, `nn.`/`torch.nn.`
/// prefixes allowed) or what `print(model)` shows (`Sequential(\n  (0): Linear(in_features=6, …)\n  …\n)`, whose
/// entry names may be any module names). A state dict holds tensors only; this supplies what lies between them.
///
/// Only what the core computes exactly as torch does is accepted; anything else is refused naming the module and
/// why. The text is bounded (`maxLength`) and parsed without recursion beyond one tuple level.
package struct TorchSequential: Sendable, Equatable {
    package enum Module: Sendable, Equatable {
        case linear(inputs: Int, outputs: Int, bias: Bool)
        /// `Identity()` is `.linear`.
        case activation(Activation)
        /// `momentum` is torch's (the weight of the batch statistics).
        case batchNorm(features: Int, epsilon: Double, momentum: Double, affine: Bool)
        case layerNorm(features: Int, epsilon: Double, elementwiseAffine: Bool, bias: Bool)
        case dropout(p: Double)
        case flatten
    }

    package struct Entry: Sendable, Equatable {
        /// The entry's name in the state dict (`0`, `1`, … or a name `print(model)` shows).
        package var name: String
        package var module: Module
    }

    package var entries: [Entry]

    /// Longer than any MLP's definition a person pastes, short enough to parse at once.
    package static let maxLength = 100_000
    /// The object of every error: the definition is given with `--sequential` (`LoadOptions.sequential`).
    package static let object = "--sequential"

    package init(parsing text: String) throws(DocumentError) {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count <= Self.maxLength else {
            throw DocumentError(Self.object, "\(scalars.count) characters; a definition has at most \(Self.maxLength)")
        }
        var parser = Parser(scalars: scalars)
        entries = try parser.sequential()
    }

    // MARK: Architecture

    /// The document architecture the Sequential computes, and each layer's state-dict prefix (nil for layers
    /// without tensors). A Linear followed by an activation module becomes one Dense layer. The input width is the
    /// first Linear's, BatchNorm1d's or LayerNorm's; a leading Flatten then takes flat rows of that width (the
    /// per-sample shape is not in the definition, so it is not recorded).
    package func architecture() throws(DocumentError) -> (architecture: ModelDocument.Architecture, prefixes: [String?]) {
        func features(_ module: Module) -> Int? {
            switch module {
            case .linear(let inputs, _, _): inputs
            case .batchNorm(let features, _, _, _), .layerNorm(let features, _, _, _): features
            case .activation, .dropout, .flatten: nil
            }
        }
        guard let inputWidth = entries.lazy.compactMap({ features($0.module) }).first else {
            throw DocumentError(Self.object, "no Linear, BatchNorm1d or LayerNorm fixes the input width")
        }
        var layers: [ModelDocument.Layer] = []
        var prefixes: [String?] = []
        var counts: [String: Int] = [:]
        func add(_ kind: LayerKind, prefix: String?) {
            let count = counts[kind.typeName, default: 0]
            counts[kind.typeName] = count + 1
            layers.append(.init(name: count == 0 ? kind.typeName : "\(kind.typeName)_\(count)", kind: kind))
            prefixes.append(prefix)
        }
        var width = inputWidth
        var index = 0
        while index < entries.count {
            let entry = entries[index]
            if let takes = features(entry.module), takes != width {
                throw DocumentError(Self.object, "(\(entry.name)) \(Self.describe(entry.module)) takes \(takes) features, "
                    + "but \(index == 0 ? "the input has" : "the module before it gives") \(width)")
            }
            switch entry.module {
            case .linear(_, let outputs, let bias):
                var activation = Activation.linear
                // An activation right after its Linear is the Dense layer's own, as mlpconv writes it.
                if index + 1 < entries.count, case .activation(let next) = entries[index + 1].module, next != .linear {
                    activation = next
                    index += 1
                }
                add(.dense(DenseSettings(units: outputs, activation: activation, useBias: bias)), prefix: entry.name)
                width = outputs
            case .activation(let activation):
                add(.activation(activation), prefix: nil)
            case .batchNorm(_, let epsilon, let momentum, let affine):
                add(.batchNormalization(BatchNormalizationSettings(momentum: 1 - momentum, epsilon: epsilon, center: affine,
                                                                   scale: affine, unbiasedMovingVariance: true)),
                    prefix: entry.name)
            case .layerNorm(_, let epsilon, let affine, let bias):
                add(.layerNormalization(LayerNormalizationSettings(epsilon: epsilon, center: affine && bias, scale: affine)),
                    prefix: entry.name)
            case .dropout(let p):
                add(.dropout(DropoutSettings(rate: p)), prefix: nil)
            case .flatten:
                add(.flatten, prefix: nil)
            }
            index += 1
        }
        return (ModelDocument.Architecture(inputWidth: inputWidth, layers: layers), prefixes)
    }

    static func describe(_ module: Module) -> String {
        switch module {
        case .linear(let inputs, let outputs, let bias): "Linear(\(inputs), \(outputs)\(bias ? "" : ", bias=False"))"
        case .activation(let activation):
            (try? TorchModules.module(for: activation, object: "")).flatMap { $0 } ?? "Identity()"
        case .batchNorm(let features, _, _, _): "BatchNorm1d(\(features))"
        case .layerNorm(let features, _, _, _): "LayerNorm(\(features))"
        case .dropout: "Dropout"
        case .flatten: "Flatten()"
        }
    }
}

// MARK: - Parsing

extension TorchSequential {
    /// The modules mlpconv reads, for error messages.
    static let supportedModules = ["Linear", "BatchNorm1d", "LayerNorm", "Dropout", "Flatten", "Identity", "ReLU", "Sigmoid",
                                   "Tanh", "Softmax", "LogSoftmax", "ELU", "SELU", "Softplus", "Softsign", "GELU", "SiLU",
                                   "Mish", "ReLU6", "Hardsigmoid", "Hardswish", "LeakyReLU"]

    enum Value: Equatable {
        case int(Int), float(Double), bool(Bool), pythonNone, string(String), tuple([Value])

        var text: String {
            switch self {
            case .int(let value): "\(value)"
            case .float(let value): "\(value)"
            case .bool(let value): value ? "True" : "False"
            case .pythonNone: "None"
            case .string(let value): "'\(value)'"
            case .tuple(let values): "(" + values.map(\.text).joined(separator: ", ") + (values.count == 1 ? ",)" : ")")
            }
        }
    }

    enum TokenKind: Equatable {
        case name(String), int(Int), float(Double), string(String), symbol(Character), end
    }

    struct Token {
        var kind: TokenKind
        var offset: Int
    }

    /// A module's arguments bound to its parameters as Python binds them: positionals in order, then keywords.
    struct Arguments {
        var module: String
        var site: String
        var values: [String: Value] = [:]

        func value(_ name: String) -> Value? { values[name] }

        func refuse(_ reason: String) -> DocumentError {
            DocumentError(TorchSequential.object, "\(site): \(reason)")
        }

        func int(_ name: String, default fallback: Int? = nil) throws(DocumentError) -> Int {
            switch values[name] {
            case .int(let value)?: return value
            case nil:
                guard let fallback else { throw refuse("\(module) needs \(name)") }
                return fallback
            case let other?: throw refuse("\(name) must be an integer, got \(other.text)")
            }
        }

        func double(_ name: String, default fallback: Double) throws(DocumentError) -> Double {
            switch values[name] {
            case .int(let value)?: return Double(value)
            case .float(let value)?: return value
            case nil: return fallback
            case let other?: throw refuse("\(name) must be a number, got \(other.text)")
            }
        }

        func bool(_ name: String, default fallback: Bool) throws(DocumentError) -> Bool {
            switch values[name] {
            case .bool(let value)?: return value
            case nil: return fallback
            case let other?: throw refuse("\(name) must be True or False, got \(other.text)")
            }
        }

        /// A setting the core has only one value of.
        func require(_ name: String, equals expected: Double, default fallback: Double, because why: String) throws(DocumentError) {
            let given = try double(name, default: fallback)
            guard given == expected else { throw refuse("\(name)=\(Value.float(given).text) is not supported: \(why)") }
        }
    }

    struct Parser {
        let scalars: [Unicode.Scalar]
        var position = 0
        var token = Token(kind: .end, offset: 0)

        init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

        /// `line L, column C` (1-based) of a scalar offset; `column C` for one-line text.
        func location(_ offset: Int) -> String {
            var line = 1, column = 1
            for scalar in scalars[..<min(offset, scalars.count)] {
                if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
            }
            return scalars.contains("\n") ? "line \(line), column \(column)" : "column \(column)"
        }

        func error(_ reason: String, at offset: Int? = nil) -> DocumentError {
            DocumentError(TorchSequential.object, "\(location(offset ?? token.offset)): \(reason)")
        }

        var found: String {
            switch token.kind {
            case .name(let name): "\(name)"
            case .int(let value): "\(value)"
            case .float(let value): "\(value)"
            case .string(let value): "'\(value)'"
            case .symbol(let symbol): "'\(symbol)'"
            case .end: "the end of the text"
            }
        }

        // MARK: Tokens

        mutating func advance() throws(DocumentError) {
            while position < scalars.count, scalars[position].properties.isWhitespace { position += 1 }
            let start = position
            guard position < scalars.count else { token = Token(kind: .end, offset: start); return }
            let scalar = scalars[position]
            func isNameStart(_ s: Unicode.Scalar) -> Bool { s == "_" || (s.isASCII && s.properties.isAlphabetic) }
            func isDigit(_ s: Unicode.Scalar) -> Bool { s >= "0" && s <= "9" }
            if isNameStart(scalar) {
                while position < scalars.count, isNameStart(scalars[position]) || isDigit(scalars[position]) { position += 1 }
                token = Token(kind: .name(String(String.UnicodeScalarView(scalars[start..<position]))), offset: start)
            } else if isDigit(scalar) || ((scalar == "-" || scalar == "+" || scalar == ".") && position + 1 < scalars.count
                                            && (isDigit(scalars[position + 1]) || scalars[position + 1] == ".")) {
                position += 1
                var isFloat = scalar == "."
                while position < scalars.count {
                    let s = scalars[position]
                    if isDigit(s) { position += 1 }
                    else if s == "." || s == "e" || s == "E" { isFloat = true; position += 1 }
                    else if (s == "-" || s == "+") && (scalars[position - 1] == "e" || scalars[position - 1] == "E") { position += 1 }
                    else { break }
                }
                let text = String(String.UnicodeScalarView(scalars[start..<position]))
                if isFloat {
                    guard let value = Double(text), value.isFinite else { throw error("\(text) is not a number", at: start) }
                    token = Token(kind: .float(value), offset: start)
                } else {
                    guard let value = Int(text) else { throw error("\(text) is not an integer (or too large)", at: start) }
                    token = Token(kind: .int(value), offset: start)
                }
            } else if scalar == "'" || scalar == "\"" {
                position += 1
                while position < scalars.count, scalars[position] != scalar, scalars[position] != "\n" { position += 1 }
                guard position < scalars.count, scalars[position] == scalar else { throw error("unterminated string", at: start) }
                position += 1
                token = Token(kind: .string(String(String.UnicodeScalarView(scalars[start + 1..<position - 1]))), offset: start)
            } else if "()[],=:.".unicodeScalars.contains(scalar) {
                position += 1
                token = Token(kind: .symbol(Character(scalar)), offset: start)
            } else {
                throw error("unexpected character '\(scalar)'", at: start)
            }
        }

        mutating func expect(_ symbol: Character, _ what: String) throws(DocumentError) {
            guard token.kind == .symbol(symbol) else { throw error("expected \(what), found \(found)") }
            try advance()
        }

        /// `Name`, `nn.Name` or `torch.nn.Name`; the name and where it starts.
        mutating func moduleName() throws(DocumentError) -> (name: String, offset: Int) {
            let offset = token.offset
            var parts: [String] = []
            while true {
                guard case .name(let part) = token.kind else {
                    throw error(parts.isEmpty ? "expected a module such as Linear(4, 8), found \(found)" : "expected a name after '.'")
                }
                parts.append(part)
                try advance()
                guard token.kind == .symbol("."), parts.count < 3 else { break }
                try advance()
            }
            let prefix = parts.dropLast()
            guard prefix.isEmpty || prefix == ["nn"] || prefix == ["torch", "nn"] else {
                throw error("\(parts.joined(separator: ".")) is not a torch.nn module", at: offset)
            }
            return (parts[parts.count - 1], offset)
        }

        // MARK: Grammar

        mutating func sequential() throws(DocumentError) -> [Entry] {
            try advance()
            let (name, offset) = try moduleName()
            guard name == "Sequential" else {
                throw error("expected Sequential(…), found \(name): give the model's nn.Sequential", at: offset)
            }
            try expect("(", "'(' after Sequential")
            var entries: [Entry] = []
            if token.kind == .symbol("(") {
                // print(model): `(name): Module(…)` per line, no commas.
                while token.kind == .symbol("(") {
                    try advance()
                    let entryName: String
                    switch token.kind {
                    case .name(let text): entryName = text
                    case .int(let value) where value >= 0: entryName = "\(value)"
                    default: throw error("expected a module's name such as (0), found \(found)")
                    }
                    try advance()
                    try expect(")", "')' after the module's name")
                    try expect(":", "':' after (\(entryName))")
                    guard !entries.contains(where: { $0.name == entryName }) else {
                        throw error("the name (\(entryName)) is given twice")
                    }
                    entries.append(Entry(name: entryName, module: try module()))
                }
            } else {
                while token.kind != .symbol(")") {
                    entries.append(Entry(name: "\(entries.count)", module: try module()))
                    guard token.kind == .symbol(",") else { break }
                    try advance()
                }
            }
            try expect(")", "')' closing Sequential(")
            guard token.kind == .end else { throw error("unexpected \(found) after the Sequential") }
            guard !entries.isEmpty else { throw error("the Sequential has no modules", at: offset) }
            return entries
        }

        mutating func module() throws(DocumentError) -> Module {
            let (name, offset) = try moduleName()
            let site = "\(name) at \(location(offset))"
            // Before its arguments, which for other modules may be anything.
            guard TorchSequential.parameters(of: name) != nil else { throw TorchSequential.unsupported(name, site: site) }
            guard token.kind == .symbol("(") else { throw error("expected '(' after \(name)") }
            try advance()
            var positional: [Value] = []
            var keywords: [(name: String, value: Value)] = []
            while token.kind != .symbol(")") {
                var keyword: String?
                if case .name(let text) = token.kind, !["True", "False", "None"].contains(text) {
                    let nameOffset = token.offset
                    try advance()
                    guard token.kind == .symbol("=") else {
                        if token.kind == .symbol("(") {
                            throw error("\(name) takes settings, not a module (\(text)); nested modules are not supported", at: nameOffset)
                        }
                        throw error("expected '=' after \(text)")
                    }
                    try advance()
                    keyword = text
                    guard !keywords.contains(where: { $0.name == text }) else { throw error("\(text) is given twice", at: nameOffset) }
                } else if !keywords.isEmpty {
                    throw error("a positional argument after a keyword argument")
                }
                let value = try self.value()
                if let keyword { keywords.append((keyword, value)) } else { positional.append(value) }
                guard token.kind == .symbol(",") else { break }
                try advance()
            }
            try expect(")", "',' or ')' in \(name)(…)")
            return try TorchSequential.module(name, positional: positional, keywords: keywords, site: site)
        }

        /// A literal: a number, True/False/None, a string, or a flat tuple or list of those.
        mutating func value(inTuple: Bool = false) throws(DocumentError) -> Value {
            let kind = token.kind
            switch kind {
            case .int(let value): try advance(); return .int(value)
            case .float(let value): try advance(); return .float(value)
            case .string(let value): try advance(); return .string(value)
            case .name("True"): try advance(); return .bool(true)
            case .name("False"): try advance(); return .bool(false)
            case .name("None"): try advance(); return .pythonNone
            case .symbol("("), .symbol("["):
                guard !inTuple else { throw error("nested tuples are not supported") }
                let close: Character = kind == .symbol("(") ? ")" : "]"
                try advance()
                var values: [Value] = []
                while token.kind != .symbol(close) {
                    values.append(try value(inTuple: true))
                    guard token.kind == .symbol(",") else { break }
                    try advance()
                }
                try expect(close, "',' or '\(close)'")
                return .tuple(values)
            default:
                throw error("expected a value (a number, True, False, None, a string or a tuple), found \(found)")
            }
        }
    }

    // MARK: Modules

    /// The parameters of each module, in torch 2.15's positional order; `keywordOnly` only by name.
    static func parameters(of module: String) -> (positional: [String], keywordOnly: [String])? {
        switch module {
        case "Linear": (["in_features", "out_features", "bias"], [])
        case "BatchNorm1d": (["num_features", "eps", "momentum", "affine", "track_running_stats"], ["bias"])
        case "LayerNorm": (["normalized_shape", "eps", "elementwise_affine", "bias"], [])
        case "Dropout": (["p", "inplace"], [])
        case "Flatten": (["start_dim", "end_dim"], [])
        case "ReLU", "ReLU6", "SELU", "SiLU", "Mish", "Hardsigmoid", "Hardswish": (["inplace"], [])
        case "ELU": (["alpha", "inplace"], [])
        case "LeakyReLU": (["negative_slope", "inplace"], [])
        case "Softplus": (["beta", "threshold"], [])
        case "GELU": (["approximate"], [])
        case "Softmax", "LogSoftmax": (["dim"], [])
        case "Sigmoid", "Tanh", "Softsign", "Identity": ([], [])
        default: nil
        }
    }

    static func unsupported(_ name: String, site: String) -> DocumentError {
        let why = name.hasPrefix("Conv") || name.hasPrefix("MaxPool") || name.hasPrefix("AvgPool")
            ? "mlpconv's models are multilayer perceptrons, without convolutions or pooling"
            : name == "Sequential" || name == "ModuleList" || name == "ModuleDict" ? "nested containers are not supported; give one flat Sequential"
            : "not a module mlpconv reads; supported: " + supportedModules.joined(separator: ", ")
        return DocumentError(object, "\(site): \(why)")
    }

    static func module(_ name: String, positional: [Value], keywords: [(name: String, value: Value)],
                       site: String) throws(DocumentError) -> Module {
        guard let (names, keywordOnly) = parameters(of: name) else { throw unsupported(name, site: site) }
        var arguments = Arguments(module: name, site: site)
        guard positional.count <= names.count else {
            throw arguments.refuse("\(name) takes at most \(names.count) positional argument\(names.count == 1 ? "" : "s"), got \(positional.count)")
        }
        for (parameter, value) in zip(names, positional) { arguments.values[parameter] = value }
        for (keyword, value) in keywords {
            guard names.contains(keyword) || keywordOnly.contains(keyword) else {
                throw arguments.refuse("\(name) has no argument \(keyword) that mlpconv reads"
                    + (names.isEmpty && keywordOnly.isEmpty ? " (it takes none)" : " (it takes \((names + keywordOnly).joined(separator: ", ")))"))
            }
            guard arguments.values[keyword] == nil else { throw arguments.refuse("\(keyword) is given twice") }
            arguments.values[keyword] = value
        }
        // `inplace` changes memory use only.
        _ = try arguments.bool("inplace", default: false)
        switch name {
        case "Linear":
            let inputs = try arguments.int("in_features"), outputs = try arguments.int("out_features")
            guard inputs > 0, outputs > 0 else { throw arguments.refuse("in_features and out_features must be positive, got \(inputs) and \(outputs)") }
            return .linear(inputs: inputs, outputs: outputs, bias: try arguments.bool("bias", default: true))
        case "BatchNorm1d":
            let features = try arguments.int("num_features")
            guard features > 0 else { throw arguments.refuse("num_features must be positive, got \(features)") }
            guard try arguments.bool("track_running_stats", default: true) else {
                throw arguments.refuse("track_running_stats=False is not supported: the core normalizes with running statistics when predicting")
            }
            if arguments.value("momentum") == .pythonNone {
                throw arguments.refuse("momentum=None (a cumulative average) is not supported: the core keeps exponential moving averages")
            }
            let epsilon = try arguments.double("eps", default: 1e-5), momentum = try arguments.double("momentum", default: 0.1)
            guard epsilon.isFinite, epsilon > 0 else { throw arguments.refuse("eps must be a number > 0, got \(Value.float(epsilon).text)") }
            guard momentum >= 0, momentum <= 1 else { throw arguments.refuse("momentum must be in [0, 1], got \(Value.float(momentum).text)") }
            let affine = try arguments.bool("affine", default: true)
            if affine, !(try arguments.bool("bias", default: true)) {
                throw arguments.refuse("affine=True with bias=False (a scale without an offset) is not supported: mlpconv's torch "
                    + "BatchNorm1d has both or neither")
            }
            return .batchNorm(features: features, epsilon: epsilon, momentum: momentum, affine: affine)
        case "LayerNorm":
            guard let shape = arguments.value("normalized_shape") else { throw arguments.refuse("LayerNorm needs normalized_shape") }
            let width: Value? = if case .tuple(let values) = shape, values.count == 1 { values[0] } else { shape }
            guard case .int(let features)? = width else {
                throw arguments.refuse("normalized_shape must be one width (n or (n,)): mlpconv normalizes the last axis of flat rows, got \(shape.text)")
            }
            guard features > 0 else { throw arguments.refuse("normalized_shape must be positive, got \(features)") }
            let epsilon = try arguments.double("eps", default: 1e-5)
            guard epsilon.isFinite, epsilon > 0 else { throw arguments.refuse("eps must be a number > 0, got \(Value.float(epsilon).text)") }
            return .layerNorm(features: features, epsilon: epsilon, elementwiseAffine: try arguments.bool("elementwise_affine", default: true),
                              bias: try arguments.bool("bias", default: true))
        case "Dropout":
            let p = try arguments.double("p", default: 0.5)
            guard p >= 0, p < 1 else { throw arguments.refuse("p must be in [0, 1), got \(Value.float(p).text)") }
            return .dropout(p: p)
        case "Flatten":
            let start = try arguments.int("start_dim", default: 1), end = try arguments.int("end_dim", default: -1)
            guard start == 1, end == -1 else {
                throw arguments.refuse("only Flatten(start_dim=1, end_dim=-1) is supported (each sample flattened into one row), got start_dim=\(start), end_dim=\(end)")
            }
            return .flatten
        case "Softmax", "LogSoftmax":
            // dim=None picks dim 1 for 2-D input, the only input an activation here sees.
            switch arguments.value("dim") {
            case nil, .pythonNone?, .int(-1)?, .int(1)?: return .activation(name == "Softmax" ? .softmax : .logSoftmax)
            case let other?: throw arguments.refuse("dim=\(other.text) is not supported: mlpconv normalizes each row (dim=-1)")
            }
        case "ELU":
            try arguments.require("alpha", equals: 1, default: 1, because: "the core's elu has alpha 1")
            return .activation(.elu)
        case "Softplus":
            try arguments.require("beta", equals: 1, default: 1, because: "the core's softplus has beta 1")
            try arguments.require("threshold", equals: 20, default: 20, because: "only torch's default threshold 20 is supported")
            return .activation(.softplus)
        case "GELU":
            switch arguments.value("approximate") {
            case nil, .string("none")?: return .activation(.gelu)
            case .string("tanh")?: throw arguments.refuse("approximate='tanh' is not supported: the core's gelu is the exact erf form")
            case let other?: throw arguments.refuse("approximate must be 'none', got \(other.text)")
            }
        case "LeakyReLU":
            guard arguments.value("negative_slope") != nil else {
                throw arguments.refuse("torch's default negative_slope is 0.01, the core's leaky_relu has 0.2: write LeakyReLU(negative_slope=0.2)")
            }
            try arguments.require("negative_slope", equals: 0.2, default: 0.2, because: "the core's leaky_relu has slope 0.2")
            return .activation(.leakyReLU)
        case "ReLU": return .activation(.relu)
        case "ReLU6": return .activation(.relu6)
        case "SELU": return .activation(.selu)
        case "SiLU": return .activation(.silu)
        case "Mish": return .activation(.mish)
        case "Hardsigmoid": return .activation(.hardSigmoid)
        case "Hardswish": return .activation(.hardSiLU)
        case "Sigmoid": return .activation(.sigmoid)
        case "Tanh": return .activation(.tanh)
        case "Softsign": return .activation(.softsign)
        // Identity, the one module of `parameters(of:)` left.
        default: return .activation(.linear)
        }
    }
}

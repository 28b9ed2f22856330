import Testing
import MLPDocument
@testable import JSONFormat
import TestSupport
import Foundation
import MLPCore

/// A valid document the bad-input cases mutate: two layers (one without bias), float32 arrays, one base64
/// tensor, SGD with momentum, history, random state, metadata.
private let validDocument = #"""
    {
      "format": "mlpconv-model",
      "format_version": 1,
      "architecture": {"input_width": 2, "layers": [
        {"name": "hidden", "units": 3, "activation": "relu"},
        {"name": "out", "units": 1, "activation": "linear", "use_bias": false}]},
      "weights": {
        "hidden": {"kernel": {"dtype": "float32", "shape": [2, 3], "data": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]},
                   "bias": {"dtype": "float32", "shape": [3], "data": [0, 0, 0]}},
        "out": {"kernel": {"dtype": "float32", "shape": [3, 1], "data": "AACAPwAAAEAAAEBA"}}
      },
      "training": {
        "loss": "mse",
        "optimizer": {"name": "sgd", "hyperparameters": {"learning_rate": 0.01, "momentum": 0.9}, "iterations": 5,
                      "slots": {"momentum": {"hidden/kernel": {"dtype": "float32", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]},
                                             "hidden/bias": {"dtype": "float64", "shape": [3], "data": [1, 2, 3]},
                                             "out/kernel": {"dtype": "float32", "shape": [3, 1], "data": [1, 2, 3]}}}},
        "epochs_completed": 1,
        "random_state": ["0123456789abcdef", "0000000000000002", "0000000000000003", "0000000000000004"],
        "history": [{"epoch": 1, "metrics": {"loss": 0.5, "val_loss": "NaN"}}]
      },
      "metadata": {"description": "bad-input template"}
    }
    """#

struct BadDocument: CustomTestStringConvertible, Sendable {
    var label: String
    var bytes: [UInt8]
    /// The JSON path the message must name, and text the reason must contain.
    var path: String
    var reason: String
    /// Whether the published schema can reject this document too (CI checks it does).
    var schemaRejects: Bool
    var limits = LoadLimits()
    var testDescription: String { label }

    /// The template with `old` replaced by `new` (which must occur exactly once).
    init(_ label: String, _ old: String, _ new: String, _ path: String, _ reason: String, schema: Bool = true,
         limits: LoadLimits = LoadLimits()) {
        self.init(label, [(old, new)], path, reason, schema: schema, limits: limits)
    }

    /// The template with each `old` replaced by its `new`; a case whose `old` is not found exactly once carries
    /// a marker that makes its test fail with a clear message.
    init(_ label: String, _ replacements: [(old: String, new: String)], _ path: String, _ reason: String,
         schema: Bool = true, limits: LoadLimits = LoadLimits()) {
        var bytes = templateBytes
        for (old, new) in replacements {
            let text = String(decoding: bytes, as: UTF8.self)
            let parts = text.components(separatedBy: old)
            bytes = parts.count == 2 ? Array(parts.joined(separator: new).utf8)
                                     : Array("template mismatch: \(old) occurs \(parts.count - 1) times".utf8)
        }
        self.init(label, bytes: bytes, path, reason, schema: schema, limits: limits)
    }

    init(_ label: String, bytes: [UInt8], _ path: String, _ reason: String, schema: Bool = true,
         limits: LoadLimits = LoadLimits()) {
        self.label = label
        self.bytes = bytes
        self.path = path
        self.reason = reason
        self.schemaRejects = schema
        self.limits = limits
    }
}

private let kernelData = #""data": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]"#

/// The template cut right after `marker` (a prefix of it, `cut` bytes long).
private func truncated(after marker: String, keeping cut: Int) -> [UInt8] {
    guard let range = validDocument.range(of: marker) else { return [] }
    return Array(validDocument[..<range.lowerBound].utf8) + Array(marker.utf8.prefix(cut))
}

/// The template with `old` replaced by raw bytes (invalid UTF-8 cannot be in a Swift string).
private func replacing(_ old: String, withBytes new: [UInt8]) -> [UInt8] {
    guard let range = validDocument.range(of: old) else { return [] }
    return Array(validDocument[..<range.lowerBound].utf8) + new + Array(validDocument[range.upperBound...].utf8)
}
private let hiddenKernelShape = #""shape": [2, 3], "data": [0.1"#
private let templateBytes = Array(validDocument.utf8)

/// Broken and hostile JSON model files (the catalogue in docs/robustness.md), each a mutation of `validDocument`;
/// the number that starts a case's label groups the cases by kind.
@Suite("JSON model codec: bad inputs")
struct JSONModelCodecBadInputTests {
    static let cases: [BadDocument] = [
        // 1. Not a model file
        BadDocument("1: empty file", bytes: [], "$", "empty input"),
        BadDocument("1: a JSON array", bytes: Array("[1, 2]".utf8), "$",
                    "expected an mlpconv model document (a JSON object), found an array"),
        BadDocument("1: another JSON document", bytes: Array(#"{"class_name": "Sequential"}"#.utf8), "$.format",
                    "not an mlpconv model document: required key \"format\" is missing (expected \"mlpconv-model\")"),
        BadDocument("1: another format", #""format": "mlpconv-model""#, #""format": "keras""#, "$.format",
                    "not an mlpconv model document: format is \"keras\", expected \"mlpconv-model\""),
        BadDocument("1: newer format version", #""format_version": 1"#, #""format_version": 2"#, "$.format_version",
                    "format version 2 is newer than this mlpconv reads (1); a newer mlpconv is needed"),
        BadDocument("1: format version 0", #""format_version": 1"#, #""format_version": 0"#, "$.format_version",
                    "expected format version 1, found 0"),
        // 2. Truncated
        BadDocument("2: truncated", bytes: Array(templateBytes.prefix(templateBytes.count / 2)), "$.training.optimizer.hyperparameters",
                    "unexpected end of input (truncated?)"),
        BadDocument("2: truncated inside a number", bytes: truncated(after: "0.6]", keeping: 2), "$.weights.hidden.kernel.data[5]",
                    "unexpected end of input (truncated?)"),
        // 5. Shapes disagreeing with the architecture
        BadDocument("5: kernel shape", hiddenKernelShape, #""shape": [64, 32], "data": [0.1"#, "$.weights.hidden.kernel.shape",
                    "shape [64, 32] does not match the architecture: layer \"hidden\" (2 inputs × 3 units) needs [2, 3]",
                    schema: false),
        BadDocument("5: bias shape", #""shape": [3], "data": [0, 0, 0]"#, #""shape": [4], "data": [0, 0, 0, 0]"#,
                    "$.weights.hidden.bias.shape",
                    "shape [4] does not match the architecture: layer \"hidden\" (3 units) needs [3]", schema: false),
        BadDocument("5: slot shape", #""shape": [3, 1], "data": [1, 2, 3]"#, #""shape": [1, 3], "data": [1, 2, 3]"#,
                    "$.training.optimizer.slots.momentum[\"out/kernel\"].shape",
                    "shape [1, 3] does not match the architecture: out/kernel needs [3, 1]", schema: false),
        BadDocument("5: data length vs shape", kernelData, #""data": [0.1, 0.2, 0.3, 0.4, 0.5]"#,
                    "$.weights.hidden.kernel.data", "has 5 values; shape [2, 3] needs 6", schema: false),
        BadDocument("5: negative dimension", hiddenKernelShape, #""shape": [-2, 3], "data": [0.1"#,
                    "$.weights.hidden.kernel.shape[0]", "expected an integer ≥ 0, found -2"),
        BadDocument("5: too many dimensions", hiddenKernelShape, #""shape": [1,1,1,1,1,1,1,1,1], "data": [0.1"#,
                    "$.weights.hidden.kernel.shape", "expected at most 8 dimensions, found 9"),
        // 6. Missing and unexpected tensors
        BadDocument("6: missing bias", #",\#n               "bias": {"dtype": "float32", "shape": [3], "data": [0, 0, 0]}"#, "",
                    "$.weights.hidden.bias", "missing tensor \"bias\" (a dense layer with these settings holds: \"kernel\", \"bias\")", schema: false),
        BadDocument("6: missing layer weights", #",\#n    "out": {"kernel": {"dtype": "float32", "shape": [3, 1], "data": "AACAPwAAAEAAAEBA"}}"#,
                    "", "$.weights.out",
                    "missing weights for layer \"out\" (the architecture's layers with weights are: \"hidden\", \"out\")", schema: false),
        BadDocument("6: weights for an unknown layer", #""out": {"kernel""#, #""extra": {}, "out": {"kernel""#,
                    "$.weights.extra", "unexpected weights for layer \"extra\" (the architecture's layers with weights are: \"hidden\", \"out\")",
                    schema: false),
        BadDocument("6: bias on a layer without bias", #""data": "AACAPwAAAEAAAEBA"}"#,
                    #""data": "AACAPwAAAEAAAEBA"}, "bias": {"dtype": "float32", "shape": [1], "data": [0]}"#,
                    "$.weights.out.bias", "unexpected tensor: layer \"out\" has use_bias false", schema: false),
        BadDocument("6: unknown tensor in a layer", #""data": "AACAPwAAAEAAAEBA"}"#, #""data": "AACAPwAAAEAAAEBA"}, "gamma": 1"#,
                    "$.weights.out.gamma", "unexpected tensor \"gamma\" (a dense layer with these settings holds: \"kernel\")"),
        BadDocument("6: unknown key in a tensor", #""shape": [3], "data": [0, 0, 0]"#, #""shape": [3], "data": [0, 0, 0], "order": "C""#,
                    "$.weights.hidden.bias", "unknown key \"order\"; expected crc32c, data, dtype, shape"),
        BadDocument("6: missing slot entry", #""hidden/bias": {"dtype": "float64", "shape": [3], "data": [1, 2, 3]},"#, "",
                    "$.training.optimizer.slots.momentum[\"hidden/bias\"]",
                    "missing slot entry \"hidden/bias\" (the model's parameters are: \"hidden/kernel\", \"hidden/bias\", \"out/kernel\")",
                    schema: false),
        BadDocument("6: unexpected slot entry", #""out/kernel": {"#, #""out/bias": {}, "out/kernel": {"#,
                    "$.training.optimizer.slots.momentum[\"out/bias\"]", "unexpected slot entry \"out/bias\"", schema: false),
        BadDocument("6: unexpected slot", #""slots": {"momentum""#, #""slots": {"velocity": {}, "momentum""#,
                    "$.training.optimizer.slots.velocity",
                    "unexpected slot \"velocity\" (sgd with these hyperparameters keeps slots: \"momentum\")", schema: false),
        BadDocument("6: missing slot", [(#""name": "sgd""#, #""name": "adam""#), (#", "momentum": 0.9}"#, "}")],
                    "$.training.optimizer.slots.velocity",
                    "missing slot \"velocity\" (adam with these hyperparameters keeps slots: \"momentum\", \"velocity\")",
                    schema: false),
        BadDocument("6: slot kept by no setting", #""learning_rate": 0.01, "momentum": 0.9"#, #""learning_rate": 0.01, "momentum": 0"#,
                    "$.training.optimizer.slots.momentum",
                    "unexpected slot \"momentum\" (sgd with these hyperparameters keeps no slots)", schema: false),
        // 7. Declared sizes that would exhaust memory
        BadDocument("7: 1e6 × 1e6 declared", #""input_width": 2"#, #""input_width": 1000000"#, "$.weights.hidden.kernel.shape",
                    "shape [2, 3] does not match the architecture: layer \"hidden\" (1000000 inputs × 3 units) needs [1000000, 3]",
                    schema: false),
        BadDocument("7: element count overflows", hiddenKernelShape, #""shape": [4611686018427387904, 4], "data": [0.1"#,
                    "$.weights.hidden.kernel.shape", "shape [4611686018427387904, 4] has more elements than can be addressed",
                    schema: false),
        // 9. Widths and layer counts
        BadDocument("9: units -3", #""units": 3"#, #""units": -3"#, "$.architecture.layers[0].units",
                    "expected a positive integer, got -3"),
        BadDocument("9: units 0", #""units": 3"#, #""units": 0"#, "$.architecture.layers[0].units",
                    "expected a positive integer, got 0"),
        BadDocument("9: units too large", #""units": 3"#, #""units": 99999999"#, "$.architecture.layers[0].units",
                    "expected a positive integer up to 16777216, got 99999999"),
        BadDocument("9: input width 0", #""input_width": 2"#, #""input_width": 0"#, "$.architecture.input_width",
                    "expected a positive integer, got 0"),
        BadDocument("9: zero layers", [(#"{"name": "hidden", "units": 3, "activation": "relu"},"#, ""),
                                       (#"{"name": "out", "units": 1, "activation": "linear", "use_bias": false}"#, "")],
                    "$.architecture.layers", "a model needs at least one layer"),
        BadDocument("9: duplicate layer name", #""name": "out""#, #""name": "hidden""#, "$.architecture.layers[1].name",
                    "layer name \"hidden\" is used twice; names must be unique", schema: false),
        BadDocument("9: layer name with a slash", #""name": "out""#, #""name": "a/b""#, "$.architecture.layers[1].name",
                    "\"a/b\" is not a valid layer name"),
        // 10. Unsupported dtypes
        BadDocument("10: int32 dtype", #""dtype": "float64""#, #""dtype": "int32""#,
                    "$.training.optimizer.slots.momentum[\"hidden/bias\"].dtype",
                    "unsupported dtype \"int32\"; supported: float32, float64"),
        BadDocument("10: float16 dtype", #""dtype": "float32", "shape": [3]"#, #""dtype": "float16", "shape": [3]"#,
                    "$.weights.hidden.bias.dtype", "unsupported dtype \"float16\"; supported: float32, float64"),
        BadDocument("10: data as an object", kernelData, #""data": {"0": 0.1}"#, "$.weights.hidden.kernel.data",
                    "expected an array of numbers or a base64 string, found an object"),
        // 12. Unknown names
        BadDocument("12: unknown activation", #""activation": "relu""#, #""activation": "swishy""#,
                    "$.architecture.layers[0].activation",
                    "unknown activation \"swishy\"; supported: linear, relu, sigmoid, tanh, softmax, elu, selu, gelu, silu, leaky_relu"),
        BadDocument("12: unknown loss", #""loss": "mse""#, #""loss": "hingy""#, "$.training.loss",
                    "unknown loss \"hingy\"; supported: half_squared_error, mean_squared_error"),
        BadDocument("12: unknown optimizer", #""name": "sgd""#, #""name": "adafactor""#, "$.training.optimizer.name",
                    "unknown optimizer \"adafactor\"; supported: sgd, adam, adamw, rmsprop, adagrad, nadam, adamax, lion, adadelta, ftrl, lamb"),
        BadDocument("12: unknown initializer", #""activation": "relu"}"#, #""activation": "relu", "kernel_initializer": "orthogonal"}"#,
                    "$.architecture.layers[0].kernel_initializer", "unknown initializer \"orthogonal\"; supported: glorot_uniform"),
        BadDocument("12: hyperparameter of another optimizer", #""momentum": 0.9}"#, #""momentum": 0.9, "beta_1": 0.9}"#,
                    "$.training.optimizer.hyperparameters.beta_1", "beta_1"),
        BadDocument("12: hyperparameter out of range", #""momentum": 0.9}"#, #""momentum": 1.5}"#,
                    "$.training.optimizer.hyperparameters.momentum", "must be in [0, 1], got 1.5"),
        // 13. Duplicate keys
        BadDocument("13: duplicate key", #""units": 3,"#, #""units": 3, "units": 4,"#, "$.architecture.layers[0].units",
                    "duplicate key \"units\"", schema: false),
        BadDocument("13: duplicate layer weights", #""out": {"kernel""#, #""hidden": {}, "out": {"kernel""#, "$.weights.hidden",
                    "duplicate key \"hidden\"", schema: false),
        // 14. Deep nesting
        BadDocument("14: deep nesting", #""description": "bad-input template""#,
                    #""description": "# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
                    "$.metadata.description" + String(repeating: "[0]", count: 14), "nesting deeper than 16 levels"),
        // 15. Size caps before parsing
        BadDocument("15: file over the size cap", #""description": "bad-input template""#,
                    #""description": ""# + String(repeating: "1", count: 5000) + "\"", "$",
                    "bytes exceeds the limit of 4096 bytes", schema: false,
                    limits: LoadLimits(maxFileBytes: 4096)),
        BadDocument("15: too many values for the tensor cap", kernelData,
                    #""data": ["# + Array(repeating: "0", count: 2_000_000).joined(separator: ",") + "]", "$",
                    "JSON values exceed the limit of 1048676", schema: false, limits: LoadLimits(maxTotalBytes: 400)),
        BadDocument("15: tensor over the per-tensor cap", hiddenKernelShape, hiddenKernelShape, "$.weights.hidden.kernel.shape",
                    "shape [2, 3] of float32 takes 24 bytes, over the limit of 16 bytes per tensor", schema: false,
                    limits: LoadLimits(maxTensorBytes: 16)),
        BadDocument("15: tensors over the total cap", #""shape": [3, 1], "data": "AACAPwAAAEAAAEBA""#,
                    #""shape": [3, 1], "data": "AACAPwAAAEAAAEBA""#, "$.weights.out.kernel.shape",
                    "the tensors up to this one take 48 bytes, over the limit of 40 bytes in all", schema: false,
                    limits: LoadLimits(maxTotalBytes: 40)),
        // 16. Numbers out of range
        BadDocument("16: 1e400", kernelData, #""data": [0.1, 1e400, 0.3, 0.4, 0.5, 0.6]"#, "$.weights.hidden.kernel.data[1]",
                    "number 1e400 overflows a 64-bit float", schema: false),
        BadDocument("16: float32 weight 1e39", kernelData, #""data": [0.1, 0.2, 1e39, 0.4, 0.5, 0.6]"#,
                    "$.weights.hidden.kernel.data[2]", "number 1e39 overflows a 32-bit float", schema: false),
        BadDocument("16: float32 weight 1e-50", kernelData, #""data": [0.1, 0.2, 0.3, -1e-50, 0.5, 0.6]"#,
                    "$.weights.hidden.kernel.data[3]", "number -1e-50 underflows a 32-bit float to zero", schema: false),
        BadDocument("16: 1e-400", kernelData, #""data": [0.1, 0.2, 0.3, 0.4, 1e-400, 0.6]"#, "$.weights.hidden.kernel.data[4]",
                    "number 1e-400 underflows a 64-bit float to zero", schema: false),
        BadDocument("16: integer beyond Int64", #""iterations": 5"#, #""iterations": 9223372036854775808"#,
                    "$.training.optimizer.iterations", "integer 9223372036854775808 is outside the Int64 range"),
        BadDocument("16: integer data beyond Int64", #""data": [1, 2, 3]}}}}"#, #""data": [1, 2, 99999999999999999999]}}}}"#,
                    "$.training.optimizer.slots.momentum[\"out/kernel\"].data[2]", "outside the Int64 range", schema: false),
        BadDocument("16: negative epochs", #""epochs_completed": 1"#, #""epochs_completed": -1"#,
                    "$.training.epochs_completed", "expected an integer ≥ 0, found -1"),
        // 17. NaN and Infinity literals
        BadDocument("17: NaN literal", kernelData, #""data": [0.1, NaN, 0.3, 0.4, 0.5, 0.6]"#, "$.weights.hidden.kernel.data[1]",
                    "NaN is not a JSON number"),
        BadDocument("17: -Infinity literal", #""loss": 0.5"#, #""loss": -Infinity"#, "$.training.history[0].metrics.loss",
                    "-Infinity is not a JSON number"),
        BadDocument("17: unknown non-finite spelling", #""val_loss": "NaN""#, #""val_loss": "nan""#,
                    "$.training.history[0].metrics.val_loss", "expected a number or \"NaN\", \"Infinity\", \"-Infinity\""),
        // 18. Text encoding
        BadDocument("18: invalid UTF-8", bytes: replacing("bad-input template", withBytes: [0x62, 0xC3, 0x28]),
                    "$.metadata.description", "invalid UTF-8", schema: false),
        BadDocument("18: lone surrogate", #""name": "out""#, #""name": "o\ud800""#, "$.architecture.layers[1].name",
                    "lone surrogate \\ud800", schema: false),
        // 19. Trailing data and non-JSON syntax
        BadDocument("19: trailing garbage", bytes: templateBytes + Array(" x".utf8), "$", "data after the end of the document"),
        BadDocument("19: two documents", bytes: templateBytes + templateBytes, "$", "data after the end of the document: '{'"),
        BadDocument("19: trailing comma", #""relu"},"#, #""relu",},"#, "$.architecture.layers[0].activation",
                    "unexpected character at '}' (json-c) (line 5, column 57)"),
        BadDocument("19: comment", #""iterations": 5,"#, #""iterations": 5, /* resumed */"#, "$.training.optimizer.iterations",
                    "at '/'"),
        BadDocument("19: single quotes", #""loss": "mse""#, #""loss": 'mse'"#, "$.training.loss", "unexpected character"),
        // 20. Wrong JSON types
        BadDocument("20: weights as strings", kernelData, #""data": ["1.5", 0.2, 0.3, 0.4, 0.5, 0.6]"#,
                    "$.weights.hidden.kernel.data[0]", "expected a number, found a string (\"1.5\")"),
        BadDocument("20: data as a decimal string", kernelData, #""data": "1.5""#, "$.weights.hidden.kernel.data",
                    "base64 data has 3 characters; shape [2, 3] of float32 is 24 bytes, which take 32"),
        BadDocument("20: units as a string", #""units": 3"#, #""units": "3""#, "$.architecture.layers[0].units",
                    "expected an integer, found a string (\"3\")"),
        BadDocument("20: units as a fraction", #""units": 3"#, #""units": 3.0"#, "$.architecture.layers[0].units",
                    "expected an integer, found a number (3.0)", schema: false),
        BadDocument("20: use_bias as a string", #""use_bias": false"#, #""use_bias": "false""#, "$.architecture.layers[1].use_bias",
                    "expected a boolean, found a string (\"false\")"),
        BadDocument("20: metadata as an array", #""metadata": {"description": "bad-input template"}"#,
                    #""metadata": ["bad-input template"]"#, "$.metadata", "expected an object, found an array"),
        BadDocument("20: metadata value a number", #""description": "bad-input template""#, #""description": 1"#,
                    "$.metadata.description", "expected a string, found an integer (1)"),
        BadDocument("20: null shape", hiddenKernelShape, #""shape": null, "data": [0.1"#, "$.weights.hidden.kernel.shape",
                    "expected an array, found null"),
        BadDocument("20: random state words", #""0123456789abcdef""#, #""0123456789abcdefg""#,
                    "$.training.random_state[0]", "expected 16 hex digits, found \"0123456789abcdefg\""),
        BadDocument("20: random state of three words", #""0123456789abcdef", "#, "", "$.training.random_state",
                    "expected 4 state words (16 hex digits each), found 3"),
        BadDocument("20: all-zero random state",
                    #"["0123456789abcdef", "0000000000000002", "0000000000000003", "0000000000000004"]"#,
                    #"["0000000000000000", "0000000000000000", "0000000000000000", "0000000000000000"]"#, "$.training.random_state",
                    "the all-zero state is not a valid xoshiro256** state", schema: true),
        // 21. U+0000
        BadDocument("21: NUL in a key", #""description": "bad"#, #""descr\u0000iption": "bad"#, "$.metadata",
                    "object key contains U+0000"),
        BadDocument("21: NUL in a layer name", #""name": "out""#, #""name": "o\u0000ut""#, "$.architecture.layers[1].name",
                    "string contains U+0000"),
        // Base64 data
        BadDocument("base64 of the wrong length", #""AACAPwAAAEAAAEBA""#, #""AACAPwAAAEAAAEBAAAAA""#, "$.weights.out.kernel.data",
                    "base64 data has 20 characters; shape [3, 1] of float32 is 12 bytes, which take 16", schema: false),
        BadDocument("base64 with an invalid character", #""AACAPwAAAEAAAEBA""#, #""AACAPwAA.EAAAEBA""#, "$.weights.out.kernel.data",
                    "invalid base64 character '.' at index 8"),
        BadDocument("base64 with a line break", #""AACAPwAAAEAAAEBA""#, #""AACAPwAA\nAAEAAEB""#, "$.weights.out.kernel.data",
                    "invalid base64 character byte 0xA at index 8 (whitespace and line breaks are not allowed)", schema: true),
        BadDocument("base64 with bad padding", #""AACAPwAAAEAAAEBA""#, #""AACAPwAAAEAAAE=A""#, "$.weights.out.kernel.data",
                    "invalid base64 character '=' at index 14"),
        // Anything else the reader does not know
        BadDocument("unknown top-level key", #""metadata": {"#, #""extra": 1, "metadata": {"#, "$",
                    "unknown key \"extra\"; expected architecture, format, format_version, metadata, training, weights"),
        BadDocument("unknown layer key", #""activation": "relu"}"#, #""activation": "relu", "unit": 3}"#, "$.architecture.layers[0]",
                    "unknown key \"unit\""),
        BadDocument("missing loss", #""loss": "mse","#, "", "$.training.loss", "required key \"loss\" is missing"),
        // A schedule's rates are held to float32's range, as a constant rate is, and named where they are.
        BadDocument("schedule rate beyond float32", #""learning_rate": 0.01"#,
                    #""learning_rate": {"schedule": "exponential_decay", "initial_learning_rate": 1e300, "decay_steps": 3, "decay_rate": 0.7}"#,
                    "$.training.optimizer.hyperparameters.learning_rate", "1e+300 is beyond float32's range", schema: false),
    ]

    @Test("each bad input is rejected with a message naming the file, the JSON path and the reason", arguments: cases)
    func rejects(_ input: BadDocument) throws {
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(input.bytes, limits: input.limits) }
        guard let error else { return }
        let message = error.description
        #expect(error.file == "model.json")
        #expect(error.object == input.path, "\(message)")
        #expect(message.hasPrefix("model.json: \(input.path): "), "\(message)")
        #expect(message.contains(input.reason), "\(message)")
        if input.schemaRejects && input.limits == LoadLimits() {
            let name = input.label.map { $0.isLetter || $0.isNumber ? $0 : "-" }
            try writeInteropFile(input.bytes, name: String(name) + ".json", invalid: true)
        }
    }

    @Test("the template itself is valid, and the catalogue's exact message for units ≤ 0")
    func templateAndExactMessage() throws {
        let document = try decodeJSON(validDocument)
        #expect(document.architecture.layers.map(\.name) == ["hidden", "out"])
        #expect(document.weights[1].kernel.float32Values == [1, 2, 3])
        #expect(document.training?.optimizer.slots[0].tensors[1].dtype == .float64)
        #expect(document.training?.history.first?.metrics["val_loss"]?.isNaN == true)
        #expect(document.training?.randomState?.wordArray.first == 0x0123_4567_89AB_CDEF)
        try writeInteropFile(templateBytes, name: "bad-input-template.json")

        let error = expectError(ModelFileError.self) {
            _ = try decodeJSON(validDocument.replacingOccurrences(of: #""units": 1"#, with: #""units": -3"#))
        }
        #expect(error?.description == "model.json: $.architecture.layers[1].units: expected a positive integer, got -3")
    }

    @Test("a declared 1e6 × 1e6 float32 kernel is refused by the size cap before anything is allocated")
    func hugeDeclaredShape() throws {
        let huge = validDocument
            .replacingOccurrences(of: #""input_width": 2"#, with: #""input_width": 1000000"#)
            .replacingOccurrences(of: #""units": 3"#, with: #""units": 1000000"#)
            .replacingOccurrences(of: hiddenKernelShape, with: #""shape": [1000000, 1000000], "data": [0.1"#)
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(huge) }
        #expect(error?.description == "model.json: $.weights.hidden.kernel.shape: shape [1000000, 1000000] of float32 takes "
                + "4000000000000 bytes, over the limit of 8589934592 bytes per tensor")
        // The same kernel declared as base64: refused the same way, before the string's length is even looked at.
        let base64 = huge.replacingOccurrences(of: kernelData, with: #""data": "AAAA""#)
        let error2 = expectError(ModelFileError.self) { _ = try decodeJSON(base64) }
        #expect(error2?.object == "$.weights.hidden.kernel.shape")
    }

    @Test("an error inside a tensor array reports the element's line and column")
    func lineAndColumn() {
        let error = expectError(ModelFileError.self) {
            _ = try decodeJSON(validDocument.replacingOccurrences(of: kernelData, with: #""data": [0.1, 0.2, 0.3, 0.4, 0.5, NaN]"#))
        }
        #expect(error?.description == "model.json: $.weights.hidden.kernel.data[5]: NaN is not a JSON number (line 8, column 98)")
    }
}

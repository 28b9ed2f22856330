import FormatSupport
import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import Testing
import TestSupport

/// `TorchSequential`: the model definitions a torch user pastes for `--sequential`.
struct TorchSequentialTests {
    typealias Module = TorchSequential.Module

    func modules(_ text: String) throws -> [Module] { try TorchSequential(parsing: text).entries.map(\.module) }

    func refusal(_ text: String) -> String? {
        do { _ = try TorchSequential(parsing: text).architecture() } catch { return error.reason }
        return nil
    }

    static let batchNormExample: [Module] = [
        .linear(inputs: 6, outputs: 8, bias: false), .batchNorm(features: 8, epsilon: 0.001, momentum: 0.3, affine: true),
        .activation(.relu), .linear(inputs: 8, outputs: 3, bias: true),
    ]

    static let batchNormText = "Sequential(Linear(6, 8, bias=False), BatchNorm1d(8, eps=0.001, momentum=0.3), ReLU(), Linear(8, 3))"

    @Test func constructorExpression() throws {
        #expect(try modules(Self.batchNormText) == Self.batchNormExample)
        #expect(try modules("nn.Sequential(nn.Linear(6, 8, bias=False), torch.nn.BatchNorm1d(8, eps=1e-3, momentum=.3),"
                            + " nn.ReLU(inplace=True), Linear(in_features=8, out_features=3),)") == Self.batchNormExample)
        #expect(try TorchSequential(parsing: "Sequential(Linear(6, 8), ReLU())").entries.map(\.name) == ["0", "1"])
    }

    @Test func printedModel() throws {
        let printed = """
            Sequential(
              (0): Linear(in_features=6, out_features=8, bias=False)
              (1): BatchNorm1d(8, eps=0.001, momentum=0.3, affine=True, bias=True, track_running_stats=True)
              (2): ReLU()
              (3): Linear(in_features=8, out_features=3, bias=True)
            )
            """
        #expect(try modules(printed) == Self.batchNormExample)
        let named = try TorchSequential(parsing: "Sequential(\n  (encoder): Linear(in_features=6, out_features=9, bias=True)\n"
                                                 + "  (act): ReLU()\n  (head): Linear(in_features=9, out_features=3, bias=True)\n)")
        #expect(named.entries.map(\.name) == ["encoder", "act", "head"])
        #expect(try named.architecture().prefixes == ["encoder", "head"])
    }

    /// Every module, as written and as torch prints it, with torch's defaults where an argument is left out.
    @Test(arguments: [
        ("Linear(4, 2)", Module.linear(inputs: 4, outputs: 2, bias: true)),
        ("Linear(4, 2, False)", .linear(inputs: 4, outputs: 2, bias: false)),
        ("ReLU()", .activation(.relu)), ("ReLU(inplace=True)", .activation(.relu)), ("Sigmoid()", .activation(.sigmoid)),
        ("Tanh()", .activation(.tanh)), ("Softmax(dim=-1)", .activation(.softmax)), ("Softmax(dim=1)", .activation(.softmax)),
        ("Softmax(dim=None)", .activation(.softmax)), ("Softmax(-1)", .activation(.softmax)),
        ("LogSoftmax(dim=1)", .activation(.logSoftmax)), ("LogSoftmax(dim=-1)", .activation(.logSoftmax)),
        ("ELU()", .activation(.elu)), ("ELU(alpha=1.0)", .activation(.elu)), ("SELU()", .activation(.selu)),
        ("Softplus()", .activation(.softplus)), ("Softplus(beta=1.0, threshold=20.0)", .activation(.softplus)),
        ("Softsign()", .activation(.softsign)), ("GELU()", .activation(.gelu)), ("GELU(approximate='none')", .activation(.gelu)),
        ("GELU(approximate=\"none\")", .activation(.gelu)), ("SiLU()", .activation(.silu)), ("Mish()", .activation(.mish)),
        ("ReLU6()", .activation(.relu6)), ("Hardsigmoid()", .activation(.hardSigmoid)), ("Hardswish()", .activation(.hardSiLU)),
        ("LeakyReLU(0.2)", .activation(.leakyReLU)), ("LeakyReLU(negative_slope=0.2)", .activation(.leakyReLU)),
        ("Identity()", .activation(.linear)),
        ("BatchNorm1d(4)", .batchNorm(features: 4, epsilon: 1e-5, momentum: 0.1, affine: true)),
        ("BatchNorm1d(4, 0.01, 0.2, False)", .batchNorm(features: 4, epsilon: 0.01, momentum: 0.2, affine: false)),
        ("BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=True)",
         .batchNorm(features: 4, epsilon: 1e-5, momentum: 0.1, affine: false)),
        ("LayerNorm(4)", .layerNorm(features: 4, epsilon: 1e-5, elementwiseAffine: true, bias: true)),
        ("LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=False)", .layerNorm(features: 4, epsilon: 1e-5, elementwiseAffine: true, bias: false)),
        ("LayerNorm([4], 0.001, False)", .layerNorm(features: 4, epsilon: 0.001, elementwiseAffine: false, bias: true)),
        ("Dropout()", .dropout(p: 0.5)), ("Dropout(0.25)", .dropout(p: 0.25)), ("Dropout(p=0.3, inplace=False)", .dropout(p: 0.3)),
        ("Flatten()", .flatten), ("Flatten(start_dim=1, end_dim=-1)", .flatten),
    ])
    func module(_ text: String, _ expected: Module) throws {
        #expect(try modules("Sequential(\(text))") == [expected])
        #expect(try modules("Sequential(\n  (0): \(text)\n)") == [expected])
    }

    @Test func architectureOfTheBatchNormExample() throws {
        let (architecture, prefixes) = try TorchSequential(parsing: Self.batchNormText).architecture()
        #expect(architecture.inputWidth == 6 && architecture.inputShape == nil)
        #expect(architecture.layers.map(\.name) == ["dense", "batch_normalization", "activation", "dense_1"])
        #expect(architecture.layers.map(\.kind) == [
            .dense(DenseSettings(units: 8, activation: .linear, useBias: false)),
            .batchNormalization(BatchNormalizationSettings(momentum: 1 - 0.3, epsilon: 0.001, center: true, scale: true,
                                                           unbiasedMovingVariance: true)),
            .activation(.relu), .dense(DenseSettings(units: 3, activation: .linear, useBias: true)),
        ])
        #expect(prefixes == ["0", "1", nil, "3"])
        // An activation directly after its Linear is the Dense layer's; a leading Flatten takes flat rows.
        let merged = try TorchSequential(parsing: "Sequential(Flatten(), Dropout(0.1), Linear(6, 4), Tanh(), Identity(), Linear(4, 2), Softmax(dim=-1))")
            .architecture()
        #expect(merged.architecture.inputWidth == 6)
        #expect(merged.architecture.layers.map(\.kind) == [
            .flatten, .dropout(DropoutSettings(rate: 0.1)), .dense(DenseSettings(units: 4, activation: .tanh)), .activation(.linear),
            .dense(DenseSettings(units: 2, activation: .softmax)),
        ])
        #expect(merged.prefixes == [nil, nil, "2", nil, "5"])
    }

    /// Each refusal names the module (and where it is) and why.
    @Test(arguments: [
        ("Sequential(Conv1d(3, 8, 3))", "Conv1d at column 12: mlpconv's models are multilayer perceptrons, without convolutions or pooling"),
        ("Sequential(Frobnicate())", "Frobnicate at column 12: not a module mlpconv reads; supported: Linear, BatchNorm1d, LayerNorm, "
            + "Dropout, Flatten, Identity, ReLU, Sigmoid, Tanh, Softmax, LogSoftmax, ELU, SELU, Softplus, Softsign, GELU, SiLU, Mish, "
            + "ReLU6, Hardsigmoid, Hardswish, LeakyReLU"),
        ("Sequential(Linear(4, 8) ReLU())", "column 25: expected ')' closing Sequential(, found ReLU"),
        ("Sequential(Linear(4, 8),, ReLU())", "column 25: expected a module such as Linear(4, 8), found ','"),
        ("Sequential(Linear(4, 8)", "column 24: expected ')' closing Sequential(, found the end of the text"),
        ("Sequential(\n  (0): Linear(in_features=4, out_features=8, bias=True)\n  (1): ReLU(\n)",
         "line 4, column 2: expected ')' closing Sequential(, found the end of the text"),
        ("Sequential(\n  (0): Linear(4, 8)\n  (0): ReLU()\n)", "line 3, column 8: the name (0) is given twice"),
        ("Model(Linear(4, 8))", "column 1: expected Sequential(…), found Model: give the model's nn.Sequential"),
        ("Sequential()", "column 1: the Sequential has no modules"),
        ("Sequential(Linear(4, 8)) x", "column 26: unexpected x after the Sequential"),
        ("Sequential(Linear(4, 8; ReLU())", "column 23: unexpected character ';'"),
        ("Sequential(functional.Linear(4, 8))", "column 12: functional.Linear is not a torch.nn module"),
        ("Sequential(Sequential(Linear(4, 8)))", "Sequential at column 12: nested containers are not supported; give one flat Sequential"),
        ("Sequential(Linear(4, ReLU()))", "column 22: Linear takes settings, not a module (ReLU); nested modules are not supported"),
        ("Sequential(Linear(4))", "Linear at column 12: Linear needs out_features"),
        ("Sequential(Linear(4, 8.0))", "Linear at column 12: out_features must be an integer, got 8.0"),
        ("Sequential(Linear(4, 8, bias=1))", "Linear at column 12: bias must be True or False, got 1"),
        ("Sequential(Linear(4, 8, 1, 2))", "Linear at column 12: Linear takes at most 3 positional arguments, got 4"),
        ("Sequential(Linear(4, 8, dtype=None))", "Linear at column 12: Linear has no argument dtype that mlpconv reads (it takes in_features, out_features, bias)"),
        ("Sequential(Linear(4, out_features=8, in_features=3))", "Linear at column 12: in_features is given twice"),
        ("Sequential(Linear(in_features=4, 8))", "column 34: a positional argument after a keyword argument"),
        ("Sequential(Linear(4, 8, bias=True, bias=False))", "column 36: bias is given twice"),
        ("Sequential(Linear(4, 0))", "Linear at column 12: in_features and out_features must be positive, got 4 and 0"),
        ("Sequential(Linear(4, 99999999999999999999))", "column 22: 99999999999999999999 is not an integer (or too large)"),
        ("Sequential(Tanh(1))", "Tanh at column 12: Tanh takes at most 0 positional arguments, got 1"),
        ("Sequential(LeakyReLU())", "LeakyReLU at column 12: torch's default negative_slope is 0.01, the core's leaky_relu has 0.2: write LeakyReLU(negative_slope=0.2)"),
        ("Sequential(LeakyReLU(0.01))", "LeakyReLU at column 12: negative_slope=0.01 is not supported: the core's leaky_relu has slope 0.2"),
        ("Sequential(GELU(approximate='tanh'))", "GELU at column 12: approximate='tanh' is not supported: the core's gelu is the exact erf form"),
        ("Sequential(ELU(alpha=0.5))", "ELU at column 12: alpha=0.5 is not supported: the core's elu has alpha 1"),
        ("Sequential(Softplus(beta=2))", "Softplus at column 12: beta=2.0 is not supported: the core's softplus has beta 1"),
        ("Sequential(Softplus(threshold=10))", "Softplus at column 12: threshold=10.0 is not supported: only torch's default threshold 20 is supported"),
        ("Sequential(Softmax(dim=0))", "Softmax at column 12: dim=0 is not supported: mlpconv normalizes each row (dim=-1)"),
        ("Sequential(BatchNorm1d(4, track_running_stats=False))",
         "BatchNorm1d at column 12: track_running_stats=False is not supported: the core normalizes with running statistics when predicting"),
        ("Sequential(BatchNorm1d(4, momentum=None))",
         "BatchNorm1d at column 12: momentum=None (a cumulative average) is not supported: the core keeps exponential moving averages"),
        ("Sequential(BatchNorm1d(4, eps=0))", "BatchNorm1d at column 12: eps must be a number > 0, got 0.0"),
        ("Sequential(BatchNorm1d(4, bias=False))",
         "BatchNorm1d at column 12: affine=True with bias=False (a scale without an offset) is not supported: mlpconv's torch BatchNorm1d has both or neither"),
        ("Sequential(LayerNorm((2, 3)))", "LayerNorm at column 12: normalized_shape must be one width (n or (n,)): mlpconv normalizes the last axis of flat rows, got (2, 3)"),
        ("Sequential(LayerNorm(((4,),)))", "column 23: nested tuples are not supported"),
        ("Sequential(Dropout(1.0))", "Dropout at column 12: p must be in [0, 1), got 1.0"),
        ("Sequential(Flatten(0))", "Flatten at column 12: only Flatten(start_dim=1, end_dim=-1) is supported (each sample flattened into one row), got start_dim=0, end_dim=-1"),
        ("Sequential(ReLU(), Dropout())", "no Linear, BatchNorm1d or LayerNorm fixes the input width"),
        ("Sequential(Linear(4, 8), BatchNorm1d(6))", "(1) BatchNorm1d(6) takes 6 features, but the module before it gives 8"),
        ("Sequential(GELU(approximate='none), Linear(4, 8))", "column 29: unterminated string"),
    ])
    func refused(_ text: String, _ reason: String) {
        #expect(refusal(text) == reason)
    }

    @Test func hostileInput() {
        #expect(refusal(String(repeating: " ", count: TorchSequential.maxLength + 1))
                == "\(TorchSequential.maxLength + 1) characters; a definition has at most \(TorchSequential.maxLength)")
        // Nesting is bounded by the grammar, not the stack: deep parentheses are a syntax error at the second level.
        #expect(refusal("Sequential(" + String(repeating: "(", count: 50_000)) == "column 13: expected a module's name such as (0), found '('")
        #expect(refusal("Sequential(Linear(" + String(repeating: "[", count: 50_000)) == "column 20: nested tuples are not supported")
        #expect(refusal("") == "column 1: expected a module such as Linear(4, 8), found the end of the text")
        #expect(refusal("Sequential(Linear(4, 8), \u{0}ReLU())") == "column 26: unexpected character '\u{0}'")
        // Many modules are fine.
        let wide = "Sequential(" + Array(repeating: "Linear(4, 4)", count: 2000).joined(separator: ", ") + ")"
        #expect(refusal(wide) == nil)
    }
}

/// `LoadOptions.sequential` on torch-written files: the tensors must be exactly the definition's.
struct TorchSequentialLoadTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")
    static let checkpoint = folder.appendingPathComponent("torch/batchnorm_relu_adam.pt").path
    static let stateDict = folder.appendingPathComponent("safetensors/named_modules.safetensors").path

    func refusal(_ path: String, _ options: LoadOptions) -> String? {
        do { _ = try ModelFiles.load(path, options: options) } catch { return "\(error)" }
        return nil
    }

    @Test func tensorsMustBeTheDefinitions() {
        let path = Self.checkpoint
        #expect(refusal(path, LoadOptions(sequential: "Sequential(Linear(6, 8), BatchNorm1d(8, eps=0.001, momentum=0.3), ReLU(), Linear(8, 3))"))
                == "\(path): [\"model_state_dict\"][\"0.bias\"]: missing (layer \"dense\" is Linear(6, 8))")
        #expect(refusal(path, LoadOptions(sequential: "Sequential(Linear(6, 8, bias=False), BatchNorm1d(8), ReLU(), Linear(8, 3, bias=False))"))
                == "\(path): [\"model_state_dict\"][\"3.bias\"]: unexpected: the Sequential given has no such tensor")
        #expect(refusal(path, LoadOptions(sequential: "Sequential(Linear(5, 8, bias=False), BatchNorm1d(8), ReLU(), Linear(8, 3))"))
                == "\(path): [\"model_state_dict\"][\"0.weight\"]: expected a float tensor of shape [8, 5] for Linear(5, 8, bias=False), got shape [8, 6]")
        #expect(refusal(path, LoadOptions(sequential: "Sequential(Linear(6, 8, bias=False), ReLU(), BatchNorm1d(8), Linear(8, 3))"))
                == "\(path): [\"model_state_dict\"][\"2.weight\"]: missing (layer \"batch_normalization\" is BatchNorm1d(8, eps=1e-05, momentum=0.1))")
        #expect(refusal(path, LoadOptions(activations: [.linear, .linear], sequential: "Sequential(Linear(6, 3))"))
                == "\(path): --sequential: give the activations (--activations) or the whole definition (--sequential), not both")
        #expect(refusal(path, LoadOptions(sequential: "Sequential(Linear(6, 3)"))
                == "\(path): --sequential: column 24: expected ')' closing Sequential(, found the end of the text")
        // Named modules: the constructor form numbers them, print(model) names them.
        #expect(refusal(Self.stateDict, LoadOptions(sequential: "Sequential(Linear(6, 9), ReLU(), Linear(9, 5), Tanh(), Linear(5, 3))"))
                == "\(Self.stateDict): 0.weight: missing (layer \"dense\" is Linear(6, 9))")
    }

    /// A file that records mlpconv's architecture ignores the definition, as it ignores `--activations`.
    @Test func recordedArchitectureWins() throws {
        let folder = try TemporaryFolder()
        let document = try ModelFiles.load(Self.checkpoint, options: LoadOptions(sequential:
            "Sequential(Linear(6, 8, bias=False), BatchNorm1d(8, eps=0.001, momentum=0.3), ReLU(), Linear(8, 3))"))
        let written = folder.path("m.safetensors")
        try ModelFiles.save(document, to: written, format: .safetensors)
        let reread = try ModelFiles.load(written, options: LoadOptions(sequential: "Sequential(Linear(1, 1))"))
        #expect(reread.architecture == document.architecture)
    }
}

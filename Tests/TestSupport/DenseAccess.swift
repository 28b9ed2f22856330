package import MLPCore
package import MLPDocument

// Shorthands for tests whose fixtures are Dense-only models: they read a layer's Dense settings and tensors
// directly, and trap (a test failure) when used on another layer type.

extension ModelDocument.LayerWeights {
    package var kernel: Tensor {
        get { tensors["kernel"]! }
        set { tensors["kernel"] = newValue }
    }

    package var bias: Tensor? {
        get { tensors["bias"] }
        set { tensors["bias"] = newValue }
    }
}

extension ModelDocument.Layer {
    package var units: Int {
        get { dense!.units }
        set { dense!.units = newValue }
    }

    package var activation: Activation {
        get { dense!.activation }
        set { dense!.activation = newValue }
    }

    package var useBias: Bool {
        get { dense!.useBias }
        set { dense!.useBias = newValue }
    }

    package var kernelInitializer: Initializer { dense!.kernelInitializer }
    package var biasInitializer: Initializer { dense!.biasInitializer }
}

extension MLPCore.Layer {
    package var kernel: [T] { self[variable: "kernel"]! }
    package var bias: [T] { self[variable: "bias"] ?? [] }
    package var units: Int { kind.dense!.units }
    package var activation: Activation { kind.dense!.activation }
    package var useBias: Bool { kind.dense!.useBias }
}

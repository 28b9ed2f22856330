import Foundation
import MLPCore
import Testing
@testable import JSONSupport
import MLPDocument
import FormatSupport
@testable import JSONFormat
import TestSupport

/// The published schema, schemas/mlpconv-model.schema.json.
private func schemaURL() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("schemas/mlpconv-model.schema.json")
}

@Suite("JSON model schema")
struct JSONModelSchemaTests {
    /// The schema's object at a `$defs` name (or the root for nil).
    private func definition(_ name: String?, in root: JSONValue) throws -> JSONValue {
        guard let name else { return root }
        return try root.object(at: "$defs").object(at: name)
    }

    private func keys(_ value: JSONValue, _ member: String) throws -> [String] {
        try value.object(at: member).keys()
    }

    private func strings(_ value: JSONValue) throws -> [String] {
        try value.array().map { try $0.string() }
    }

    @Test("the schema parses and lists exactly the reader's keys, required keys and names")
    func schemaMatchesReader() throws {
        let schema = try JSONDocument.parse(contentsOfFile: schemaURL().path).root
        #expect(try schema.value(at: "$schema").string() == "https://json-schema.org/draft/2020-12/schema")
        #expect(try schema.object(at: "properties").object(at: "format").value(at: "const").string() == ModelDocument.formatName)
        #expect(try schema.object(at: "properties").object(at: "format_version").value(at: "const").int64()
                == Int64(ModelDocument.formatVersion))

        // Objects the reader is strict about: every key it accepts is described, no other is allowed.
        let objects: [(String?, Set<String>, [String])] = [
            (nil, JSONModelCodec.documentKeys, ["format", "format_version", "architecture", "weights"]),
            ("architecture", DocumentJSON.architectureKeys, ["input_width", "layers"]),
            ("denseLayer", DocumentJSON.denseKeys.union(["type"]), ["name", "units", "activation"]),
            ("tensor", JSONModelCodec.tensorKeys, ["dtype", "shape", "data"]),
            ("training", JSONModelCodec.trainingKeys, ["loss", "optimizer", "epochs_completed"]),
            ("loss", DocumentJSON.lossKeys, ["name"]),
            ("optimizer", JSONModelCodec.optimizerKeys, ["name", "hyperparameters", "iterations", "slots"]),
        ]
        for (name, readerKeys, required) in objects {
            let object = try definition(name, in: schema)
            #expect(Set(try keys(object, "properties")) == readerKeys, "\(name ?? "root")")
            #expect(try strings(object.value(at: "required")) == required, "\(name ?? "root")")
            #expect(try object.value(at: "additionalProperties").bool() == false, "\(name ?? "root")")
        }

        // Names from the core's closed sets.
        let layer = try definition("denseLayer", in: schema).object(at: "properties")
        #expect(try strings(layer.object(at: "activation").value(at: "enum")) == Activation.acceptedNames)
        #expect(try strings(layer.object(at: "kernel_initializer").value(at: "enum")) == Initializer.acceptedNames)
        let training = try definition("training", in: schema).object(at: "properties")
        #expect(try training.object(at: "loss").value(at: "oneOf").array().map { try $0.value(at: "$ref").string() }
                == ["#/$defs/loss_name", "#/$defs/loss"])
        #expect(try strings(definition("loss_name", in: schema).value(at: "enum")) == Loss.acceptedNames)
        // The object form names a kind: torch's class names stand for a kind with settings and are plain names only.
        #expect(try strings(definition("loss_kind_name", in: schema).value(at: "enum")) == LossKind.acceptedNames)
        #expect(try definition("loss", in: schema).object(at: "properties").object(at: "name").value(at: "$ref").string()
                == "#/$defs/loss_kind_name")
        // Each loss setting is allowed for exactly the names (aliases included) whose loss has it.
        for rule in try definition("loss", in: schema).value(at: "allOf").array() {
            let setting = try strings(rule.object(at: "if").value(at: "required"))
            let names = try strings(rule.object(at: "then").object(at: "properties").object(at: "name").value(at: "enum"))
            let having = Loss.acceptedNames.filter { name in
                LossKind(name: name).map { DocumentJSON.lossKeys(of: $0).contains(setting.first ?? "") } ?? false
            }
            #expect(names == having, "\(setting)")
        }
        let optimizer = try definition("optimizer", in: schema).object(at: "properties")
        #expect(try strings(optimizer.object(at: "name").value(at: "enum"))
                == OptimizerKind.acceptedNames + ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "Adamax", "Lion",
                                                  "Adadelta", "Ftrl", "Lamb"])
        let slotNames = try strings(optimizer.object(at: "slots").object(at: "propertyNames").value(at: "enum"))
        var allSlots = Set<String>()
        for kind in OptimizerKind.allCases {
            var config = OptimizerConfig(kind)
            (config.momentum, config.amsgrad, config.centered) = (0.5, true, true)
            (config.useEMA, config.gradientAccumulationSteps) = (true, 2)
            allSlots.formUnion(config.slotNames)
        }
        #expect(Set(slotNames) == allSlots)
        let scalarNames = try strings(optimizer.object(at: "scalars").object(at: "propertyNames").value(at: "enum"))
        #expect(Set(scalarNames) == Set(OptimizerKind.allCases.flatMap { kind in
            var config = OptimizerConfig(kind)
            config.dynamicLossScale = .init()
            return config.scalarNames
        }))
        let tensorProperties = try definition("tensor", in: schema).object(at: "properties")
        #expect(try strings(tensorProperties.object(at: "dtype").value(at: "enum")) == Tensor.DType.allCases.map(\.rawValue))
        #expect(try tensorProperties.object(at: "shape").value(at: "maxItems").int64() == Int64(JSONModelCodec.maxRank))

        // Every optimizer's hyperparameters are described with exactly the keys the core accepts.
        let rules = try definition("optimizer", in: schema).value(at: "allOf").array()
        for kind in OptimizerKind.allCases {
            let rule = try #require(try rules.first { rule in
                try strings(rule.object(at: "if").object(at: "properties").object(at: "name").value(at: "enum")).contains(kind.name)
            })
            let described = try rule.object(at: "then").object(at: "properties").object(at: "hyperparameters")
                .object(at: "properties").keys()
            // The wrappers' keys, which every Keras optimizer takes, are listed only when set; torch's take none.
            let wrappers = kind.isTorch ? [] : OptimizerConfig.wrapperKeys
            #expect(Set(described) == Set(OptimizerConfig(kind).hyperparameters.map(\.key)).union(wrappers), "\(kind)")
        }
    }

    @Test("a bad document's missing required keys are ones the schema requires")
    func badDocumentRequiredKeys() throws {
        let schema = try JSONDocument.parse(contentsOfFile: schemaURL().path).root
        let required = Set(try strings(schema.value(at: "required")))
        let bad = #"{"format": "mlpconv-model", "format_version": 1}"#
        let error = expectError(ModelFileError.self) { _ = try decodeJSON(bad) }
        #expect(error?.description == "model.json: $.architecture: required key \"architecture\" is missing")
        #expect(required.isSuperset(of: ["architecture", "weights"]))
        let present = Set(try JSONDocument.parse(Array(bad.utf8), file: "m").root.keys())
        #expect(required.subtracting(present) == ["architecture", "weights"])
    }
}

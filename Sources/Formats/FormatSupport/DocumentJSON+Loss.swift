import MLPCore
import JSONSupport
import MLPDocument

// The stored form of a loss, shared by the JSON codec (`training.loss`) and the HDF5 codec (`/training@loss`): the
// plain name while every setting is its default, so files without settings read as before; otherwise an object
// naming the loss and every setting it has. A reader that predates the settings refuses the object instead of
// silently training the plain loss.
extension DocumentJSON {
    package static let lossKeys: Set<String> = ["name", "from_logits", "label_smoothing", "delta", "beta"]

    /// The keys that apply to a loss: `name` and its settings.
    package static func lossKeys(of kind: LossKind) -> [String] {
        ["name"] + (kind.acceptsLogits ? ["from_logits"] : []) + (kind.acceptsLabelSmoothing ? ["label_smoothing"] : [])
            + (kind == .huber ? ["delta"] : []) + (kind == .smoothL1 ? ["beta"] : [])
    }

    package static func write(_ loss: Loss, to writer: inout JSONWriter) {
        guard !loss.hasDefaultSettings else {
            writer.string(loss.name)
            return
        }
        writer.beginObject(inline: true)
        for key in lossKeys(of: loss.kind) {
            writer.key(key)
            switch key {
            case "from_logits": writer.bool(loss.fromLogits)
            case "label_smoothing": writer.number(loss.labelSmoothing)
            case "delta": writer.number(loss.delta)
            case "beta": writer.number(loss.beta)
            default: writer.string(loss.name)
            }
        }
        writer.endObject()
    }

    /// What `/training@loss` holds: the name, or the object's JSON text.
    package static func lossText(_ loss: Loss) -> String {
        if loss.hasDefaultSettings { return loss.name }
        var writer = JSONWriter()
        write(loss, to: &writer)
        return String(decoding: writer.finish(), as: UTF8.self)
    }

    /// A name (or alias), or `{"name": …, "from_logits": …, "label_smoothing": …, "delta": …, "beta": …}` with only
    /// the settings the loss has.
    package static func readLoss(_ value: JSONValue) throws(JSONError) -> Loss {
        if value.kind == .string {
            let name = try value.string()
            guard let loss = Loss(name: name) else {
                throw value.error(.value, "unknown loss \"\(name)\"; supported: \(Loss.acceptedNames.joined(separator: ", "))")
            }
            return loss
        }
        guard value.kind == .object else {
            throw value.error(.type, "expected a loss name or an object {\"name\": …, settings}")
        }
        try requireKeys(value, allowed: lossKeys)
        let kind = try named(value, "name", LossKind.init(name:), LossKind.acceptedNames, what: "loss")
        let allowed = lossKeys(of: kind)
        for key in try value.keys() where !allowed.contains(key) {
            let settings = allowed.dropFirst()
            throw try value.value(at: key).error(.value, "\(key) does not apply to \(kind.name), "
                + (settings.isEmpty ? "which has no settings" : "whose settings are \(settings.joined(separator: ", "))"))
        }
        let fromLogits = try value.optionalValue(at: "from_logits")?.bool() ?? false
        let smoothingValue = try value.optionalValue(at: "label_smoothing")
        let deltaValue = try value.optionalValue(at: "delta")
        let labelSmoothing = try smoothingValue?.double() ?? 0
        let delta = try deltaValue?.double() ?? Loss.defaultDelta
        let betaValue = try value.optionalValue(at: "beta")
        let beta = try betaValue?.double() ?? Loss.defaultBeta
        do {
            return try Loss(kind, fromLogits: fromLogits, labelSmoothing: labelSmoothing, delta: delta, beta: beta)
        } catch {
            // Only a number can be out of range here: inapplicable keys were refused above.
            throw ((kind == .huber ? deltaValue : kind == .smoothL1 ? betaValue : smoothingValue) ?? value)
                .error(.value, error.description)
        }
    }

    /// `/training@loss`: a name, or an object's JSON text (it starts with `{`).
    package static func readLoss(text: String, file: String, object: String) throws(ModelFileError) -> Loss {
        guard text.hasPrefix("{") else {
            guard let loss = Loss(name: text) else {
                throw ModelFileError(file: file, object: object,
                                     reason: "unknown loss \"\(text)\"; supported: \(Loss.acceptedNames.joined(separator: ", "))")
            }
            return loss
        }
        do {
            let document = try JSONDocument.parse(Array(text.utf8), file: file, limits: JSONLimits(maxBytes: 4096, maxDepth: 2))
            return try readLoss(document.root)
        } catch {
            throw ModelFileError(file: file, object: "\(object) \(error.path)", reason: error.reason)
        }
    }
}

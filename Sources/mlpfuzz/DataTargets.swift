import Foundation
import HDF5Support
import MLPCore
import MLPDataFiles
import ZipSupport

// The data readers take a path: each input is written to one scratch file. Its first byte is not part of the file
// but picks the model the data is shaped for (inputs, outputs, loss), so the fuzzer explores those too. Inputs
// with an HDF5 signature anywhere are skipped: HDF5 data is read by libhdf5, which is C and not fuzzed here.

let dataTargets: [FuzzTarget] = [
    FuzzTarget(name: "npy", summary: "a .npy data file: header literal parser, shape and size checks, values",
               run: { fuzzDataFile($0, target: "npy") }),
    FuzzTarget(name: "npz", summary: "an .npz data file: zip archive, x and y arrays, labels and one-hot targets",
               run: { fuzzDataFile($0, target: "npz") }),
    FuzzTarget(name: "csv", summary: "a CSV data file: header detection, cells, labels and one-hot targets",
               run: { fuzzDataFile($0, target: "csv") }),
]

/// The model a data file is read for, from one byte.
private struct ModelChoice {
    var inputs: Int
    var outputs: Int
    var loss: Loss?

    init(_ byte: UInt8) {
        inputs = 1 + Int(byte & 7)
        outputs = 1 + Int((byte >> 3) & 3)
        loss = [nil, .meanSquaredError, .categoricalCrossentropy, .sparseCategoricalCrossentropy][Int(byte >> 5) & 3]
    }
}

/// Whether `bytes` holds the HDF5 signature anywhere.
private func containsHDF5Signature(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let signature = HDF5Signature.bytes
    guard bytes.count >= signature.count else { return false }
    return (0...(bytes.count - signature.count)).contains { start in
        signature.indices.allSatisfy { bytes[start + $0] == signature[$0] }
    }
}

/// Each target reads only the files it is about (the format is detected from the content, as the loader does).
private func isFormat(_ target: String, _ file: UnsafeRawBufferPointer) -> Bool {
    let isNPY = file.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59])
    let isZip = ZipSignature.starts(file.prefix(8))
    switch target {
    case "npy": return isNPY
    case "npz": return isZip
    default: return !isNPY && !isZip
    }
}

/// `load` for training (targets required when the loss is known) and `loadFeatures` for prediction: a refusal
/// names the file with a reason; a dataset has the model's widths, whole rows, and finite values only.
private func fuzzDataFile(_ input: UnsafeRawBufferPointer, target: String) {
    guard let selector = input.first else { return }
    let file = UnsafeRawBufferPointer(rebasing: input.dropFirst())
    guard isFormat(target, file), !containsHDF5Signature(file) else { return }
    ScratchFile.shared.write(file)
    let path = ScratchFile.shared.path
    let model = ModelChoice(selector)
    let limits = DataLimits(maxBytes: 1 << 20, maxValues: 1 << 18, maxArchiveEntries: 16)

    func check(_ load: () throws(DataFileError) -> Dataset<Float>, targetWidths: Set<Int>) {
        let dataset: Dataset<Float>
        do { dataset = try load() } catch {
            guard error.file == path, !error.reason.isEmpty else {
                violated(target, "an error that does not name the file or has no reason: \(error)")
            }
            return
        }
        guard dataset.featureWidth == model.inputs, dataset.features.count == dataset.count * model.inputs,
              targetWidths.contains(dataset.targetWidth),
              dataset.targets.count == dataset.count * dataset.targetWidth else {
            violated(target, "a dataset of \(dataset.count) rows, \(dataset.features.count) features of width "
                     + "\(dataset.featureWidth), \(dataset.targets.count) targets of width \(dataset.targetWidth), "
                     + "for a model of \(model.inputs) inputs and \(model.outputs) outputs, loss \(model.loss?.name ?? "none")")
        }
        guard dataset.features.allSatisfy(\.isFinite), dataset.targets.allSatisfy(\.isFinite) else {
            violated(target, "a dataset with a value that is not finite")
        }
    }

    let widths: Set<Int> = model.loss.map { [$0.targetWidth(outputWidth: model.outputs)] }
        ?? [1, model.outputs]
    // Training needs targets when the loss is known; without one, a file of features only is read as such.
    check({ () throws(DataFileError) in
        try DataFiles.load(path, inputWidth: model.inputs, outputWidth: model.outputs, loss: model.loss,
                           requireTargets: model.loss != nil, limits: limits)
    }, targetWidths: model.loss == nil ? widths.union([0]) : widths)
    check({ () throws(DataFileError) in
        try DataFiles.loadFeatures(path, inputWidth: model.inputs, outputWidth: model.outputs, limits: limits)
    }, targetWidths: [0])
}

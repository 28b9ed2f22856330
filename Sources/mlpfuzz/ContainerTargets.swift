import Foundation
import MLPCore
import MLPDocument
import ONNXFormat
import PickleSupport
import SafetensorsFormat
import TorchFormat
import ZipSupport

let containerTargets: [FuzzTarget] = [
    FuzzTarget(name: "zip", summary: "the zip reader, in memory and from a file, and the stored-zip writer",
               run: fuzzZip),
    FuzzTarget(name: "safetensors", summary: "the safetensors header and codec: decode, validate, encode, decode again",
               run: fuzzSafetensors),
    FuzzTarget(name: "pickle", summary: "the restricted unpickler, and the pickle writer on what it accepts",
               run: fuzzPickle),
    FuzzTarget(name: "torch", summary: "a torch.save archive: the zip container, the unpickler and the checkpoint reader",
               run: fuzzTorch),
    FuzzTarget(name: "onnx", summary: "the ONNX protobuf scan and importer: decode, validate, export, import again",
               run: fuzzONNX),
]

// MARK: - Zip

/// The reader from memory and from a file agree on every member; a member read is as long as it declares; the
/// members read, archived again by the writer, read back the same.
private func fuzzZip(_ bytes: UnsafeRawBufferPointer) {
    let target = "zip"
    let cap = 1 << 20
    func checkFailure(_ failure: ZipReader.Failure) {
        guard !failure.description.isEmpty else { violated(target, "a failure without a reason") }
    }
    let memory: ZipReader
    do { memory = try ZipReader(Data(bytes), maxEntries: 64) } catch {
        checkFailure(error)
        return
    }
    ScratchFile.shared.write(bytes)
    guard let handle = FileHandle(forReadingAtPath: ScratchFile.shared.path) else {
        violated(target, "cannot open the scratch file \(ScratchFile.shared.path)")
    }
    defer { try? handle.close() }
    let file: ZipReader
    do { file = try ZipReader(file: handle, maxEntries: 64) } catch {
        violated(target, "read from memory but refused from a file: \(error)")
    }
    guard file.entries.map(\.name) == memory.entries.map(\.name) else {
        violated(target, "the entries read from memory and from a file differ")
    }
    var members: [StoredZip.Member] = []
    for (entry, fileEntry) in zip(memory.entries, file.entries) {
        let content: Data
        do { content = try memory.contents(of: entry, cap: cap) } catch {
            checkFailure(error)
            do {
                _ = try file.contents(of: fileEntry, cap: cap)
                violated(target, "member \"\(entry.name)\" refused from memory (\(error)) but read from a file")
            } catch { checkFailure(error) }
            continue
        }
        guard content.count == entry.uncompressedSize, content.count <= cap else {
            violated(target, "member \"\(entry.name)\" read as \(content.count) bytes; it declares \(entry.uncompressedSize)")
        }
        do {
            guard try file.contents(of: fileEntry, cap: cap) == content else {
                violated(target, "member \"\(entry.name)\" reads differently from memory and from a file")
            }
        } catch {
            violated(target, "member \"\(entry.name)\" read from memory but refused from a file: \(error)")
        }
        members.append(StoredZip.Member(name: entry.name, data: content))
    }
    let rewritten = StoredZip(modified: Date(timeIntervalSince1970: 0)).archive(members)
    do {
        let reread = try ZipReader(rewritten, maxEntries: 64)
        guard reread.entries.map(\.name) == members.map(\.name) else {
            violated(target, "the rewritten archive's names differ")
        }
        for (entry, member) in zip(reread.entries, members) where try reread.contents(of: entry, cap: cap) != member.data {
            violated(target, "member \"\(entry.name)\" of the rewritten archive reads differently")
        }
    } catch {
        violated(target, "the rewritten archive is refused: \(error)")
    }
}

// MARK: - safetensors

/// Decode; an accepted document is valid and encodes to bytes that decode to a document encoding to the same bytes.
private func fuzzSafetensors(_ bytes: UnsafeRawBufferPointer) {
    let target = "safetensors"
    let document: ModelDocument
    do { document = try SafetensorsCodec.decode(Array(bytes), file: fuzzFileName, limits: fuzzLoadLimits) } catch {
        checkModelFileError(error, target)
        return
    }
    checkValid(document, target)
    roundTrip(document, target) { document throws(ModelFileError) in
        try SafetensorsCodec.encode(document, file: fuzzFileName).model
    } decode: { bytes throws(ModelFileError) in
        try SafetensorsCodec.decode(bytes, file: fuzzFileName, limits: LoadLimits())
    }
}

/// `encode(decode(encode(document))) == encode(document)`: what the writer writes, the reader reads as it was.
func roundTrip(_ document: ModelDocument, _ target: String, file: String = fuzzFileName,
               encode: (ModelDocument) throws(ModelFileError) -> [UInt8],
               decode: ([UInt8]) throws(ModelFileError) -> ModelDocument) {
    let encoded: [UInt8]
    do { encoded = try encode(document) } catch {
        // A document the format cannot hold (say, a layer it has no operator for) is refused by its writer.
        checkModelFileError(error, target, file: file)
        return
    }
    do {
        let again = try decode(encoded)
        checkValid(again, target)
        guard try encode(again) == encoded else { violated(target, "the written file does not read back the same") }
    } catch {
        violated(target, "the file written from an accepted document is refused: \(error)")
    }
}

// MARK: - Pickle

/// Unpickle; a refusal has a reason; an accepted value the writer can pickle reads back as a value pickling the same.
private func fuzzPickle(_ bytes: UnsafeRawBufferPointer) {
    let target = "pickle"
    let value: PickleValue
    // The default margin (4,096 values beyond one per byte) lets shared memo entries expand a few hundred bytes
    // into thousands of values, and inputs the fuzzer keeps drift there, spending their time copying values. A small
    // margin reaches the same code, the budget's refusal included, at a few values per byte.
    let limits = PickleLimits(maxDepth: PickleLimits.derived(fromByteCount: 0).maxDepth, maxValues: bytes.count + 256)
    do { value = try PickleReader(Data(bytes), limits: limits).read() } catch {
        guard !error.reason.isEmpty, error.offset >= 0, error.offset <= bytes.count else {
            violated(target, "a failure without a reason or outside the input: \(error)")
        }
        return
    }
    let pickled: Data
    do { pickled = try PickleWriter.pickle(value).data } catch {
        guard !error.description.isEmpty else { violated(target, "a write failure without a reason") }
        return
    }
    do {
        guard try PickleWriter.pickle(try PickleReader(pickled).read()).data == pickled else {
            violated(target, "the writer's pickle reads back as a different value")
        }
    } catch {
        violated(target, "the writer's pickle of an accepted value is refused: \(error)")
    }
}

// MARK: - torch.save checkpoints

/// The archive, then the checkpoint: a refusal names the file with a reason, an accepted document is valid.
private func fuzzTorch(_ bytes: UnsafeRawBufferPointer) {
    let target = "torch"
    let archive: TorchArchive
    do {
        archive = try TorchArchive(data: Data(bytes), file: fuzzFileName,
                                   limits: TorchArchiveLimits(maxFileBytes: fuzzLoadLimits.maxFileBytes))
    } catch {
        guard error.file == fuzzFileName, !error.reason.isEmpty else {
            violated(target, "an archive error that does not name the file or has no reason: \(error)")
        }
        return
    }
    for options in [LoadOptions(), LoadOptions(loss: .meanSquaredError)] {
        do {
            checkValid(try TorchCheckpointReader.decode(archive, file: fuzzFileName, limits: fuzzLoadLimits,
                                                        options: options), target)
        } catch {
            checkModelFileError(error, target)
        }
    }
}

// MARK: - ONNX

/// Import; an accepted document is valid, and one the exporter can write imports again as the same model.
private func fuzzONNX(_ bytes: UnsafeRawBufferPointer) {
    let target = "onnx"
    // External data is looked for beside the file: in a folder that does not exist, so none is ever found.
    let file = "/nonexistent-mlpfuzz/\(fuzzFileName)"
    let document: ModelDocument
    do { document = try ONNXImporter.decode(Data(bytes), file: file, limits: fuzzLoadLimits) } catch {
        checkModelFileError(error, target, file: file)
        return
    }
    checkValid(document, target)
    roundTrip(document, target, file: file) { document throws(ModelFileError) in
        let export = try ONNXExporter.encode(document, file: file, options: SaveOptions())
        return [UInt8](export.model)
    } decode: { bytes throws(ModelFileError) in
        try ONNXImporter.decode(Data(bytes), file: file, limits: LoadLimits())
    }
}

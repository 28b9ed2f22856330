import Foundation
import MLPCore
import MLPDocument
import MLPModelFiles
import Testing

// End-to-end: `convert … model.onnx` / `--to onnx`, `--opset`, `--external-data` (docs/onnx.md, "Export").

struct ONNXExportCLITests {
    @Test func convertSaysInOneLineThatTheTrainingStateWasDropped() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let output = scratch.path("model.onnx")
        let converted = try mlpconv(["convert", h5, output])
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(converted.stderr == "mlpconv: training state left out: ONNX holds a model for inference (no loss, optimizer or "
            + "history); keep the source file to resume training\n")
        #expect(converted.stdout.hasPrefix("wrote \(output) (onnx, "))
        #expect(converted.stdout.contains("no training state) from \(h5) (hdf5)"))
        #expect(!FileManager.default.fileExists(atPath: output + ".data"))

        // The producer version is the CLI's: protobuf field 3 (tag 0x1A), a one-byte length, the text.
        let version = try mlpconv(["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
        let field = [0x1A, UInt8(version.utf8.count)] + Array(version.utf8)
        #expect(bytes.indices.contains { bytes[$0...].starts(with: field) }, "producer_version \(version)")

        let json = try jsonObject(try mlpconv(["convert", h5, scratch.path("again.onnx"), "--json"]).stdout)
        #expect(json["format"] as? String == "onnx")
        #expect(json["training_state"] as? Bool == false)
        #expect((json["notes"] as? [String])?.count == 1)
    }

    @Test func opsetAndExternalData() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let output = scratch.path("net.bin")
        let converted = try mlpconv(["convert", h5, output, "--to", "onnx", "--opset", "20", "--external-data"])
        #expect(converted.status == 0, "\(converted.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: output + ".data"))
        // Two Dense layers (kernel and bias each), 4→6→3 float32 values, each tensor starting at a multiple of 4096.
        #expect(data.count == 3 * 4096 + 3 * 4)
        let model = try Data(contentsOf: URL(fileURLWithPath: output))
        #expect(model.count < 4096)
        #expect(String(decoding: model, as: UTF8.self).contains("net.bin.data"))
    }

    @Test func refusedOptions() throws {
        let scratch = try Scratch()
        let (h5, _) = try sampleModelFile(scratch)
        let output = scratch.path("model.onnx")
        let old = try mlpconv(["convert", h5, output, "--opset", "12"])
        #expect(old.status == 2)
        #expect(old.stderr == "mlpconv: \(output): ONNX opset 12 is not supported: mlpconv exports opsets 13 to 21 (default 17)\n")
        #expect(!FileManager.default.fileExists(atPath: output))

        let notONNX = try mlpconv(["convert", h5, scratch.path("model.json"), "--external-data"])
        #expect(notONNX.status != 0)
        #expect(notONNX.stderr.contains("--opset and --external-data apply to ONNX output only"))
    }

    @Test func composedActivationsAreNoted() throws {
        let scratch = try Scratch()
        let path = try smallModelFile(scratch, name: "gelu.json", hidden: .gelu, output: .softmax, loss: .categoricalCrossentropy)
        let converted = try mlpconv(["convert", path, scratch.path("gelu.onnx"), "--drop-optimizer"])
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(converted.stderr == "mlpconv: ONNX opset 17: gelu composed as x·(1 + Erf(x/√2))/2; the Gelu op needs opset 20 (--opset 20)\n")
        let newer = try mlpconv(["convert", path, scratch.path("gelu20.onnx"), "--drop-optimizer", "--opset", "20"])
        #expect(newer.status == 0 && newer.stderr.isEmpty, "\(newer.stderr)")
    }
}

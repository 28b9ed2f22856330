import Testing
import MLPCore
import HDF5Support
import MLPDocument
@testable import HDF5Format
import TestSupport

/// `/training@loss` with settings: the name while every setting is default, the loss object's JSON text otherwise,
/// read strictly.
struct HDF5LossSettingsTests {
    static let losses: [Loss] = [.poisson, .categoricalHinge] + [
        try? Loss(.binaryCrossentropy, fromLogits: true, labelSmoothing: 0.2),
        try? Loss(.categoricalCrossentropy, labelSmoothing: 0.1),
        try? Loss(.sparseCategoricalCrossentropy, fromLogits: true), try? Loss(.huber, delta: 0.25),
    ].compactMap { $0 }

    @Test("a loss and its settings survive the round trip, stored as the name or the object's text", arguments: losses)
    func roundTrip(loss: Loss) throws {
        let folder = try TemporaryFolder()
        var factory = DocumentFactory(seed: 11)
        var document = factory.document(optimizer: OptimizerConfig(.adam))
        document.training?.loss = loss
        let (path, _) = try writeSample(folder, document)
        let stored = try HDF5File.openReadOnly(at: path).openGroup("training").stringAttribute("loss")
        if loss.hasDefaultSettings {
            #expect(stored == loss.name)
        } else {
            #expect(stored.hasPrefix("{\"name\":\"\(loss.name)\","), "\(stored)")
        }
        let back = try HDF5ModelCodec.read(path: path, file: "model.h5", limits: LoadLimits())
        #expect(back.training?.loss == loss)
    }

    @Test("bad loss texts are refused naming /training@loss and the reason", arguments: [
        (#"{"name":"mse","delta":2}"#, "/training@loss $.delta: delta does not apply to mean_squared_error"),
        (#"{"name":"bce","label_smoothing":2}"#, "/training@loss $.label_smoothing: loss binary_crossentropy label_smoothing must be in [0, 1], got 2.0"),
        (#"{"name":"huber","delta":1,"x":1}"#, "/training@loss $: unknown key \"x\""),
        (#"{"name":"huber""#, "/training@loss $.name: unexpected end of input"),
        (#"{"name":"huber"} x"#, "/training@loss $"),
        ("Huber", "/training@loss: unknown loss \"Huber\"; supported: half_squared_error"),
    ])
    func refuses(text: String, message: String) throws {
        let folder = try TemporaryFolder()
        let (path, _) = try writeSample(folder)
        try tamper(path) { try $0.openGroup("training").setAttribute("loss", .string(text)) }
        let error = readError(path) ?? ""
        #expect(error.hasPrefix("model.h5: " + message), "\(error)")
    }
}

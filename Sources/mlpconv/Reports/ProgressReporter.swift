import Foundation
import MLPCore

/// Training progress on stderr: a live bar redrawn in place on a terminal, one line per epoch otherwise,
/// nothing when quiet.
final class ProgressReporter {
    enum Mode { case silent, lines, live }

    private let mode: Mode
    private let epochs: Int
    private var epoch = 0
    private var absoluteEpoch = 0
    private var epochStart = ContinuousClock.now
    private var lastDraw = ContinuousClock.now
    /// finetune's fixed costs outside the epochs (loading, the evaluations before and after, saving), in order.
    private(set) var phases: [(name: String, seconds: Double)] = []

    init(mode: Mode, epochs: Int) {
        self.mode = mode
        self.epochs = epochs
    }

    func startEpoch(_ epoch: Int, absolute: Int) {
        self.epoch = epoch
        absoluteEpoch = absolute
        epochStart = .now
    }

    func handle(_ event: TrainingEvent) {
        guard mode == .live, case .batchEnd(_, let batch, let batches, let samples, let meanLoss) = event else { return }
        // Redrawing for every tiny batch would cost more than the training itself.
        let now = ContinuousClock.now
        guard batch == batches || now - lastDraw > .milliseconds(100) else { return }
        lastDraw = now
        let elapsed = (now - epochStart).seconds
        let rate = elapsed > 0 ? Double(samples) / elapsed : 0
        let remainingBatches = Double(batches - batch) + Double(epochs - epoch) * Double(batches)
        let eta = batch > 0 ? remainingBatches * elapsed / Double(batch) : 0
        let width = 24
        let filled = batches > 0 ? width * batch / batches : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        write("\r\u{1B}[2Kepoch \(epoch)/\(epochs) \(bar) \(batch)/\(batches)  loss \(formatMetric(meanLoss))  \(Int(rate).formatted()) samples/s  ETA \(formatDuration(eta))")
    }

    func finishEpoch(_ record: EpochRecord, elapsed: Duration) {
        guard mode != .silent else { return }
        let metrics = record.orderedKeys.map { "\($0) \(formatMetric(record.metrics[$0] ?? .nan))" }.joined(separator: "  ")
        let line = "epoch \(epoch)/\(epochs) (\(absoluteEpoch) in all)  \(metrics)  \(formatSeconds((ContinuousClock.now - epochStart).seconds))"
        write(mode == .live ? "\r\u{1B}[2K" + line + "\n" : line + "\n")
    }

    /// Runs one fixed-cost step as its own phase: timed for the summary, and named on a live terminal while it runs
    /// (evaluating 20,000 rows twice costs about half an epoch's time: it should not look like a hang).
    @discardableResult
    func phase<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        if mode == .live { write("\r\u{1B}[2K\(name)…") }
        let start = ContinuousClock.now
        let result = try body()
        phases.append((name, (ContinuousClock.now - start).seconds))
        if mode == .live { write("\r\u{1B}[2K") }
        return result
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

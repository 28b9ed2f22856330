import Foundation
import MLPCore
internal import FileSupport

/// An SVG chart of a model's history: loss and validation loss on the left axis, accuracy and validation
/// accuracy (when recorded) on the right one, against the epoch.
struct LossPlot {
    let history: [EpochRecord]
    let title: String

    private let width = 720.0, height = 400.0
    private let left = 70.0, right = 70.0, top = 40.0, bottom = 50.0

    func write(to path: String) throws {
        guard !history.isEmpty else { throw CommandError("\(path): the model has no training history to plot") }
        // Like the model: atomically, through a symbolic link to its target.
        let failure = { (error: FileFailure) in CommandError("\(path): cannot write the plot: \(error.reason)") }
        try AtomicFile.replace(path, failure: failure) { temporary throws(CommandError) in
            try AtomicFile.write(Data(svg.utf8), to: temporary, failure: failure)
        }
    }

    var svg: String {
        let epochs = history.map { Double($0.epoch) }
        let minEpoch = epochs.min() ?? 0, maxEpoch = max(epochs.max() ?? 1, minEpoch + 1)
        let losses = history.flatMap { [$0.metrics["loss"], $0.metrics["val_loss"]].compactMap { $0 } }.filter(\.isFinite)
        let lossLow = min(0, losses.min() ?? 0), lossHigh = max(losses.max() ?? 1, lossLow + 1e-12)
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func x(_ epoch: Double) -> Double { left + (epoch - minEpoch) / (maxEpoch - minEpoch) * plotWidth }
        func yLoss(_ value: Double) -> Double { top + (1 - (value - lossLow) / (lossHigh - lossLow)) * plotHeight }
        func yAccuracy(_ value: Double) -> Double { top + (1 - value) * plotHeight }

        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width / 2)" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>
            <rect x="\(left)" y="\(top)" width="\(plotWidth)" height="\(plotHeight)" fill="none" stroke="#888"/>

            """
        for i in 0...4 {
            let value = lossLow + (lossHigh - lossLow) * Double(i) / 4
            out += "<text x=\"\(left - 6)\" y=\"\(format(yLoss(value) + 4))\" text-anchor=\"end\">\(formatMetric(value))</text>\n"
            out += "<line x1=\"\(left)\" x2=\"\(left + plotWidth)\" y1=\"\(format(yLoss(value)))\" y2=\"\(format(yLoss(value)))\" stroke=\"#eee\"/>\n"
        }
        for epoch in ticks(from: minEpoch, to: maxEpoch) {
            out += "<text x=\"\(format(x(epoch)))\" y=\"\(top + plotHeight + 18)\" text-anchor=\"middle\">\(Int(epoch))</text>\n"
        }
        out += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">epoch</text>\n"
        out += "<text x=\"16\" y=\"\(top + plotHeight / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(top + plotHeight / 2))\">loss</text>\n"

        let hasAccuracy = history.contains { $0.metrics["accuracy"] != nil || $0.metrics["val_accuracy"] != nil }
        if hasAccuracy {
            for i in 0...4 {
                let value = Double(i) / 4
                out += "<text x=\"\(left + plotWidth + 6)\" y=\"\(format(yAccuracy(value) + 4))\">\(String(format: "%.2f", value))</text>\n"
            }
            out += "<text x=\"\(width - 16)\" y=\"\(top + plotHeight / 2)\" text-anchor=\"middle\" transform=\"rotate(90 \(width - 16) \(top + plotHeight / 2))\">accuracy</text>\n"
        }
        let series: [(key: String, color: String, dashed: Bool, y: (Double) -> Double)] = [
            ("loss", "#1f77b4", false, yLoss), ("val_loss", "#ff7f0e", false, yLoss),
            ("accuracy", "#2ca02c", true, yAccuracy), ("val_accuracy", "#d62728", true, yAccuracy),
        ]
        let shown = series.filter { line in history.contains { $0.metrics[line.key]?.isFinite == true } }
        // The legend goes last, on a white panel, so lines never run through its labels.
        var legend = "<rect x=\"\(left + 4)\" y=\"\(top + 2)\" width=\"120\" height=\"\(Double(shown.count) * 16 + 6)\" fill=\"white\" fill-opacity=\"0.85\"/>\n"
        var legendY = top + 14
        for line in shown {
            let points = history.compactMap { record -> String? in
                guard let value = record.metrics[line.key], value.isFinite else { return nil }
                return "\(format(x(Double(record.epoch)))),\(format(line.y(value)))"
            }
            guard !points.isEmpty else { continue }
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
            if points.count == 1 {
                let xy = points[0].split(separator: ",")
                out += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(line.color)\"/>\n"
            }
            legend += "<line x1=\"\(left + 10)\" x2=\"\(left + 34)\" y1=\"\(legendY - 4)\" y2=\"\(legendY - 4)\" stroke=\"\(line.color)\" stroke-width=\"2\"\(dash)/>"
            legend += "<text x=\"\(left + 40)\" y=\"\(legendY)\">\(line.key)</text>\n"
            legendY += 16
        }
        return out + legend + "</svg>\n"
    }

    private func ticks(from low: Double, to high: Double) -> [Double] {
        let span = high - low
        let step = max(1, (span / 8).rounded(.up))
        return stride(from: low, through: high, by: step).map { $0 }
    }

    private func format(_ value: Double) -> String { String(format: "%.1f", value) }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}

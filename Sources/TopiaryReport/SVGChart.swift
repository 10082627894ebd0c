import Foundation

/// A line chart as SVG: labelled axes with units, ticks, a legend, optional log y axis,
/// horizontal reference lines and a shaded band. Written by hand (no plotting library here),
/// checked by rendering it in the tests.
public struct SVGChart {
    public struct Series {
        public let name: String
        public let points: [(x: Double, y: Double)]
        public var dashed = false
        /// Half-lengths of vertical error bars (e.g. one standard deviation), one per point.
        public var errors: [Double]?
        public init(name: String, points: [(x: Double, y: Double)], dashed: Bool = false, errors: [Double]? = nil) {
            precondition(errors == nil || errors!.count == points.count, "one error bar per point")
            self.name = name
            self.points = points
            self.dashed = dashed
            self.errors = errors
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series] = []
    public var logY = false
    /// (label, y) horizontal reference lines, drawn dashed.
    public var references: [(String, Double)] = []
    /// A shaded band between two y values (e.g. the tolerance below dense accuracy).
    public var band: (label: String, low: Double, high: Double)?

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    public var svg: String {
        let height = 440.0
        // The legend sits right of the plot, as wide as its longest label (≈ 6.6 px a character at 12 px).
        let longest = (series.map(\.name) + [band?.label ?? ""]).map(\.count).max() ?? 0
        let (left, right, top, bottom) = (78.0, max(190.0, 50 + 6.6 * Double(longest)), 40.0, 56.0)
        let width = left + 452 + right   // 720 px with the narrowest legend
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = series.flatMap { $0.points.map(\.x) }
        var ys = series.flatMap { $0.points.map(\.y) } + references.map(\.1)
        for s in series { if let errors = s.errors { ys += zip(s.points, errors).flatMap { [$0.y - $1, $0.y + $1] } } }
        if let band { ys += [band.low, band.high] }
        let positive = ys.filter { $0 > 0 }
        let (xMin, xMax) = (xs.min() ?? 0, max(xs.max() ?? 1, (xs.min() ?? 0) + 1e-9))
        var (yMin, yMax) = logY ? (log10(positive.min() ?? 1), log10(positive.max() ?? 10)) : (ys.min() ?? 0, ys.max() ?? 1)
        if yMax - yMin < 1e-9 { yMin -= 0.5; yMax += 0.5 }
        let pad = (yMax - yMin) * 0.05
        (yMin, yMax) = (yMin - pad, yMax + pad)
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotW }
        func py(_ y: Double) -> Double {
            let v = logY ? log10(max(y, 1e-12)) : y
            return top + (1 - (v - yMin) / (yMax - yMin)) * plotH
        }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="22" font-size="15" font-weight="bold">\(Self.escape(title))</text>

        """
        if let band {
            out += "<rect x=\"\(left)\" y=\(quote(py(band.high))) width=\"\(plotW)\" height=\(quote(max(py(band.low) - py(band.high), 0))) fill=\"#f3d27a\" fill-opacity=\"0.35\"/>\n"
        }
        // Ticks and grid: round values (1, 2 or 5 × 10^k apart; powers of ten on a log axis).
        for xv in SVGChart.ticks(from: xMin, to: xMax) {
            out += "<line x1=\(quote(px(xv))) y1=\"\(top)\" x2=\(quote(px(xv))) y2=\"\(top + plotH)\" stroke=\"#eee\"/>\n"
            out += "<text x=\(quote(px(xv))) y=\"\(top + plotH + 18)\" text-anchor=\"middle\">\(tick(xv))</text>\n"
        }
        let yTicks = logY ? SVGChart.logTicks(from: yMin, to: yMax) : SVGChart.ticks(from: yMin, to: yMax)
        for shown in yTicks {
            out += "<line x1=\"\(left)\" y1=\(quote(py(shown))) x2=\"\(left + plotW)\" y2=\(quote(py(shown))) stroke=\"#eee\"/>\n"
            out += "<text x=\"\(left - 6)\" y=\(quote(py(shown) + 4)) text-anchor=\"end\">\(tick(shown))</text>\n"
        }
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"none\" stroke=\"#333\"/>\n"
        out += "<text x=\(quote(left + plotW / 2)) y=\"\(height - 14)\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        out += "<text transform=\"translate(18 \(top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel + (logY ? " (log scale)" : "")))</text>\n"
        for (label, y) in references {
            out += "<line x1=\"\(left)\" y1=\(quote(py(y))) x2=\"\(left + plotW)\" y2=\(quote(py(y))) stroke=\"#555\" stroke-dasharray=\"6 4\"/>\n"
            out += "<text x=\"\(left + 4)\" y=\(quote(py(y) - 4)) fill=\"#555\">\(Self.escape(label))</text>\n"
        }
        var legendY = top + 10
        if let band {
            out += "<rect x=\"\(left + plotW + 14)\" y=\(quote(legendY - 9)) width=\"18\" height=\"10\" fill=\"#f3d27a\" fill-opacity=\"0.6\"/>"
            out += "<text x=\"\(left + plotW + 38)\" y=\(quote(legendY))>\(Self.escape(band.label))</text>\n"
            legendY += 18
        }
        for (index, s) in series.enumerated() {
            let color = SVGChart.palette[index % SVGChart.palette.count]
            let path = s.points.sorted { $0.x < $1.x }.map { "\(String(format: "%.1f", px($0.x))),\(String(format: "%.1f", py($0.y)))" }.joined(separator: " ")
            let dash = s.dashed ? " stroke-dasharray=\"5 3\"" : ""
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>\n"
            for p in s.points { out += "<circle cx=\(quote(px(p.x))) cy=\(quote(py(p.y))) r=\"3\" fill=\"\(color)\"/>\n" }
            for (p, e) in zip(s.points, s.errors ?? []) where e > 0 {
                out += "<line x1=\(quote(px(p.x))) y1=\(quote(py(p.y - e))) x2=\(quote(px(p.x))) y2=\(quote(py(p.y + e))) stroke=\"\(color)\" stroke-width=\"1.5\"/>\n"
            }
            out += "<line x1=\"\(left + plotW + 14)\" y1=\(quote(legendY - 4)) x2=\"\(left + plotW + 32)\" y2=\(quote(legendY - 4)) stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>"
            out += "<text x=\"\(left + plotW + 38)\" y=\(quote(legendY))>\(Self.escape(s.name))</text>\n"
            legendY += 18
        }
        return out + "</svg>\n"
    }

    /// About six round values in [low, high]: multiples of 1, 2 or 5 × 10^k, the step whose
    /// tick count is nearest six.
    static func ticks(from low: Double, to high: Double) -> [Double] {
        let range = high - low
        guard range > 0, range.isFinite else { return [low] }
        let magnitude = pow(10, log10(range / 6).rounded(.down))
        let step = [1.0, 2, 5, 10, 20].map { $0 * magnitude }.min { abs(range / $0 - 6) < abs(range / $1 - 6) }!
        let first = (low / step).rounded(.up)
        return stride(from: first, through: (high / step).rounded(.down), by: 1).map { ($0 * step * 1e9).rounded() / 1e9 }
    }

    /// Values for a log axis spanning log10 values [low, high]: powers of ten, with 2 and 5 ×
    /// 10^k below three decades and a finer set below one.
    static func logTicks(from low: Double, to high: Double) -> [Double] {
        let span = high - low
        let mantissas: [Double] = span < 1 ? [1, 1.5, 2, 3, 4, 5, 6, 8] : span < 3 ? [1, 2, 5] : [1]
        var result: [Double] = []
        for exponent in Int(low.rounded(.down))...Int(high.rounded(.up)) {
            for m in mantissas {
                let value = m * pow(10, Double(exponent))
                if log10(value) >= low && log10(value) <= high { result.append(value) }
            }
        }
        return result.isEmpty ? [pow(10, (low + high) / 2)] : result
    }

    private func quote(_ v: Double) -> String { "\"\(String(format: "%.1f", v))\"" }
    private func tick(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1e6 { return String(format: "%.3gM", v / 1e6) }
        if a >= 1e3 { return String(format: "%.3gk", v / 1e3) }
        return String(format: a >= 10 ? "%.0f" : "%.3g", v)
    }
    /// Text safe inside SVG or HTML.
    package static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

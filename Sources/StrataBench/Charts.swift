import Foundation

extension BenchReport {
    /// The report's Markdown: one table per workload, targets side by side, with ratios to the last target.
    public static func document(_ results: [BenchResult], title: String, notes: [String] = []) -> String {
        var lines = ["# \(title)", ""] + notes + [""]
        let workloads = orderedUnique(results.map(\.workload))
        for workload in workloads {
            let rows = results.filter { $0.workload == workload }
            lines.append("## Workload \(workload)")
            lines.append("")
            lines.append(markdown(rows))
            if let baseline = rows.last, rows.count > 1 {
                let ratios = rows.dropLast().map { row in
                    "\(row.target)/\(baseline.target): throughput \(String(format: "%.2f", row.throughput / max(baseline.throughput, 1)))x, "
                        + "p99 \(String(format: "%.2f", row.latency.p99 / max(baseline.latency.p99, 1)))x"
                }
                lines.append("")
                lines.append(ratios.joined(separator: "; "))
            }
            lines.append("")
            lines.append("![throughput](throughput-\(workload).svg) ![latency](latency-\(workload).svg)")
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    /// A bar chart of throughput per target.
    public static func throughputSVG(_ results: [BenchResult], workload: String) -> String {
        let rows = results.filter { $0.workload == workload }
        let width = 520, barHeight = 28, top = 40
        let maximum = max(rows.map(\.throughput).max() ?? 1, 1)
        var svg = svgHeader(width: width, height: top + rows.count * (barHeight + 10) + 20, title: "Workload \(workload): ops/s")
        for (index, row) in rows.enumerated() {
            let y = top + index * (barHeight + 10)
            let length = Int(Double(width - 200) * row.throughput / maximum)
            svg += "<text x=\"10\" y=\"\(y + 19)\" font-size=\"13\">\(escape(row.target))</text>"
            svg += "<rect x=\"150\" y=\"\(y)\" width=\"\(max(length, 1))\" height=\"\(barHeight)\" fill=\"\(color(index))\"/>"
            svg += "<text x=\"\(155 + length)\" y=\"\(y + 19)\" font-size=\"12\">\(Int(row.throughput))</text>"
        }
        return svg + "</svg>\n"
    }

    /// Latency percentile curves (p50 … max, log scale) per target.
    public static func latencySVG(_ results: [BenchResult], workload: String) -> String {
        let rows = results.filter { $0.workload == workload }
        let width = 520, height = 300, left = 60, bottom = 250, top = 40
        let labels = ["p50", "p90", "p99", "p99.9", "max"]
        let values = rows.map { [$0.latency.p50, $0.latency.p90, $0.latency.p99, $0.latency.p999, $0.latency.max] }
        let all = values.flatMap { $0 }.filter { $0 > 0 }
        let low = log10(max(all.min() ?? 1, 1)), high = log10(max(all.max() ?? 10, 10)) + 0.1
        func y(_ value: Double) -> Int {
            let fraction = (log10(max(value, 1)) - low) / max(high - low, 0.1)
            return bottom - Int(fraction * Double(bottom - top))
        }
        var svg = svgHeader(width: width, height: height, title: "Workload \(workload): latency (µs, log scale)")
        for (index, label) in labels.enumerated() {
            let x = left + index * (width - left - 40) / (labels.count - 1)
            svg += "<text x=\"\(x - 12)\" y=\"\(bottom + 20)\" font-size=\"12\">\(label)</text>"
        }
        for (series, row) in rows.enumerated() {
            let points = values[series].enumerated().map { index, value in
                "\(left + index * (width - left - 40) / (labels.count - 1)),\(y(value))"
            }
            svg += "<polyline fill=\"none\" stroke=\"\(color(series))\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
            svg += "<text x=\"\(left)\" y=\"\(top + 14 * series + 10)\" font-size=\"12\" fill=\"\(color(series))\">\(escape(row.target)): p99 \(Int(row.latency.p99)) µs</text>"
        }
        return svg + "</svg>\n"
    }

    private static func svgHeader(width: Int, height: Int, title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\">"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"10\" y=\"22\" font-size=\"15\">\(escape(title))</text>"
    }

    private static func color(_ index: Int) -> String { ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"][index % 5] }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }

    static func orderedUnique(_ items: [String]) -> [String] {
        var seen: Set<String> = []
        return items.filter { seen.insert($0).inserted }
    }

    /// Writes `report.md` and the SVG charts for `results` into `directory`.
    public static func write(_ results: [BenchResult], to directory: String, title: String, notes: [String]) throws {
        try document(results, title: title, notes: notes).write(toFile: directory + "/report.md", atomically: true, encoding: .utf8)
        for workload in orderedUnique(results.map(\.workload)) {
            try throughputSVG(results, workload: workload).write(
                toFile: directory + "/throughput-\(workload).svg", atomically: true, encoding: .utf8)
            try latencySVG(results, workload: workload).write(
                toFile: directory + "/latency-\(workload).svg", atomically: true, encoding: .utf8)
        }
    }
}

/// Reads the data section of a `.ts` file one line (one case) at a time, checking each case
/// against the header and the first case: the same number of dimensions and the same length
/// everywhere, every value a finite number, every label declared.
struct TimeSeriesCaseReader {
    let path: String
    let target: TimeSeriesFile.Target
    /// Dimensions per case and values per dimension once known (from the header, or else
    /// the first case), with where the expectation came from.
    private(set) var dimensions: Int?
    private(set) var seriesLength: Int?
    private var dimensionsFrom: TimeSeriesError.Expectation
    private var lengthFrom: TimeSeriesError.Expectation
    /// (cases, dimensions, seriesLength), row-major.
    private(set) var values: [Float] = []
    private(set) var labels: [String] = []
    private(set) var lines: [Int] = []
    /// Declared labels by exact spelling, and by lowercase spelling when that is unambiguous:
    /// aeon's loader lowercases whole files, so files it reads may differ from their header
    /// in case only.
    private let labelsByText: [String: String]
    private let labelsByLowercase: [String: String]

    init(path: String, target: TimeSeriesFile.Target, header: TimeSeriesHeader) {
        self.path = path
        self.target = target
        if let declared = header.dimensions {
            (dimensions, dimensionsFrom) = (declared.value, .header(key: "@dimensions", line: declared.line))
        } else if let univariate = header.univariate, univariate.value {
            (dimensions, dimensionsFrom) = (1, .header(key: "@univariate", line: univariate.line))
        } else {
            dimensionsFrom = .firstCase(line: header.dataLine + 1)
        }
        if let declared = header.seriesLength {
            (seriesLength, lengthFrom) = (declared.value, .header(key: "@seriesLength", line: declared.line))
        } else {
            lengthFrom = .firstCase(line: header.dataLine + 1)
        }
        let declared = header.classLabels?.value ?? []
        labelsByText = Dictionary(uniqueKeysWithValues: declared.map { ($0, $0) })
        labelsByLowercase = Dictionary(grouping: declared, by: { $0.lowercased() })
            .compactMapValues { $0.count == 1 ? $0[0] : nil }
    }

    /// Reads the case on `line` (1-based) from `text`; a blank line is skipped.
    mutating func read(_ text: Substring, line: Int) throws(TimeSeriesError) {
        let caseText = trimmingBlanks(text)
        if caseText.isEmpty { return }
        var fields = caseText.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false).map { Substring($0) }
        var label: String?
        // A last field holding "," is a series: the case lacks its label rather than has an odd one.
        func looksLikeSeries(_ text: Substring) -> Bool { text.utf8.contains(UInt8(ascii: ",")) }
        switch target {
        case .classLabels(let declared):
            guard fields.count >= 2 else { throw .missingTarget(path: path, line: line) }
            let written = trimmingBlanks(fields.removeLast())
            guard let known = labelsByText[String(written)] ?? labelsByLowercase[written.lowercased()] else {
                if looksLikeSeries(written) { throw .missingTarget(path: path, line: line) }
                throw .undeclaredClassLabel(path: path, line: line, label: messageExcerpt(written), declared: declared)
            }
            label = known
        case .regression:
            guard fields.count >= 2 else { throw .missingTarget(path: path, line: line) }
            let written = trimmingBlanks(fields.removeLast())
            guard finiteFloat(written) != nil else {
                if looksLikeSeries(written) { throw .missingTarget(path: path, line: line) }
                throw .badTarget(path: path, line: line, value: messageExcerpt(written))
            }
            label = String(written)
        case .none:
            // aeon's writer ends every series with ":" even when there is no label to follow.
            if fields.count > 1, trimmingBlanks(fields[fields.count - 1]).isEmpty { fields.removeLast() }
        }
        if dimensions == nil { (dimensions, dimensionsFrom) = (fields.count, .firstCase(line: line)) }
        guard fields.count == dimensions else {
            throw .wrongDimensionCount(path: path, line: line, expected: dimensions!, found: fields.count, expectedFrom: dimensionsFrom)
        }
        for (d, series) in fields.enumerated() {
            var count = 0
            for valueText in series.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                count += 1
                let text = trimmingBlanks(Substring(valueText))
                guard let value = finiteFloat(text) else {
                    if text == "?" || text.lowercased() == "nan" {
                        throw .missingValue(path: path, line: line, dimension: d + 1, position: count)
                    }
                    throw .notANumber(path: path, line: line, dimension: d + 1, position: count, value: messageExcerpt(text))
                }
                values.append(value)
            }
            if seriesLength == nil { (seriesLength, lengthFrom) = (count, .firstCase(line: line)) }
            guard count == seriesLength else {
                throw .wrongLength(path: path, line: line, dimension: d + 1, expected: seriesLength!, found: count, expectedFrom: lengthFrom)
            }
        }
        if let label { labels.append(label) }
        lines.append(line)
    }
}

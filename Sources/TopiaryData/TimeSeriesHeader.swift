/// The header of a `.ts` file: `@key value` lines up to `@data`, comments (`#`, and `%` as in
/// the ARFF files the format grew from) and blank lines between them. Keys and the words
/// true/false are case-insensitive (the archive writes both `@timeStamps` and
/// `@timestamps`); a key given twice keeps its last value, as aeon's loader does. Unlike
/// aeon's loader, an unknown key is refused rather than ignored: a misspelt `@seriesLenght`
/// would otherwise drop a check silently.
struct TimeSeriesHeader {
    /// The keys as the archive spells them. `@dimension` (what aeon's writer emits) is read as
    /// `@dimensions`.
    static let knownKeys = ["problemName", "timeStamps", "missing", "univariate", "dimensions", "equalLength",
                            "seriesLength", "classLabel", "targetLabel", "data"]

    /// A declared value with the line that declared it.
    struct Declared<Value> {
        let value: Value
        let line: Int
    }

    var problemName: String?
    var univariate: Declared<Bool>?
    var dimensions: Declared<Int>?
    var seriesLength: Declared<Int>?
    /// `@classLabel true a b c`: the labels in declared order.
    var classLabels: Declared<[String]>?
    /// `@targetLabel true`: each case ends with a numeric target.
    var regression: Declared<Bool>?
    /// The line of `@data`; cases start on the next.
    var dataLine = 0

    /// Reads header lines from the start of `lines` (the file's lines, line 1 first) up to
    /// and including `@data`.
    init(lines: [Substring], path: String) throws(TimeSeriesError) {
        for (index, raw) in lines.enumerated() {
            let line = index + 1
            let text = trimmingBlanks(raw)
            if text.isEmpty || text.hasPrefix("#") || text.hasPrefix("%") { continue }
            guard text.hasPrefix("@") else {
                throw .lineOutsideHeader(path: path, line: line, text: messageExcerpt(text))
            }
            let tokens = text.dropFirst().split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            let key = tokens.first ?? ""
            let values = Array(tokens.dropFirst())
            func bad(_ expected: String) -> TimeSeriesError {
                .badHeaderValue(path: path, line: line, key: "@" + key, value: values.joined(separator: " "), expected: expected)
            }
            func boolean() throws(TimeSeriesError) -> Bool {
                guard values.count == 1, let value = ["true": true, "false": false][values[0].lowercased()] else {
                    throw bad("true or false")
                }
                return value
            }
            func positiveInteger() throws(TimeSeriesError) -> Int {
                guard values.count == 1, let value = Int(values[0]), value >= 1 else { throw bad("a whole number ≥ 1") }
                return value
            }
            switch key.lowercased() {
            case "data":
                guard values.isEmpty else { throw bad("nothing: the cases start on the next line") }
                dataLine = line
                try checkConsistency(path: path)
                return
            case "problemname":
                guard !values.isEmpty else { throw bad("the problem's name") }
                problemName = values.joined(separator: " ")
            case "timestamps":
                if try boolean() { throw .timeStampsNotSupported(path: path, line: line) }
            case "missing":
                _ = try boolean()   // informative only: a missing value is refused where it is found
            case "univariate":
                univariate = Declared(value: try boolean(), line: line)
            case "dimension", "dimensions":
                dimensions = Declared(value: try positiveInteger(), line: line)
            case "equallength":
                if !(try boolean()) { throw .unequalLengthNotSupported(path: path, line: line) }
            case "serieslength":
                seriesLength = Declared(value: try positiveInteger(), line: line)
            case "classlabel":
                switch values.first?.lowercased() {
                case "true":
                    let labels = Array(values.dropFirst())
                    guard !labels.isEmpty else { throw bad("true followed by the class labels, or false") }
                    guard Set(labels).count == labels.count else { throw bad("true followed by distinct class labels") }
                    classLabels = Declared(value: labels, line: line)
                case "false" where values.count == 1:
                    classLabels = nil
                default:
                    throw bad("true followed by the class labels, or false")
                }
            case "targetlabel":
                regression = try boolean() ? Declared(value: true, line: line) : nil
            default:
                throw .unknownHeaderKey(path: path, line: line, key: key)
            }
        }
        throw .missingDataSection(path: path)
    }

    /// Keys that contradict each other, reported at the later one's line.
    private func checkConsistency(path: String) throws(TimeSeriesError) {
        if let classLabels, let regression {
            let (line, key, value) = classLabels.line > regression.line
                ? (classLabels.line, "@classLabel", "true " + classLabels.value.joined(separator: " "))
                : (regression.line, "@targetLabel", "true")
            throw .badHeaderValue(path: path, line: line, key: key, value: value,
                                  expected: "a class label or a numeric target, not both (@classLabel true on line \(classLabels.line), @targetLabel true on line \(regression.line))")
        }
        if let univariate, univariate.value, let dimensions, dimensions.value != 1 {
            throw .badHeaderValue(path: path, line: dimensions.line, key: "@dimensions", value: "\(dimensions.value)",
                                  expected: "1, as @univariate true on line \(univariate.line) says")
        }
    }
}

/// A collection of time series from a `.ts` file, the format of the UEA/UCR classification
/// and regression archives as sktime and aeon write it (plain or gzip-compressed):
///
///     # comments
///     @problemName BasicMotions
///     @univariate false
///     @dimensions 6
///     @equalLength true
///     @seriesLength 100
///     @classLabel true Standing Running Walking Badminton
///     @data
///     0.07,0.08,…,0.11:-0.81,…:…:Standing        one case per line: 6 series of 100 values, then the label
///
/// Series of a case are separated by `:`, values by `,`; with `@classLabel true …` or
/// `@targetLabel true` the last `:`-field is the case's class label or numeric target.
/// Equal-length series only, without time stamps or missing values (`?`, NaN): each is
/// refused with a message naming the line, dimension and position.
public struct TimeSeriesFile: Sendable {
    /// What each case is labelled with.
    public enum Target: Sendable, Equatable {
        /// `@classLabel true a b c`: a class label among these, in declared order.
        case classLabels([String])
        /// `@targetLabel true`: a number to regress on.
        case regression
        /// Neither: cases carry no label.
        case none
    }

    /// The most bytes read from one file by default: 1 GiB, after decompression.
    public static let defaultMaximumBytes = 1 << 30

    public let path: String
    public let problemName: String?
    public let target: Target
    /// Channels per case.
    public let dimensions: Int
    /// Values per channel.
    public let seriesLength: Int
    public let caseCount: Int
    /// Every value, row-major (caseCount, dimensions, seriesLength).
    public let values: [Float]
    /// Each case's label as written: a declared class label (in its declared spelling), or
    /// the numeric target's text. Empty when `target` is `.none`.
    public let labels: [String]
    /// The 1-based line of each case (for messages about a case).
    public let caseLines: [Int]

    /// Reads the `.ts` file at `path`; throws `TimeSeriesError` naming the file, the line, and
    /// the dimension and position where one is to blame.
    public init(contentsOf path: String, maximumBytes: Int = TimeSeriesFile.defaultMaximumBytes) throws {
        let text: String
        do {
            text = try utf8Text(try readWholeFile(path, maximumBytes: maximumBytes))
        } catch let failure as WholeFileFailure {
            switch failure {
            case .missing: throw TimeSeriesError.fileMissing(path: path)
            case .unreadable(let reason): throw TimeSeriesError.unreadable(path: path, reason: reason)
            case .tooLarge(let limit): throw TimeSeriesError.tooLarge(path: path, limitBytes: limit)
            }
        } catch let invalid as InvalidUTF8 {
            throw TimeSeriesError.notUTF8(path: path, line: invalid.line)
        }
        let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Substring($0) }
        let header = try TimeSeriesHeader(lines: lines, path: path)
        let target: Target = if let classes = header.classLabels { .classLabels(classes.value) }
                             else if header.regression != nil { .regression } else { .none }
        var cases = TimeSeriesCaseReader(path: path, target: target, header: header)
        for index in header.dataLine..<lines.count {
            try cases.read(lines[index], line: index + 1)
        }
        guard let dimensions = cases.dimensions, let length = cases.seriesLength, !cases.lines.isEmpty else {
            throw TimeSeriesError.noCases(path: path, dataLine: header.dataLine)
        }
        self.path = path
        self.problemName = header.problemName
        self.target = target
        self.dimensions = dimensions
        self.seriesLength = length
        self.caseCount = cases.lines.count
        self.values = cases.values
        self.labels = cases.labels
        self.caseLines = cases.lines
    }

    /// The declared class labels in order; nil unless `target` is `.classLabels`.
    public var classLabels: [String]? {
        if case .classLabels(let labels) = target { return labels }
        return nil
    }

    /// Each case's class as its index into `classLabels`; nil unless `target` is `.classLabels`.
    public var classIndices: [Int32]? {
        guard let classLabels else { return nil }
        let index = Dictionary(uniqueKeysWithValues: classLabels.enumerated().map { ($1, Int32($0)) })
        return labels.map { index[$0]! }   // the reader admits declared labels only
    }

    /// Each case's numeric target; nil unless `target` is `.regression`.
    public var regressionTargets: [Float]? {
        guard target == .regression else { return nil }
        return labels.map { finiteFloat($0)! }   // the reader admits finite numbers only
    }
}

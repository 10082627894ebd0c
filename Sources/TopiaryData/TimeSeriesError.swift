import Foundation

/// What can be wrong with a `.ts` time-series file (the UEA/UCR archive's format, as sktime
/// and aeon write it). Lines, dimensions and positions are 1-based: line 1 is the file's
/// first line, dimension 1 the first `:`-separated series of a case, position 1 its first
/// value. Each message says what was wrong, where, and what to do.
public enum TimeSeriesError: Error, LocalizedError, Equatable {
    /// Where the expected count or length of a case came from.
    public enum Expectation: Sendable, Equatable {
        /// Declared by a header key (`@dimensions`, `@univariate`, `@seriesLength`) on `line`.
        case header(key: String, line: Int)
        /// Set by the first case, on `line`.
        case firstCase(line: Int)
    }

    case fileMissing(path: String)
    case unreadable(path: String, reason: String)
    case tooLarge(path: String, limitBytes: Int)
    case notUTF8(path: String, line: Int)
    case unknownHeaderKey(path: String, line: Int, key: String)
    /// A known key with a value it cannot take; `expected` says what it takes.
    case badHeaderValue(path: String, line: Int, key: String, value: String, expected: String)
    /// A line before `@data` that is neither `@key …`, a comment, nor blank.
    case lineOutsideHeader(path: String, line: Int, text: String)
    case missingDataSection(path: String)
    /// `@timeStamps true`: cases written as (time,value) pairs.
    case timeStampsNotSupported(path: String, line: Int)
    /// `@equalLength false`.
    case unequalLengthNotSupported(path: String, line: Int)
    /// `@data` followed by no case.
    case noCases(path: String, dataLine: Int)
    case wrongDimensionCount(path: String, line: Int, expected: Int, found: Int, expectedFrom: Expectation)
    case wrongLength(path: String, line: Int, dimension: Int, expected: Int, found: Int, expectedFrom: Expectation)
    /// `value` is an excerpt (at most 40 characters, control characters escaped).
    case notANumber(path: String, line: Int, dimension: Int, position: Int, value: String)
    /// `?` or NaN: the archive's marks for a missing observation.
    case missingValue(path: String, line: Int, dimension: Int, position: Int)
    /// A case with no `:label` at its end although the header declares a target.
    case missingTarget(path: String, line: Int)
    case undeclaredClassLabel(path: String, line: Int, label: String, declared: [String])
    /// A regression target (`@targetLabel true`) that is not a finite number; `value` is an excerpt.
    case badTarget(path: String, line: Int, value: String)

    public var errorDescription: String? {
        switch self {
        case .fileMissing(let path):
            return "time-series file not found: \(path). Check the path."
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason). Check the file is a complete .ts file (plain or gzip-compressed)."
        case .tooLarge(let path, let limit):
            return "\(path) holds more than \(limit) bytes (counted after decompression), the most this .ts reader takes from one file. Use a smaller file, or pass a larger maximumBytes."
        case .notUTF8(let path, let line):
            return "\(path):\(line): the text is not valid UTF-8. Save the file as UTF-8."
        case .unknownHeaderKey(let path, let line, let key):
            let known = TimeSeriesHeader.knownKeys.map { "@" + $0 }.joined(separator: ", ")
            return "\(path):\(line): unknown header key \"@\(messageExcerpt(key))\". The keys of a .ts header are \(known); comments start with # or %."
        case .badHeaderValue(let path, let line, let key, let value, let expected):
            return "\(path):\(line): \(key) \"\(messageExcerpt(value))\" is not valid: it takes \(expected)."
        case .lineOutsideHeader(let path, let line, let text):
            return "\(path):\(line): \"\(text)\" comes before @data but is not a header line. Before @data, each line is \"@key value\", a comment starting with # or %, or blank."
        case .missingDataSection(let path):
            return "\(path) has no @data line, so it holds no cases. A .ts file is a header of @key lines, then @data, then one case per line; is this a .ts file?"
        case .timeStampsNotSupported(let path, let line):
            return "\(path):\(line): @timeStamps true (cases as (time,value) pairs) is not supported yet. Resample the series onto a regular grid and write them without time stamps."
        case .unequalLengthNotSupported(let path, let line):
            return "\(path):\(line): @equalLength false: series of unequal length are not supported yet. Pad or resample every series to one length (aeon's equal-length versions of the archive, *_eq files, are)."
        case .noCases(let path, let dataLine):
            return "\(path): @data on line \(dataLine) is followed by no case. Point at a complete .ts file."
        case .wrongDimensionCount(let path, let line, let expected, let found, let source):
            return "\(path):\(line): this case has \(found) dimensions (\":\"-separated series), but \(Self.describe(source)) \(expected). Every case needs the same dimensions."
        case .wrongLength(let path, let line, let dimension, let expected, let found, let source):
            return "\(path):\(line), dimension \(dimension): \(found) values, but \(Self.describe(source)) \(expected). Every series needs the same length (unequal lengths are not supported yet)."
        case .notANumber(let path, let line, let dimension, let position, let value):
            let shown = value.isEmpty ? "an empty value" : "\"\(value)\""
            return "\(path):\(line), dimension \(dimension), position \(position): \(shown) is not a finite number. Values are numbers separated by \",\", series by \":\"."
        case .missingValue(let path, let line, let dimension, let position):
            return "\(path):\(line), dimension \(dimension), position \(position): missing value; this reader needs complete series. Impute or drop the missing values first."
        case .missingTarget(let path, let line):
            return "\(path):\(line): this case ends without \":target\", but the header declares a class label or target for every case. Append \":label\", or declare @classLabel false."
        case .undeclaredClassLabel(let path, let line, let label, let declared):
            return "\(path):\(line): class label \"\(messageExcerpt(label))\" is not among those @classLabel declares (\(declared.map { messageExcerpt($0) }.joined(separator: " "))). Fix the label, or declare it."
        case .badTarget(let path, let line, let value):
            return "\(path):\(line): the target \"\(value)\" is not a finite number, but @targetLabel true declares numeric targets. Fix the value, or declare class labels with @classLabel."
        }
    }

    private static func describe(_ source: Expectation) -> String {
        switch source {
        case .header(let key, let line): return "\(key) on line \(line) declares"
        case .firstCase(let line): return "the first case (line \(line)) has"
        }
    }
}

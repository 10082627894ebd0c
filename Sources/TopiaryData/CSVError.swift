import Foundation

/// What can be wrong with a CSV file a user points Topiary at. Lines are 1-based physical
/// lines of the file (the header, when there is one, is on line 1); fields and columns are
/// 1-based too. Each message says what was wrong, where, and what to do.
public enum CSVError: Error, LocalizedError, Equatable {
    case fileMissing(path: String)
    case unreadable(path: String, reason: String)
    case tooLarge(path: String, limitBytes: Int)
    case notUTF8(path: String, line: Int)
    /// No header and no row: an empty file, blank lines only, or nothing after skipped lines.
    case empty(path: String)
    /// A row whose field count differs from the header's (or, without a header, from the
    /// column names' or the first row's).
    case fieldCount(path: String, line: Int, expected: Int, found: Int)
    /// A quoted field (the `field`-th of its record) opened on `line` whose closing quote never comes.
    case unterminatedQuote(path: String, line: Int, field: Int)
    /// A double quote inside an unquoted field, or text right after a closing quote.
    case misplacedQuote(path: String, line: Int, field: Int)
    case duplicateColumn(path: String, name: String, firstColumn: Int, secondColumn: Int)
    case unknownColumn(path: String, name: String, available: [String])
    /// `value` is an excerpt of the cell (at most 40 characters, control characters escaped).
    case notANumber(path: String, line: Int, column: String, value: String)

    public var errorDescription: String? {
        switch self {
        case .fileMissing(let path):
            return "CSV file not found: \(path). Check the path."
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason). Check the file is a complete CSV file (plain or gzip-compressed)."
        case .tooLarge(let path, let limit):
            return "\(path) holds more than \(limit) bytes (counted after decompression), the most this CSV reader takes from one file. Use a smaller file, or pass a larger maximumBytes."
        case .notUTF8(let path, let line):
            return "\(path):\(line): the text is not valid UTF-8. Save the file as UTF-8."
        case .empty(let path):
            return "\(path) holds no header and no row (the file is empty, blank, or ends within the skipped lines). Point at a complete CSV file."
        case .fieldCount(let path, let line, let expected, let found):
            return "\(path):\(line): this row has \(found) fields, but the table has \(expected) columns. Give every row one field per column; a field that holds the separator must be double-quoted."
        case .unterminatedQuote(let path, let line, let field):
            return "\(path):\(line), column \(field): a quoted field starts here but its closing double quote never comes. Close the quote; a double quote inside a quoted field is written twice (\"\")."
        case .misplacedQuote(let path, let line, let field):
            return "\(path):\(line), column \(field): a double quote inside an unquoted field, or text right after a closing quote. Quote the whole field and double each quote inside it (\"a \"\"b\"\" c\")."
        case .duplicateColumn(let path, let name, let first, let second):
            return "\(path): the column name \"\(messageExcerpt(name))\" is used twice (columns \(first) and \(second)). Rename one, so that each column can be asked for by name."
        case .unknownColumn(let path, let name, let available):
            let shown = available.prefix(20).map { "\"\(messageExcerpt($0))\"" }.joined(separator: ", ")
            let more = available.count > 20 ? " and \(available.count - 20) more" : ""
            return "\(path) has no column \"\(messageExcerpt(name))\". Its columns are \(shown)\(more)."
        case .notANumber(let path, let line, let column, let value):
            return "\(path):\(line), column \"\(messageExcerpt(column))\": \"\(value)\" is not a finite number. Fix the cell, or leave the column out of the numeric ones."
        }
    }
}

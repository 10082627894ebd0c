/// A table read from a CSV file (plain or gzip-compressed): column names and every data row
/// as text, each row with one field per column. Numbers are parsed on request, per column,
/// so that an error can name the cell (`numericColumns`).
///
/// RFC 4180 with the options real files need (see `Header` and `Separator`):
///
///     // digits.csv.gz of scikit-learn: no header, 64 pixel columns and the label
///     let digits = try CSVTable(contentsOf: path, header: .none(columnNames: nil))
///     let pixels = try digits.numericColumns((0..<64).map { "c\($0)" })   // (1797, 64)
///     // breast_cancer.csv: a first line of counts and class names, then the rows
///     let cancer = try CSVTable(contentsOf: path, header: .none(columnNames: nil), skippingLines: 1)
///     // diabetes_data_raw.csv.gz: values separated by spaces
///     let diabetes = try CSVTable(contentsOf: path, header: .none(columnNames: nil), separator: .whitespace)
public struct CSVTable: Sendable {
    /// Where the column names come from.
    public enum Header: Sendable, Equatable {
        /// The first row (after any skipped lines) names the columns.
        case firstRow
        /// Every row is data. Columns are named by `columnNames`, or "c0", "c1", … when nil.
        case none(columnNames: [String]?)
    }

    /// What separates the fields of a row.
    public enum Separator: Sendable, Equatable {
        /// One ASCII byte: `,` in RFC 4180; `;` and tab are common too.
        case character(UInt8)
        /// Runs of spaces and tabs, ignoring those at the start and end of a line (the layout
        /// numpy.savetxt writes, and `numpy.loadtxt` reads by default).
        case whitespace

        public static let comma = Separator.character(UInt8(ascii: ","))
    }

    /// The most bytes read from one file by default: 1 GiB, after decompression.
    public static let defaultMaximumBytes = 1 << 30

    public let path: String
    public let columnNames: [String]
    /// Every data row, split into fields: `columnNames.count` of them each.
    public let rows: [[String]]
    /// The 1-based physical line on which each row starts (for messages about a cell).
    public let rowLines: [Int]
    /// The text of the lines passed over by `skippingLines`, without their line ends.
    public let skippedLines: [String]

    /// Reads the CSV file at `path`; throws `CSVError` naming the file, and the line where
    /// one is to blame.
    /// - Parameters:
    ///   - skippingLines: physical lines passed over, unparsed, before the header or first row.
    ///   - maximumBytes: files larger than this (after decompression) are refused unread.
    public init(contentsOf path: String, header: Header = .firstRow, separator: Separator = .comma,
                skippingLines: Int = 0, maximumBytes: Int = CSVTable.defaultMaximumBytes) throws {
        if case .character(let byte) = separator {
            precondition(byte < 0x80 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\r") && byte != UInt8(ascii: "\n"),
                         "a CSV separator must be an ASCII byte other than a double quote or a line end, but got \(byte)")
        }
        if case .none(let names?) = header { precondition(!names.isEmpty, "columnNames must not be empty") }
        let bytes: [UInt8]
        do {
            bytes = try readWholeFile(path, maximumBytes: maximumBytes)
        } catch {
            switch error {
            case .missing: throw CSVError.fileMissing(path: path)
            case .unreadable(let reason): throw CSVError.unreadable(path: path, reason: reason)
            case .tooLarge(let limit): throw CSVError.tooLarge(path: path, limitBytes: limit)
            }
        }
        var fieldCount: Int?
        if case .none(let names?) = header { fieldCount = names.count }
        var records = try CSVRecordParser(path: path, separator: separator)
            .parse(bytes, skippingLines: skippingLines, fieldCount: fieldCount)
        guard let first = records.fields.first else { throw CSVError.empty(path: path) }

        let names: [String]
        switch header {
        case .firstRow:
            names = first
            records.fields.removeFirst()
            records.lines.removeFirst()
        case .none(let given):
            names = given ?? (0..<first.count).map { "c\($0)" }
        }
        var firstColumn: [String: Int] = [:]
        for (column, name) in names.enumerated() {
            if let earlier = firstColumn[name] {
                throw CSVError.duplicateColumn(path: path, name: name, firstColumn: earlier + 1, secondColumn: column + 1)
            }
            firstColumn[name] = column
        }
        self.path = path
        self.columnNames = names
        self.rows = records.fields
        self.rowLines = records.lines
        self.skippedLines = records.skipped
    }

    public var rowCount: Int { rows.count }

    /// The 0-based position of the column `name`; throws `unknownColumn` listing the names.
    public func columnIndex(_ name: String) throws -> Int {
        guard let index = columnNames.firstIndex(of: name) else {
            throw CSVError.unknownColumn(path: path, name: name, available: columnNames)
        }
        return index
    }

    /// The column `name`'s text, one value per row.
    public func column(_ name: String) throws -> [String] {
        let index = try columnIndex(name)
        return rows.map { $0[index] }
    }

    /// The named columns as numbers, row-major: (rowCount, names.count), in the order of
    /// `names`. Throws `notANumber` naming the line, column and value of the first cell that
    /// is not a finite number (spaces and tabs around a number are allowed).
    public func numericColumns(_ names: [String]) throws -> [Float] {
        let indices = try names.map(columnIndex)
        var values = [Float](repeating: 0, count: rows.count * indices.count)
        for (r, row) in rows.enumerated() {
            for (k, index) in indices.enumerated() {
                guard let value = finiteFloat(row[index]) else {
                    throw CSVError.notANumber(path: path, line: rowLines[r], column: names[k], value: messageExcerpt(row[index]))
                }
                values[r * indices.count + k] = value
            }
        }
        return values
    }
}

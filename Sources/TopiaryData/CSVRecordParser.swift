/// The records of a CSV text, split into fields by one pass of a byte-level state machine
/// (RFC 4180: double-quoted fields with "" for a quote, CRLF, LF or a lone CR ending a
/// line, the last line end optional). Fields are validated as UTF-8 one at a time, so an
/// error names its line.
///
/// Completely empty lines are skipped (as pandas does), so a blank last line is harmless; a
/// one-column file writes an empty value as "". With `.whitespace` separation, lines of
/// only spaces and tabs are blank too.
struct CSVRecordParser {
    let path: String
    let separator: CSVTable.Separator

    struct Records {
        /// Every record, split into fields.
        var fields: [[String]] = []
        /// The 1-based physical line on which each record starts.
        var lines: [Int] = []
        /// The skipped leading lines' text, without their line ends.
        var skipped: [String] = []
    }

    private enum State { case fieldStart, unquoted, quoted, afterClosingQuote }

    /// Splits `bytes` (a UTF-8 byte-order mark first is dropped). The first `skippingLines`
    /// physical lines are set aside unparsed. When `fieldCount` is nil the first record sets
    /// it; every record must then have that many fields.
    func parse(_ bytes: [UInt8], skippingLines: Int, fieldCount: Int?) throws(CSVError) -> Records {
        precondition(skippingLines >= 0, "skippingLines must be >= 0, but got \(skippingLines)")
        var result = Records()
        var expectedCount = fieldCount
        // Typed throws do not pass through withUnsafeBufferPointer's rethrows; carry the error out.
        var failure: CSVError?
        bytes.withUnsafeBufferPointer { buffer in
            do throws(CSVError) { try split(buffer, skippingLines: skippingLines, expectedCount: &expectedCount, into: &result) } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return result
    }

    private func split(_ b: UnsafeBufferPointer<UInt8>, skippingLines: Int, expectedCount: inout Int?,
                       into result: inout Records) throws(CSVError) {
        let quote = UInt8(ascii: "\""), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
        let separatorByte: UInt8?
        switch separator {
        case .character(let byte): separatorByte = byte
        case .whitespace: separatorByte = nil
        }
        let n = b.count
        var i = (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) ? 3 : 0
        var line = 1

        // Skipped lines: kept as text (sklearn's first line carries the counts and class names).
        while result.skipped.count < skippingLines && i < n {
            let start = i
            while i < n && b[i] != lf && b[i] != cr { i += 1 }
            guard let text = String(validating: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self) else {
                throw .notUTF8(path: path, line: line)
            }
            result.skipped.append(text)
            if i < n && b[i] == cr { i += 1 }
            if i < n && b[i] == lf { i += 1 }
            line += 1
        }

        var state = State.fieldStart
        var field: [UInt8] = []
        var fields: [String] = []
        var recordLine = line, fieldLine = line, quoteLine = line, quoteField = 1

        func endField() throws(CSVError) {
            guard let text = String(validating: field, as: UTF8.self) else { throw .notUTF8(path: path, line: fieldLine) }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() throws(CSVError) {
            let expected = expectedCount ?? fields.count
            guard fields.count == expected else {
                throw .fieldCount(path: path, line: recordLine, expected: expected, found: fields.count)
            }
            expectedCount = expected
            result.fields.append(fields)
            result.lines.append(recordLine)
            fields.removeAll(keepingCapacity: true)
        }
        /// Consumes the line end at `i` (CRLF, LF or CR) and counts the line.
        func skipLineEnd() {
            if b[i] == cr && i + 1 < n && b[i + 1] == lf { i += 1 }
            i += 1
            line += 1
        }

        while i < n {
            let c = b[i]
            switch state {
            case .fieldStart:
                if fields.isEmpty { recordLine = line }
                fieldLine = line
                if c == quote {
                    state = .quoted
                    (quoteLine, quoteField) = (line, fields.count + 1)
                    i += 1
                } else if c == cr || c == lf {
                    // A line end before any field: blank line (skipped); after a separator:
                    // the record ends with an empty field.
                    if separatorByte != nil && !fields.isEmpty { try endField() }
                    if !fields.isEmpty { try endRecord() }
                    skipLineEnd()
                } else if let s = separatorByte, c == s {
                    try endField()
                    i += 1
                } else if separatorByte == nil && (c == space || c == tab) {
                    i += 1
                } else {
                    state = .unquoted
                }
            case .unquoted:
                if c == cr || c == lf {
                    try endField()
                    try endRecord()
                    skipLineEnd()
                    state = .fieldStart
                } else if separatorByte.map({ c == $0 }) ?? (c == space || c == tab) {
                    try endField()
                    i += 1
                    state = .fieldStart
                } else if c == quote {
                    throw .misplacedQuote(path: path, line: line, field: fields.count + 1)
                } else {
                    field.append(c)
                    i += 1
                }
            case .quoted:
                if c == quote {
                    if i + 1 < n && b[i + 1] == quote {
                        field.append(quote)
                        i += 2
                    } else {
                        state = .afterClosingQuote
                        i += 1
                    }
                } else {
                    if c == lf || (c == cr && !(i + 1 < n && b[i + 1] == lf)) { line += 1 }
                    field.append(c)
                    i += 1
                }
            case .afterClosingQuote:
                if c == cr || c == lf {
                    try endField()
                    try endRecord()
                    skipLineEnd()
                    state = .fieldStart
                } else if separatorByte.map({ c == $0 }) ?? (c == space || c == tab) {
                    try endField()
                    i += 1
                    state = .fieldStart
                } else {
                    throw .misplacedQuote(path: path, line: line, field: fields.count + 1)
                }
            }
        }
        // The end of the text ends the last record, with or without a line end.
        switch state {
        case .quoted:
            throw .unterminatedQuote(path: path, line: quoteLine, field: quoteField)
        case .unquoted, .afterClosingQuote:
            try endField()
            try endRecord()
        case .fieldStart:
            if separatorByte != nil && !fields.isEmpty { try endField() }
            if !fields.isEmpty { try endRecord() }
        }
    }
}

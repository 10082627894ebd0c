import Foundation
import Testing
@testable import TopiaryData

extension AllTests {
@Suite struct CSVTableTests {
    let directory = temporaryDirectory("csv")

    func write(_ text: String, _ name: String = "table.csv") -> String {
        let path = directory + "/" + name
        writeTestFile(path, Data(text.utf8))
        return path
    }

    func writeBytes(_ bytes: [UInt8], _ name: String = "table.csv") -> String {
        let path = directory + "/" + name
        writeTestFile(path, Data(bytes))
        return path
    }

    // MARK: real files (Debian's python3-sklearn)

    /// 1,797 8×8 digit images: 64 pixel columns (0–16) and the label (0–9), no header.
    @Test func readsScikitLearnDigits() throws {
        let table = try CSVTable(contentsOf: try TestData.sklearnFile("digits.csv.gz"), header: .none(columnNames: nil))
        #expect(table.rowCount == 1797 && table.columnNames.count == 65)
        #expect(table.columnNames.first == "c0" && table.columnNames.last == "c64")
        let pixels = try table.numericColumns((0..<64).map { "c\($0)" })
        #expect(pixels.count == 1797 * 64)
        #expect(pixels.allSatisfy { $0 >= 0 && $0 <= 16 && $0 == $0.rounded() } && pixels.contains(16))
        #expect(Array(pixels[0..<8]) == [0, 0, 5, 13, 9, 1, 0, 0])
        let labels = try table.numericColumns(["c64"])
        #expect(Set(labels) == Set((0...9).map(Float.init)) && Array(labels[0..<3]) == [0, 1, 2])
        #expect(table.rowLines.first == 1 && table.rowLines.last == 1797)
    }

    /// sklearn's own layout: a first line "samples,features,class names…", then the rows.
    @Test func readsScikitLearnBreastCancerAndWineAfterTheirCountLine() throws {
        for (name, rows, features, classes) in [("breast_cancer.csv", 569, 30, ["malignant", "benign"]),
                                                ("wine_data.csv", 178, 13, ["class_0", "class_1", "class_2"])] {
            let table = try CSVTable(contentsOf: try TestData.sklearnFile(name), header: .none(columnNames: nil), skippingLines: 1)
            let counts = table.skippedLines[0].split(separator: ",").map(String.init)
            #expect(counts == ["\(rows)", "\(features)"] + classes)
            #expect(table.rowCount == rows && table.columnNames.count == features + 1)
            #expect(table.rowLines.first == 2)
            let values = try table.numericColumns(Array(table.columnNames.dropLast()))
            #expect(values.count == rows * features && values.allSatisfy { $0 >= 0 })
            let labels = try table.numericColumns([table.columnNames.last!])
            #expect(Set(labels) == Set((0..<classes.count).map(Float.init)))
        }
    }

    /// A count line, then a header of quoted names.
    @Test func readsQuotedHeaderAfterASkippedLine() throws {
        let table = try CSVTable(contentsOf: try TestData.sklearnFile("boston_house_prices.csv"), skippingLines: 1)
        #expect(table.columnNames.first == "CRIM" && table.columnNames.last == "MEDV" && table.columnNames.count == 14)
        #expect(table.rowCount == 506 && table.rowLines.first == 3)
        #expect(try table.numericColumns(["MEDV"]).first == 24)
    }

    /// numpy.savetxt's layout: values separated by spaces, gzip-compressed.
    @Test func readsWhitespaceSeparatedDiabetesFiles() throws {
        let data = try CSVTable(contentsOf: try TestData.sklearnFile("diabetes_data_raw.csv.gz"), header: .none(columnNames: nil),
                                separator: .whitespace)
        let target = try CSVTable(contentsOf: try TestData.sklearnFile("diabetes_target.csv.gz"), header: .none(columnNames: ["progression"]),
                                  separator: .whitespace)
        #expect(data.rowCount == 442 && data.columnNames.count == 10 && target.rowCount == 442)
        #expect(Array(try data.numericColumns(data.columnNames).prefix(3)) == [59, 2, 32.1])
        #expect(try target.numericColumns(["progression"]).first == 151)
        let header = try CSVTable(contentsOf: try TestData.sklearnFile("linnerud_exercise.csv"), separator: .whitespace)
        #expect(header.columnNames == ["Chins", "Situps", "Jumps"] && header.rowCount == 20)
    }

    // MARK: the grammar

    @Test func readsQuotedFieldsEscapesAndNewlinesInsideQuotes() throws {
        let path = write("a,b,c\n1,\"x,y\",3\n4,\"he said \"\"hi\"\"\",6\n7,\"two\nlines\",9\n\n10,11,12\n")
        let table = try CSVTable(contentsOf: path)
        #expect(table.columnNames == ["a", "b", "c"])
        #expect(table.rows == [["1", "x,y", "3"], ["4", "he said \"hi\"", "6"], ["7", "two\nlines", "9"], ["10", "11", "12"]])
        #expect(table.rowLines == [2, 3, 4, 7])
        #expect(try table.column("b") == ["x,y", "he said \"hi\"", "two\nlines", "11"])
    }

    @Test func acceptsCRLFLoneCRMissingLastNewlineBlankLinesAndByteOrderMark() throws {
        #expect(try CSVTable(contentsOf: write("x,y\r\n1,2\r\n3,4")).rows == [["1", "2"], ["3", "4"]])
        #expect(try CSVTable(contentsOf: write("x,y\r1,2\r")).rows == [["1", "2"]])
        let blank = try CSVTable(contentsOf: write("\u{FEFF}x,y\n\n1,2\n\n\n3,4\n\n"))
        #expect(blank.columnNames == ["x", "y"] && blank.rowLines == [3, 6])
        #expect(try CSVTable(contentsOf: write("a,b,c\n,,\n1,,\n\"\",\"\",\"\"\n")).rows == [["", "", ""], ["1", "", ""], ["", "", ""]])
        #expect(try CSVTable(contentsOf: write("only\n")).rows.isEmpty)
    }

    @Test func readsGzipLikePlain() throws {
        let text = "a,b\n1,\"2\n3\"\n4,5\n"
        let gzipPath = directory + "/table.csv.gz"
        writeGzip(Array(text.utf8), to: gzipPath)
        let plain = try CSVTable(contentsOf: write(text)), compressed = try CSVTable(contentsOf: gzipPath)
        #expect(plain.rows == compressed.rows && plain.rowLines == compressed.rowLines && plain.rowLines == [2, 4])
    }

    @Test func otherSeparatorsAndNamedColumnsWithoutHeader() throws {
        #expect(try CSVTable(contentsOf: write("a;b\n1,5;2\n"), separator: .character(UInt8(ascii: ";"))).rows == [["1,5", "2"]])
        let spaces = try CSVTable(contentsOf: write("  1 2\t3  \n  \n4   5 6\n\"a b\" 7 \"\"\n"), header: .none(columnNames: nil),
                                  separator: .whitespace)
        #expect(spaces.columnNames == ["c0", "c1", "c2"] && spaces.rows == [["1", "2", "3"], ["4", "5", "6"], ["a b", "7", ""]])
        #expect(spaces.rowLines == [1, 3, 4])
        let named = try CSVTable(contentsOf: write("1,2\n3,4\n"), header: .none(columnNames: ["x", "y"]))
        #expect(try named.numericColumns(["y", "x"]) == [2, 1, 4, 3])
    }

    // MARK: every error, with file, line and column in the message

    @Test func missingEmptyAndNonUTF8Files() {
        let missing = directory + "/absent.csv"
        #expect(throws: CSVError.fileMissing(path: missing)) { try CSVTable(contentsOf: missing) }
        for text in ["", "\n\n\r\n"] {
            let path = write(text, "empty.csv")
            #expect(throws: CSVError.empty(path: path)) { try CSVTable(contentsOf: path) }
        }
        let short = write("a,b\n1,2\n", "short.csv")
        #expect(throws: CSVError.empty(path: short)) { try CSVTable(contentsOf: short, skippingLines: 5) }
        let latin1 = writeBytes(Array("a,b\n1,2\n3,".utf8) + [0xE9] + Array("\n".utf8), "latin1.csv")
        #expect(throws: CSVError.notUTF8(path: latin1, line: 3)) { try CSVTable(contentsOf: latin1) }
        #expect(describe { try CSVTable(contentsOf: latin1) }.contains("\(latin1):3: the text is not valid UTF-8"))
        let skipped = writeBytes([0xFF] + Array("\na\n".utf8), "skipped.csv")
        #expect(throws: CSVError.notUTF8(path: skipped, line: 1)) { try CSVTable(contentsOf: skipped, skippingLines: 1) }
    }

    @Test func rowsWithTheWrongFieldCount() {
        let short = write("a,b,c\n1,2,3\n4,5\n", "short.csv")
        #expect(throws: CSVError.fieldCount(path: short, line: 3, expected: 3, found: 2)) { try CSVTable(contentsOf: short) }
        #expect(describe { try CSVTable(contentsOf: short) }.contains("\(short):3: this row has 2 fields, but the table has 3 columns"))
        // The line counts the newline inside the quoted field of row 2.
        let long = write("a,b\n\"x\ny\",1\n1,2,3\n", "long.csv")
        #expect(throws: CSVError.fieldCount(path: long, line: 4, expected: 2, found: 3)) { try CSVTable(contentsOf: long) }
        let named = write("1,2,3\n", "named.csv")
        #expect(throws: CSVError.fieldCount(path: named, line: 1, expected: 2, found: 3)) {
            try CSVTable(contentsOf: named, header: .none(columnNames: ["x", "y"]))
        }
    }

    @Test func quotesThatDoNotClose() {
        let open = write("a,b\n1,2\n3,\"open\n4,5\n", "open.csv")
        #expect(throws: CSVError.unterminatedQuote(path: open, line: 3, field: 2)) { try CSVTable(contentsOf: open) }
        #expect(describe { try CSVTable(contentsOf: open) }.contains("\(open):3, column 2: a quoted field starts here"))
        let inside = write("a,b\n1,x\"y\n", "inside.csv")
        #expect(throws: CSVError.misplacedQuote(path: inside, line: 2, field: 2)) { try CSVTable(contentsOf: inside) }
        let after = write("a,b\n\"a\"b,1\n", "after.csv")
        #expect(throws: CSVError.misplacedQuote(path: after, line: 2, field: 1)) { try CSVTable(contentsOf: after) }
        #expect(describe { try CSVTable(contentsOf: after) }.contains("\(after):2, column 1:"))
    }

    @Test func duplicateAndUnknownColumns() throws {
        let duplicate = write("a,b,a\n1,2,3\n", "duplicate.csv")
        #expect(throws: CSVError.duplicateColumn(path: duplicate, name: "a", firstColumn: 1, secondColumn: 3)) {
            try CSVTable(contentsOf: duplicate)
        }
        #expect(describe { try CSVTable(contentsOf: duplicate) }.contains("\"a\" is used twice (columns 1 and 3)"))
        let named = write("1,2\n", "named.csv")
        #expect(throws: CSVError.duplicateColumn(path: named, name: "x", firstColumn: 1, secondColumn: 2)) {
            try CSVTable(contentsOf: named, header: .none(columnNames: ["x", "x"]))
        }
        let table = try CSVTable(contentsOf: write("a,b\n1,2\n"))
        #expect(throws: CSVError.unknownColumn(path: table.path, name: "z", available: ["a", "b"])) { try table.column("z") }
        #expect(throws: CSVError.unknownColumn(path: table.path, name: "z", available: ["a", "b"])) { try table.numericColumns(["a", "z"]) }
        #expect(describe { try table.column("z") }.contains("has no column \"z\". Its columns are \"a\", \"b\"."))
    }

    @Test func cellsThatAreNotFiniteNumbers() throws {
        let long = String(repeating: "7", count: 30) + "x" + String(repeating: "9", count: 70)
        let table = try CSVTable(contentsOf: write("a,b\n1, 2.5 \n3,x\n4,nan\n5,inf\n6,\n7,1e39\n8,\(long)\n"))
        func row(_ r: Int) throws -> CSVTable {
            try CSVTable(contentsOf: write("a,b\n" + table.rows[r].joined(separator: ",") + "\n", "row\(r).csv"))
        }
        #expect(try row(0).numericColumns(["b", "a"]) == [2.5, 1])
        for (r, value) in [(1, "x"), (2, "nan"), (3, "inf"), (4, ""), (5, "1e39")] {
            let one = try row(r)
            #expect(throws: CSVError.notANumber(path: one.path, line: 2, column: "b", value: value)) { try one.numericColumns(["a", "b"]) }
        }
        #expect(throws: CSVError.notANumber(path: table.path, line: 3, column: "b", value: "x")) { try table.numericColumns(["b"]) }
        #expect(describe { try table.numericColumns(["b"]) }.contains("\(table.path):3, column \"b\": \"x\" is not a finite number"))
        let longRow = try row(6)
        let excerpt = String(long.prefix(39)) + "…"
        #expect(throws: CSVError.notANumber(path: longRow.path, line: 2, column: "b", value: excerpt)) { try longRow.numericColumns(["b"]) }
        #expect(excerpt.count == 40)
        let control = try CSVTable(contentsOf: write("a\n\"1\n\u{07}\"\n", "control.csv"))
        #expect(describe { try control.numericColumns(["a"]) }.contains("\"1\\n\\u{7}\" is not a finite number"))
        // Float(_:) alone would stop at the NUL and read 1.
        let nul = try CSVTable(contentsOf: write("a\n1\u{0}5\n", "nul.csv"))
        #expect(throws: CSVError.notANumber(path: nul.path, line: 2, column: "a", value: "1\\u{0}5")) { try nul.numericColumns(["a"]) }
    }

    @Test func filesPastTheSizeLimitAndDamagedGzip() throws {
        let plain = write("a,b\n1,2\n3,4\n", "plain.csv")
        #expect(throws: CSVError.tooLarge(path: plain, limitBytes: 8)) { try CSVTable(contentsOf: plain, maximumBytes: 8) }
        #expect(try CSVTable(contentsOf: plain, maximumBytes: 12).rowCount == 2)
        // The limit counts decompressed bytes: a small .gz of 1 MB of text is refused.
        let bomb = directory + "/bomb.csv.gz"
        writeGzip([UInt8](repeating: UInt8(ascii: "1"), count: 1 << 20), to: bomb)
        #expect(throws: CSVError.tooLarge(path: bomb, limitBytes: 1000)) { try CSVTable(contentsOf: bomb, maximumBytes: 1000) }
        #expect(describe { try CSVTable(contentsOf: bomb, maximumBytes: 1000) }.contains("more than 1000 bytes"))
        let data = try Data(contentsOf: URL(fileURLWithPath: bomb))
        let cut = directory + "/cut.csv.gz"
        writeTestFile(cut, data.prefix(data.count / 2))
        #expect(describe { try CSVTable(contentsOf: cut) }.contains("truncated"))
        #expect(throws: CSVError.self) { try CSVTable(contentsOf: directory) }
    }

    // MARK: fuzz

    /// Seeded mutations of valid tables (plain and gzip-compressed, with quotes, CRLF and a
    /// real digits slice): each must be read or refused with a `CSVError`, never crash.
    @Test func refusesMutatedFilesWithItsOwnError() throws {
        let slice = try CSVTable(contentsOf: try TestData.sklearnFile("digits.csv.gz"), header: .none(columnNames: nil))
            .rows.prefix(12).map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n"
        let quoted = "id,name,score\r\n1,\"Smith, J\",3.5\r\n2,\"say \"\"hi\"\"\",4\r\n3,\"two\r\nlines\",-1e3\r\n"
        let seeds: [[UInt8]] = [Array(quoted.utf8), Array(slice.utf8), try gzipped(Array(quoted.utf8)), try gzipped(Array(slice.utf8))]
        var mutator = TextMutator(seed: 11, tokens: ["\"", "\"\"", ",", "\r\n", "\n", "\r", " ", "nan", "1e39", "\u{FEFF}", "é", "\0"],
                                  lines: ["", ",", "\"", "a,b,c", "\"unclosed", "1,2,3,4,5"])
        let path = directory + "/fuzz.csv"
        var read = 0, refused = 0
        let started = Date()
        for iteration in 0..<fuzzIterations {
            let input = mutator.mutate(seeds[iteration % seeds.count])
            writeTestFile(path, Data(input))
            let header: CSVTable.Header = iteration % 3 == 0 ? .firstRow : .none(columnNames: nil)
            let separator: CSVTable.Separator = iteration % 5 == 4 ? .whitespace : .comma
            do {
                let table = try CSVTable(contentsOf: path, header: header, separator: separator, skippingLines: iteration % 7 == 6 ? 1 : 0)
                #expect(table.rows.allSatisfy { $0.count == table.columnNames.count } && table.rowLines.count == table.rowCount)
                #expect(zip(table.rowLines, table.rowLines.dropFirst()).allSatisfy { $0 < $1 })
                do {
                    let values = try table.numericColumns(table.columnNames)
                    #expect(values.count == table.rowCount * table.columnNames.count && values.allSatisfy(\.isFinite))
                } catch is CSVError {}
                read += 1
            } catch is CSVError {
                refused += 1
            }
        }
        #expect(read + refused == fuzzIterations && read > fuzzIterations / 10 && refused > fuzzIterations / 10)
        print("CSV reader: \(fuzzIterations) mutated inputs, \(read) read, \(refused) refused, \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
    }
}
}

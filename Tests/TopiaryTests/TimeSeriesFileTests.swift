import Foundation
import Testing
@testable import TopiaryData

extension AllTests {
@Suite struct TimeSeriesFileTests {
    let directory = temporaryDirectory("ts")

    /// Lines 1–8; cases start on line 9.
    static let header = """
        # two channels of three values, classes a and b
        @problemName Toy
        @univariate false
        @dimensions 2
        @equalLength true
        @seriesLength 3
        @classLabel true a b
        @data

        """

    func write(_ text: String, _ name: String = "toy.ts") -> String {
        let path = directory + "/" + name
        writeTestFile(path, Data(text.utf8))
        return path
    }

    /// `header` with the line starting with `key` replaced by `replacement` (nil: removed).
    func header(replacing key: String, with replacement: String?) -> String {
        Self.header.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line in
            line.hasPrefix(key) ? replacement : String(line)
        }.joined(separator: "\n")
    }

    // MARK: real files (aeon's wheel, unpacked by `make data-sensors`)

    /// Smart-watch accelerometer and gyroscope: 6 channels × 100 samples, 4 activities, 10 each.
    @Test func readsBasicMotions() throws {
        for split in ["TRAIN", "TEST"] {
            let file = try TimeSeriesFile(contentsOf: try TestData.aeonFile("BasicMotions/BasicMotions_\(split).ts"))
            #expect(file.problemName == "BasicMotions" && file.caseCount == 40)
            #expect(file.dimensions == 6 && file.seriesLength == 100 && file.values.count == 40 * 6 * 100)
            #expect(file.classLabels == ["Standing", "Running", "Walking", "Badminton"])
            for label in file.classLabels! { #expect(file.labels.filter { $0 == label }.count == 10) }
            #expect(file.caseLines.first == 14 && file.caseLines.last == 53)
            let dataset = file.classificationDataset()
            #expect(dataset.count == 40 && dataset.featureCount == 600 && dataset.inputShape == [6, 100] && dataset.classCount == 4)
            #expect(dataset.labels.map { file.classLabels![Int($0)] } == file.labels)
        }
        let train = try TimeSeriesFile(contentsOf: try TestData.aeonFile("BasicMotions/BasicMotions_TRAIN.ts"))
        #expect(Array(train.values.prefix(3)) == [0.079106, 0.079106, -0.903497] && train.labels.first == "Standing")
    }

    @Test func readsUnivariateItalyPowerDemandAndRegressionCovid3Month() throws {
        for (split, cases) in [("TRAIN", 67), ("TEST", 1029)] {
            let file = try TimeSeriesFile(contentsOf: try TestData.aeonFile("ItalyPowerDemand/ItalyPowerDemand_\(split).ts"))
            #expect(file.caseCount == cases && file.dimensions == 1 && file.seriesLength == 24 && file.classLabels == ["1", "2"])
            #expect(Set(file.classIndices!) == [0, 1])
        }
        // Lowercase keys, no @seriesLength (the first case sets it), a numeric target.
        for (split, cases) in [("TRAIN", 140), ("TEST", 61)] {
            let file = try TimeSeriesFile(contentsOf: try TestData.aeonFile("Covid3Month/Covid3Month_\(split).ts"))
            #expect(file.target == .regression && file.classLabels == nil && file.classIndices == nil)
            #expect(file.caseCount == cases && file.dimensions == 1 && file.seriesLength == 84)
            #expect(file.regressionTargets!.allSatisfy { $0 >= 0 && $0 < 0.2 } && file.regressionTargets!.contains { $0 > 0.1 })
        }
    }

    /// ARFF-style % comments, a repeated @problemName (the last wins), and time stamps refused.
    @Test func readsAeonUnitTestFilesAndRefusesTimeStamps() throws {
        let train = try TimeSeriesFile(contentsOf: try TestData.aeonFile("UnitTest/UnitTest_TRAIN.ts"))
        #expect(train.problemName == "UnitTest" && train.caseCount == 20 && train.seriesLength == 24)
        let test = try TimeSeriesFile(contentsOf: try TestData.aeonFile("UnitTest/UnitTest_TEST.ts"))
        #expect(test.problemName == "Chinatown" && test.caseCount == 22)
        let stamped = try TestData.aeonFile("UnitTest/UnitTestTimeStamps_TRAIN.ts")
        #expect(throws: TimeSeriesError.timeStampsNotSupported(path: stamped, line: 5)) { try TimeSeriesFile(contentsOf: stamped) }
        #expect(describe { try TimeSeriesFile(contentsOf: stamped) }.contains("\(stamped):5: @timeStamps true"))
    }

    // MARK: the format

    @Test func readsMultivariateCasesWithClassLabels() throws {
        let file = try TimeSeriesFile(contentsOf: write(Self.header + "1,2,3:4,5,6:a\n 7, 8,9 :10,11,12: b \n\n"))
        #expect(file.problemName == "Toy" && file.dimensions == 2 && file.seriesLength == 3 && file.caseCount == 2)
        #expect(file.values == (1...12).map(Float.init) && file.labels == ["a", "b"] && file.classIndices == [0, 1])
        #expect(file.caseLines == [9, 10] && file.target == .classLabels(["a", "b"]))
    }

    @Test func acceptsCRLFGzipAndLabelsDifferingInCaseOnly() throws {
        let text = (Self.header + "1,2,3:4,5,6:A\n").replacingOccurrences(of: "\n", with: "\r\n")
        let gzipPath = directory + "/toy.ts.gz"
        writeGzip(Array(text.utf8), to: gzipPath)
        for file in [try TimeSeriesFile(contentsOf: write(text)), try TimeSeriesFile(contentsOf: gzipPath)] {
            #expect(file.values == (1...6).map(Float.init) && file.labels == ["a"])
        }
    }

    @Test func countsAndLengthsFromTheFirstCaseAndFilesWithoutLabels() throws {
        let undeclared = "@problemName U\n@classLabel false\n@data\n1,2:3,4:\n5,6:7,8:\n"
        let file = try TimeSeriesFile(contentsOf: write(undeclared))
        #expect(file.target == .none && file.dimensions == 2 && file.seriesLength == 2 && file.labels.isEmpty)
        #expect(file.values == (1...8).map(Float.init) && file.classIndices == nil && file.regressionTargets == nil)
        let regression = try TimeSeriesFile(contentsOf: write("@targetLabel true\n@DATA\n1,2,3:-0.5\n4,5,6:1e-3\n"))
        #expect(regression.regressionTargets == [-0.5, 0.001] && regression.labels == ["-0.5", "1e-3"])
    }

    // MARK: every error, with file, line and dimension/position in the message

    @Test func missingEmptyLargeAndNonUTF8Files() throws {
        let absent = directory + "/absent.ts"
        #expect(throws: TimeSeriesError.fileMissing(path: absent)) { try TimeSeriesFile(contentsOf: absent) }
        let empty = write("", "empty.ts")
        #expect(throws: TimeSeriesError.missingDataSection(path: empty)) { try TimeSeriesFile(contentsOf: empty) }
        let noData = write(header(replacing: "@data", with: nil) + "1,2,3:4,5,6:a\n", "nodata.ts")
        #expect(throws: TimeSeriesError.self) { try TimeSeriesFile(contentsOf: noData) }
        let headerOnly = write(header(replacing: "@data", with: nil), "headeronly.ts")
        #expect(throws: TimeSeriesError.missingDataSection(path: headerOnly)) { try TimeSeriesFile(contentsOf: headerOnly) }
        let noCases = write(Self.header + "\n \n", "nocases.ts")
        #expect(throws: TimeSeriesError.noCases(path: noCases, dataLine: 8)) { try TimeSeriesFile(contentsOf: noCases) }
        #expect(describe { try TimeSeriesFile(contentsOf: noCases) }.contains("@data on line 8 is followed by no case"))
        let large = write(Self.header + "1,2,3:4,5,6:a\n", "large.ts")
        #expect(throws: TimeSeriesError.tooLarge(path: large, limitBytes: 100)) { try TimeSeriesFile(contentsOf: large, maximumBytes: 100) }
        let latin1 = directory + "/latin1.ts"
        writeTestFile(latin1, Data(Array((Self.header + "1,2,3:4,5,6:").utf8) + [0xE9] + Array("\n".utf8)))
        #expect(throws: TimeSeriesError.notUTF8(path: latin1, line: 9)) { try TimeSeriesFile(contentsOf: latin1) }
    }

    @Test func headerKeysAndValuesThatAreWrong() {
        func expectError(_ header: String, _ error: (String) -> TimeSeriesError, message: String) {
            let path = write(header + "1,2,3:4,5,6:a\n", "header.ts")
            #expect(throws: error(path)) { try TimeSeriesFile(contentsOf: path) }
            let text = describe { try TimeSeriesFile(contentsOf: path) }
            #expect(text.contains(path) && text.contains(message), "\(text)")
        }
        expectError(header(replacing: "@seriesLength", with: "@seriesLenght 3"),
                    { .unknownHeaderKey(path: $0, line: 6, key: "seriesLenght") }, message: ":6: unknown header key \"@seriesLenght\". The keys of a .ts header are @problemName,")
        expectError(header(replacing: "# two", with: "hello"), { .lineOutsideHeader(path: $0, line: 1, text: "hello") }, message: ":1: \"hello\" comes before @data")
        expectError(header(replacing: "@univariate", with: "@univariate maybe"),
                    { .badHeaderValue(path: $0, line: 3, key: "@univariate", value: "maybe", expected: "true or false") },
                    message: ":3: @univariate \"maybe\" is not valid: it takes true or false.")
        expectError(header(replacing: "@dimensions", with: "@dimensions 0"),
                    { .badHeaderValue(path: $0, line: 4, key: "@dimensions", value: "0", expected: "a whole number ≥ 1") }, message: ":4:")
        expectError(header(replacing: "@classLabel", with: "@classLabel true"),
                    { .badHeaderValue(path: $0, line: 7, key: "@classLabel", value: "true", expected: "true followed by the class labels, or false") },
                    message: ":7:")
        expectError(header(replacing: "@classLabel", with: "@classLabel true a a"),
                    { .badHeaderValue(path: $0, line: 7, key: "@classLabel", value: "true a a", expected: "true followed by distinct class labels") },
                    message: ":7:")
        expectError(header(replacing: "@data", with: "@data 12"),
                    { .badHeaderValue(path: $0, line: 8, key: "@data", value: "12", expected: "nothing: the cases start on the next line") },
                    message: ":8:")
        expectError(header(replacing: "@equalLength", with: "@targetLabel true"),
                    { .badHeaderValue(path: $0, line: 7, key: "@classLabel", value: "true a b",
                                      expected: "a class label or a numeric target, not both (@classLabel true on line 7, @targetLabel true on line 5)") },
                    message: "not both")
        expectError(header(replacing: "@univariate", with: "@univariate true"),
                    { .badHeaderValue(path: $0, line: 4, key: "@dimensions", value: "2", expected: "1, as @univariate true on line 3 says") },
                    message: ":4: @dimensions \"2\"")
        expectError(header(replacing: "@equalLength", with: "@equalLength false"),
                    { .unequalLengthNotSupported(path: $0, line: 5) }, message: ":5: @equalLength false: series of unequal length are not supported yet")
        expectError(header(replacing: "@equalLength", with: "@timestamps TRUE"),
                    { .timeStampsNotSupported(path: $0, line: 5) }, message: "is not supported yet")
    }

    @Test func casesWithTheWrongShape() {
        func expectError(_ header: String = Self.header, cases: String, _ error: (String) -> TimeSeriesError, message: String) {
            let path = write(header + cases, "shape.ts")
            #expect(throws: error(path)) { try TimeSeriesFile(contentsOf: path) }
            let text = describe { try TimeSeriesFile(contentsOf: path) }
            #expect(text.contains(path) && text.contains(message), "\(text)")
        }
        expectError(cases: "1,2,3:4,5,6:a\n1,2,3:b\n",
                    { .wrongDimensionCount(path: $0, line: 10, expected: 2, found: 1, expectedFrom: .header(key: "@dimensions", line: 4)) },
                    message: ":10: this case has 1 dimensions (\":\"-separated series), but @dimensions on line 4 declares 2.")
        let noCounts = header(replacing: "@dimensions", with: nil)
        expectError(noCounts, cases: "1,2,3:4,5,6:a\n1,2,3:b\n",
                    { .wrongDimensionCount(path: $0, line: 9, expected: 2, found: 1, expectedFrom: .firstCase(line: 8)) },
                    message: "but the first case (line 8) has 2")
        expectError(header(replacing: "@univariate", with: "@univariate true").replacingOccurrences(of: "@dimensions 2\n", with: ""),
                    cases: "1,2,3:4,5,6:a\n",
                    { .wrongDimensionCount(path: $0, line: 8, expected: 1, found: 2, expectedFrom: .header(key: "@univariate", line: 3)) },
                    message: "@univariate on line 3 declares 1")
        expectError(cases: "1,2,3:4,5:a\n",
                    { .wrongLength(path: $0, line: 9, dimension: 2, expected: 3, found: 2, expectedFrom: .header(key: "@seriesLength", line: 6)) },
                    message: ":9, dimension 2: 2 values, but @seriesLength on line 6 declares 3.")
        expectError(header(replacing: "@seriesLength", with: nil), cases: "1,2:4,5:a\n1,2:4,5,6,7:b\n",
                    { .wrongLength(path: $0, line: 9, dimension: 2, expected: 2, found: 4, expectedFrom: .firstCase(line: 8)) },
                    message: "the first case (line 8) has 2")
    }

    @Test func valuesAndLabelsThatAreWrong() {
        func expectError(_ header: String = Self.header, cases: String, _ error: (String) -> TimeSeriesError, message: String) {
            let path = write(header + cases, "values.ts")
            #expect(throws: error(path)) { try TimeSeriesFile(contentsOf: path) }
            let text = describe { try TimeSeriesFile(contentsOf: path) }
            #expect(text.contains(path) && text.contains(message), "\(text)")
        }
        expectError(cases: "1,2,3:4,5,6:a\n1,x,3:4,5,6:b\n", { .notANumber(path: $0, line: 10, dimension: 1, position: 2, value: "x") },
                    message: ":10, dimension 1, position 2: \"x\" is not a finite number.")
        expectError(cases: "1,2,3:4,,6:a\n", { .notANumber(path: $0, line: 9, dimension: 2, position: 2, value: "") }, message: "an empty value")
        expectError(cases: "1,2,3:4,5,1e39:a\n", { .notANumber(path: $0, line: 9, dimension: 2, position: 3, value: "1e39") }, message: "position 3")
        let long = String(repeating: "8", count: 60) + "z"
        expectError(cases: "1,\(long),3:4,5,6:a\n",
                    { .notANumber(path: $0, line: 9, dimension: 1, position: 2, value: String(repeating: "8", count: 39) + "…") }, message: "…\" is not")
        expectError(cases: "1,2\u{0}7,3:4,5,6:a\n", { .notANumber(path: $0, line: 9, dimension: 1, position: 2, value: "2\\u{0}7") },
                    message: "position 2")
        expectError(cases: "1,2,3:4,?,6:a\n", { .missingValue(path: $0, line: 9, dimension: 2, position: 2) },
                    message: ":9, dimension 2, position 2: missing value; this reader needs complete series.")
        expectError(cases: "NaN,2,3:4,5,6:a\n", { .missingValue(path: $0, line: 9, dimension: 1, position: 1) }, message: "missing value")
        expectError(cases: "1,2,3:4,5,6:c\n", { .undeclaredClassLabel(path: $0, line: 9, label: "c", declared: ["a", "b"]) },
                    message: ":9: class label \"c\" is not among those @classLabel declares (a b).")
        expectError(cases: "1,2,3:4,5,6\n", { .missingTarget(path: $0, line: 9) }, message: ":9: this case ends without \":target\"")
        expectError(cases: "1,2,3\n", { .missingTarget(path: $0, line: 9) }, message: ":9:")
        let regression = header(replacing: "@classLabel", with: "@targetLabel true")
        expectError(regression, cases: "1,2,3:4,5,6:fast\n", { .badTarget(path: $0, line: 9, value: "fast") },
                    message: ":9: the target \"fast\" is not a finite number")
        expectError(regression, cases: "1,2,3:4,5,6:nan\n", { .badTarget(path: $0, line: 9, value: "nan") }, message: ":9:")
    }

    // MARK: fuzz

    /// Seeded mutations of valid files (the toy file, slices of three real ones, gzip): each
    /// must be read or refused with a `TimeSeriesError`, never crash.
    @Test func refusesMutatedFilesWithItsOwnError() throws {
        func slice(_ relativePath: String, cases: Int) throws -> [UInt8] {
            let text = try String(contentsOfFile: try TestData.aeonFile(relativePath), encoding: .utf8)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let data = lines.firstIndex { $0.lowercased().hasPrefix("@data") }!
            return Array(lines[...(data + cases)].joined(separator: "\n").utf8) + [UInt8(ascii: "\n")]
        }
        let toy = Array((Self.header + "1,2,3:4,5,6:a\n7,8,9:10,11,12:b\n-1,0.5,2e-3:?,1,1:a\n").utf8)
        let italy = try slice("ItalyPowerDemand/ItalyPowerDemand_TRAIN.ts", cases: 8)
        let seeds: [[UInt8]] = [toy, italy, try slice("BasicMotions/BasicMotions_TRAIN.ts", cases: 2),
                                try slice("Covid3Month/Covid3Month_TRAIN.ts", cases: 3), try gzipped(italy)]
        var mutator = TextMutator(seed: 12, tokens: [":", ",", "?", "NaN", "@", "#", "\r\n", "\n", " ", "1e39", "-", ".", "a", "é", "\0"],
                                  lines: ["@data", "@dimensions 3", "@seriesLength 2", "@classLabel true a b", "@targetLabel true",
                                          "@univariate true", "@equalLength false", "@timeStamps true", "@foo bar", "# comment",
                                          "% comment", "1,2,3:4,5,6:a", "?", "", ":"])
        let path = directory + "/fuzz.ts"
        var read = 0, refused = 0
        let started = Date()
        for iteration in 0..<fuzzIterations {
            let input = mutator.mutate(seeds[iteration % seeds.count])
            writeTestFile(path, Data(input))
            do {
                let file = try TimeSeriesFile(contentsOf: path)
                #expect(file.caseCount >= 1 && file.dimensions >= 1 && file.seriesLength >= 1)
                #expect(file.values.count == file.caseCount * file.dimensions * file.seriesLength && file.values.allSatisfy(\.isFinite))
                #expect(file.caseLines.count == file.caseCount && file.labels.count == (file.target == .none ? 0 : file.caseCount))
                if let indices = file.classIndices { #expect(indices.allSatisfy { $0 >= 0 && Int($0) < file.classLabels!.count }) }
                if let targets = file.regressionTargets { #expect(targets.allSatisfy { $0.isFinite }) }
                read += 1
            } catch is TimeSeriesError {
                refused += 1
            }
        }
        #expect(read + refused == fuzzIterations && read > fuzzIterations / 10 && refused > fuzzIterations / 10)
        print(".ts reader: \(fuzzIterations) mutated inputs, \(read) read, \(refused) refused, \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
    }
}
}

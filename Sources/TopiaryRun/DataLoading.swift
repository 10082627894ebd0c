import Foundation
import TopiaryData
import TopiaryNN
import TopiarySpec
import TopiaryTensor

/// The examples of a run: training, validation and test splits, checked against each other
/// before any work (every split's sample shape equals the training split's, no split is
/// empty), and standardised with statistics of the training rows only when the spec asks.
package struct SplitData {
    package let train: Dataset
    package let validation: Dataset
    package let test: Dataset
    /// Rows of the training file before the validation split and any limit.
    package let availableTrainingRows: Int
    /// Class names in index order, when the data names them (CSV or .ts labels).
    package let classNames: [String]?
    /// text: further held-out sets by name (`data.evaluate`), reported, never deciding.
    package var evaluations: [(name: String, data: Dataset)] = []
    /// text read by a model's tokenizer (not as bytes): that tokenizer.
    package var tokenizer: ByteLevelBPE?
}

package enum DataLoading {
    package static func load(_ spec: ResolvedSpec) throws -> SplitData {
        if case .text(let text) = spec.source { return try windows(of: text, seed: spec.seed) }
        let data = spec.data
        var splitGenerator = SeededGenerator(seed: spec.seed, stream: "split")
        let (fullTrain, fullTest, names) = try files(spec.source, task: spec.task, generator: &splitGenerator)
        let held = data.validationRows(available: fullTrain.count)
        guard held < fullTrain.count else {
            throw SpecProblem(keyPath: data.validationFraction == nil ? "data.validation_size" : "data.validation_fraction",
                              problem: "\(held) leaves no training rows of \(fullTrain.count).")
        }
        let (rest, validation) = fullTrain.split(heldOutCount: held, generator: &splitGenerator)
        var train = data.trainLimit.map { rest.sample($0, generator: &splitGenerator) } ?? rest
        var test = data.testLimit.map { fullTest.subset(Array(0..<min($0, fullTest.count))) } ?? fullTest
        var heldOut = validation
        if spec.standardize {
            let statistics = Standardization(train)
            (train, heldOut, test) = (statistics.apply(train), statistics.apply(heldOut), statistics.apply(test))
        }
        return SplitData(train: train, validation: heldOut, test: test, availableTrainingRows: fullTrain.count, classNames: names)
    }

    /// The training and test sets as the files hold them (test carved from training when
    /// there is no test file), and class names when the files name them.
    static func files(_ source: ResolvedSpec.DataSource, task: TaskKind, generator: inout SeededGenerator) throws -> (Dataset, Dataset, [String]?) {
        /// The test rows a fraction carves from the training rows.
        func carve(_ train: Dataset, _ fraction: Double) -> (Dataset, Dataset) {
            train.split(heldOutCount: max(1, Int((Double(train.count) * fraction).rounded())), generator: &generator)
        }
        switch source {
        case .text:
            preconditionFailure("text is split by position (DataLoading.windows), not by rows")
        case .fashionMNIST(let directory):
            let (train, test) = try FashionMNIST.load(directory: directory)
            return (train, test, nil)
        case .idx(let files):
            let paths = [files.trainImages, files.trainLabels, files.testImages, files.testLabels].map(DataCache.resolve)
            var train = try FashionMNIST.loadPair(images: paths[0], labels: paths[1], classCount: 256)
            var test = try FashionMNIST.loadPair(images: paths[2], labels: paths[3], classCount: 256)
            guard train.inputShape == test.inputShape else {
                throw DataError.splitsDisagree(path: paths[2], itemShape: test.inputShape, referencePath: paths[0], referenceShape: train.inputShape)
            }
            // Both files hold at least one row (`loadPair` refuses empty ones).
            let largest = ((0..<train.count).map(train.label) + (0..<test.count).map(test.label)).max() ?? 0
            let classes = files.classes ?? largest + 1
            for (dataset, path) in [(train, paths[1]), (test, paths[3])] {
                if let bad = (0..<dataset.count).first(where: { dataset.label($0) >= classes }) {
                    throw DataError.labelOutOfRange(path: path, index: bad, label: dataset.label(bad), classCount: classes)
                }
            }
            train = Dataset(inputs: train.inputs, targets: train.targets, classCount: classes)
            test = Dataset(inputs: test.inputs, targets: test.targets, classCount: classes)
            return (train, test, nil)
        case .csv(let files):
            let trainTable = try table(DataCache.resolve(files.train), files)
            let featureNames = files.features ?? trainTable.columnNames.filter { $0 != files.label }
            guard !featureNames.isEmpty else {
                throw SpecProblem(keyPath: "data.features", problem: "no feature columns are left besides the label \(files.label).")
            }
            var testTable: CSVTable?
            if case .file(let path) = files.test { testTable = try table(DataCache.resolve(path), files) }
            let labels = try LabelCoding(task: task, tables: [trainTable] + (testTable.map { [$0] } ?? []), column: files.label)
            let train = try labels.dataset(trainTable, features: featureNames)
            if let testTable { return (train, try labels.dataset(testTable, features: featureNames), labels.classNames) }
            guard case .fraction(let fraction) = files.test else { preconditionFailure("a test file was read above") }
            let (rest, test) = carve(train, fraction)
            return (rest, test, labels.classNames)
        case .series(let files):
            let trainFile = try TimeSeriesFile(contentsOf: DataCache.resolve(files.train))
            let train = try seriesDataset(trainFile, task: task, classNames: nil)
            switch files.test {
            case .file(let testPath):
                let testFile = try TimeSeriesFile(contentsOf: DataCache.resolve(testPath))
                guard testFile.dimensions == trainFile.dimensions, testFile.seriesLength == trainFile.seriesLength else {
                    throw DataError.splitsDisagree(path: testFile.path, itemShape: [testFile.dimensions, testFile.seriesLength],
                                                   referencePath: trainFile.path, referenceShape: [trainFile.dimensions, trainFile.seriesLength])
                }
                return (train, try seriesDataset(testFile, task: task, classNames: trainFile.classLabels), trainFile.classLabels)
            case .fraction(let fraction):
                let (rest, test) = carve(train, fraction)
                return (rest, test, trainFile.classLabels)
            }
        }
    }

    static func table(_ path: String, _ files: ResolvedSpec.TableFiles) throws -> CSVTable {
        try CSVTable(contentsOf: path, header: files.header ? .firstRow : .none(columnNames: nil),
                     separator: files.separator == .whitespace ? .whitespace : .comma)
    }

    /// A corpus as windows of the model's context T: `trainWindows` at random offsets of the
    /// leading `trainFraction` (seeded by the run's seed), and in the held-out rest the first
    /// `evalWindows` consecutive windows as the test set and the next `evalWindows` as the
    /// validation split that decides; no window of one split shares a byte with another's.
    static func windows(of text: ResolvedSpec.TextSource, seed: UInt64) throws -> SplitData {
        func load(_ source: String, keyPath: String) throws -> TextCorpus {
            do { return try TextCorpus.load(source) } catch let error as TextCorpusError {
                throw SpecProblem(keyPath: keyPath, problem: error.errorDescription!)
            }
        }
        let tokenizer = try text.tokenizerFile.map(TextTokens.tokenizer)
        let vocabulary = tokenizer?.tokens.count ?? 256
        /// A corpus's training part (or held-out rest) as tokens: bytes, or the tokenizer's ids
        /// of that part's text, cut at a character boundary.
        func part(_ corpus: TextCorpus, heldOut: Bool) -> ArraySlice<Int32> {
            var cut = corpus.split(trainFraction: text.trainFraction).heldOut.startIndex
            guard let tokenizer, let file = text.tokenizerFile else {
                return ArraySlice((heldOut ? corpus.bytes[cut...] : corpus.bytes[..<cut]).map(Int32.init))
            }
            while cut < corpus.bytes.endIndex && corpus.bytes[cut] & 0xC0 == 0x80 { cut += 1 }
            return ArraySlice(TextTokens.encode(heldOut ? corpus.bytes[cut...] : corpus.bytes[..<cut], with: tokenizer, file: file))
        }
        let unit = tokenizer == nil ? "bytes" : "tokens"
        let corpus = try load(text.corpus, keyPath: "data.train")
        let (train, heldOut) = (part(corpus, heldOut: false), part(corpus, heldOut: true))
        let T = text.context
        guard train.count > T + 1 else {
            throw SpecProblem(keyPath: "data.train", problem: "text corpus \(corpus.name) has \(train.count) \(unit) in its training part, which needs at least \(T + 2). Use more text or a shorter block_size.")
        }
        let available = TextWindows.available(heldOut, length: T)
        guard available >= 2 * text.evalWindows else {
            throw SpecProblem(keyPath: "data.eval_windows", problem: "the held-out \(heldOut.count) \(unit) of \(corpus.name) hold \(available) windows of \(T); "
                                + "test and validation need 2 × \(text.evalWindows). Lower eval_windows or train_fraction.")
        }
        var generator = SeededGenerator(seed: seed, stream: "windows")
        var split = SplitData(train: TextWindows.random(train, count: text.trainWindows, length: T, classCount: vocabulary, generator: &generator),
                              validation: TextWindows.consecutive(heldOut, first: text.evalWindows, count: text.evalWindows, length: T, classCount: vocabulary),
                              test: TextWindows.consecutive(heldOut, first: 0, count: text.evalWindows, length: T, classCount: vocabulary),
                              availableTrainingRows: text.trainWindows, classNames: nil)
        split.tokenizer = tokenizer
        // Each further corpus is held out the same way: its first windows after the training part.
        for (name, source) in text.evaluations {
            let other = try load(source, keyPath: "data.evaluate.\(name)")
            let rest = part(other, heldOut: true)
            guard TextWindows.available(rest, length: T) >= text.evalWindows else {
                throw SpecProblem(keyPath: "data.evaluate.\(name)", problem: "the held-out \(rest.count) \(unit) of \(other.name) hold fewer than \(text.evalWindows) windows of \(T). Lower eval_windows.")
            }
            split.evaluations.append((name, TextWindows.consecutive(rest, count: text.evalWindows, length: T, classCount: vocabulary)))
        }
        return split
    }

    /// A .ts file's cases as (N, channels, length) inputs, one series per row (so every split
    /// keeps whole series apart), with classes in the training file's declared order.
    static func seriesDataset(_ file: TimeSeriesFile, task: TaskKind, classNames: [String]?) throws -> Dataset {
        let inputs = Tensor(shape: [file.caseCount, file.dimensions, file.seriesLength], values: file.values)
        switch task {
        case .classification:
            guard let declared = file.classLabels else {
                throw SpecProblem(keyPath: "task", problem: "\(file.path) declares no class labels (@classLabel); for a numeric target use task: regression.")
            }
            let order = classNames ?? declared
            let index = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, Int32($0)) })
            let labels = try file.labels.enumerated().map { case_, label in
                guard let value = index[label] else {
                    throw SpecProblem(keyPath: "data.test", problem: "\(file.path), case \(case_ + 1): class '\(label)' is not one of the training file's classes \(order).")
                }
                return value
            }
            return Dataset(inputs: inputs, labels: labels, classCount: order.count)
        case .regression:
            guard let targets = file.regressionTargets else {
                throw SpecProblem(keyPath: "task", problem: "\(file.path) declares class labels; use task: classification.")
            }
            return Dataset(inputs: inputs, targets: Tensor(shape: [file.caseCount, 1], values: targets), classCount: nil)
        case .languageModel:
            preconditionFailure("the spec decoder pairs task language_model with dataset text only")
        }
    }
}

/// How a CSV label column becomes targets: class indices (whole numbers ≥ 0 keep their
/// value; other labels are numbered in sorted order) or, for regression, the numbers.
struct LabelCoding {
    package let task: TaskKind
    let column: String
    /// Class names by index (nil for regression, or when labels are already indices).
    let classNames: [String]?
    let classCount: Int?
    private let index: [String: Int32]

    init(task: TaskKind, tables: [CSVTable], column: String) throws {
        self.task = task
        self.column = column
        guard task == .classification else { (classNames, classCount, index) = (nil, nil, [:]); return }
        let values = try tables.flatMap { try $0.column(column) }
        let numbers = values.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        if numbers.count == values.count, numbers.allSatisfy({ $0 >= 0 }), let largest = numbers.max() {
            (classNames, classCount) = (nil, largest + 1)
            index = Dictionary(values.map { ($0, Int32(Int($0.trimmingCharacters(in: .whitespaces))!)) }, uniquingKeysWith: { a, _ in a })
        } else {
            let names = Array(Set(values)).sorted()
            (classNames, classCount) = (names, names.count)
            index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int32($0)) })
        }
    }

    func dataset(_ table: CSVTable, features: [String]) throws -> Dataset {
        let inputs = Tensor(shape: [table.rowCount, features.count], values: try table.numericColumns(features))
        switch task {
        case .classification:
            return Dataset(inputs: inputs, labels: try table.column(column).map { index[$0]! }, classCount: classCount!)
        case .regression:
            return Dataset(inputs: inputs, targets: Tensor(shape: [table.rowCount, 1], values: try table.numericColumns([column])), classCount: nil)
        case .languageModel:
            preconditionFailure("the spec decoder pairs task language_model with dataset text only")
        }
    }
}

/// Zero mean, unit variance per input feature (a table's column, a series' channel over all
/// its time steps), from the training rows; constant features are only centred.
struct Standardization {
    let mean: [Float]
    let scale: [Float]
    /// Elements per feature: 1 for a table row, the length for a series (N, C, L).
    let span: Int

    init(_ train: Dataset) {
        let shape = train.inputShape
        let features = shape.count >= 2 ? shape[0] : shape.reduce(1, *)
        span = train.featureCount / features
        var sums = [Double](repeating: 0, count: features), squares = sums
        for row in 0..<train.count {
            let sample = train.inputs.pointer + row * train.featureCount
            for f in 0..<features { for t in 0..<span { let v = Double(sample[f * span + t]); sums[f] += v; squares[f] += v * v } }
        }
        let n = Double(train.count * span)
        mean = sums.map { Float($0 / n) }
        scale = zip(sums, squares).map { s, q in
            let variance = max(q / n - (s / n) * (s / n), 0)
            return variance > 1e-12 ? Float(1 / variance.squareRoot()) : 1
        }
    }

    func apply(_ data: Dataset) -> Dataset {
        let inputs = data.inputs.copy()
        for row in 0..<data.count {
            let sample = inputs.pointer + row * data.featureCount
            for f in 0..<mean.count { for t in 0..<span { sample[f * span + t] = (sample[f * span + t] - mean[f]) * scale[f] } }
        }
        return Dataset(inputs: inputs, targets: data.targets, classCount: data.classCount, groups: data.groups)
    }
}

import Foundation
import TopiaryData

/// `data:` — where the examples come from and how they are split.
///
///     data: { dataset: fashion-mnist, path: /usr/share/datasets/fashion-mnist }
///     data: { dataset: idx, train_images: …, train_labels: …, test_images: …, test_labels: … }
///     data: { dataset: csv, train: digits.csv.gz, header: false, label: c64, test_fraction: 0.2 }
///     data: { dataset: ts, train: cache:aeon/BasicMotions/BasicMotions_TRAIN.ts, test: cache:…_TEST.ts }
///
/// A path starting with `cache:` lies in Topiary's data cache (`$TOPIARY_CACHE`, default
/// `~/.cache/topiary`), where `make` puts the files the shipped specs need.
public struct DataSpec: Codable, Sendable, Equatable {
    public enum Dataset: String, Codable, Sendable, CaseIterable {
        case fashionMNIST = "fashion-mnist", idx, csv, ts, text
        /// Whether validation rows are carved from the training rows (all but text).
        public var splitsByRows: Bool { self != .text }
    }
    public enum Separator: String, Codable, Sendable, CaseIterable { case comma, whitespace }

    public var dataset: Dataset = .fashionMNIST
    /// fashion-mnist: the folder with the four IDX .gz files.
    public var path: String?
    /// idx: the four files.
    public var trainImages: String?, trainLabels: String?, testImages: String?, testLabels: String?
    /// idx: classes (default: the largest label + 1).
    public var classes: Int?
    /// csv and ts: the training file, and the test file (else `test_fraction` of the rows).
    /// text: the corpus — a name (bible-kjv, jargon, fortunes) or a path or glob.
    public var train: String?
    public var test: String?
    public var testFraction: Double?
    /// csv: the label (target) column, the feature columns (default: every other one), whether
    /// the first row names the columns (else c0, c1, …), and the separator.
    public var label: String?
    public var features: [String]?
    public var header: Bool?
    public var separator: Separator?
    /// Standardise inputs (zero mean, unit variance per feature, or per channel of a series)
    /// with statistics of the training rows only. Default: true for csv and ts, false for images.
    public var standardize: Bool?
    /// Rows carved from the training set for decisions (validation); never the test set. With
    /// series, whole series are held out.
    public var validationSize: Int = 5000
    /// Instead of a count: this fraction of the training rows.
    public var validationFraction: Double?
    /// Use only this many training rows (after the validation split); nil: all.
    public var trainLimit: Int?
    /// text: the leading fraction of the corpus trained on (0.9); the rest is held out.
    public var trainFraction: Double?
    /// text: training windows per epoch, drawn at random offsets of the training text from
    /// the run's seed (16 × 2000 = 32,000: 2000 steps of batch 16 in one epoch).
    public var trainWindows: Int?
    /// text: consecutive windows of the held-out text evaluated as the test set (the first
    /// ones) and as the validation split (the next ones), 256 each by default.
    public var evalWindows: Int?
    /// text: further corpora evaluated at every stage as name → corpus (`{ general: bible-kjv }`
    /// gives columns general_loss, general_perplexity, general_bits_per_byte): how much a domain
    /// adaptation forgets. Reported only; decisions use the validation split.
    public var evaluate: [String: String]?
    /// `evaluate` in name order (the order of its report columns).
    public var evaluations: [(name: String, corpus: String)] {
        (evaluate ?? [:]).sorted { $0.key < $1.key }.map { (name: $0.key, corpus: $0.value) }
    }
    /// Evaluate on only this many test rows; nil: all.
    public var testLimit: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataset, path, trainImages = "train_images", trainLabels = "train_labels", testImages = "test_images", testLabels = "test_labels"
        case classes, train, test, testFraction = "test_fraction", label, features, header, separator, standardize
        case validationSize = "validation_size", validationFraction = "validation_fraction", trainLimit = "train_limit", testLimit = "test_limit"
        case trainFraction = "train_fraction", trainWindows = "train_windows", evalWindows = "eval_windows", evaluate
    }

    static let keysByDataset: [Dataset: [CodingKeys]] = [
        .fashionMNIST: [.path],
        .idx: [.trainImages, .trainLabels, .testImages, .testLabels, .classes],
        .csv: [.train, .test, .testFraction, .label, .features, .header, .separator, .standardize],
        .text: [.train, .trainFraction, .trainWindows, .evalWindows, .evaluate],
        .ts: [.train, .test, .testFraction, .standardize],
    ]
    /// Keys of data sets split by rows; text is split by position (held-out text) instead.
    static let rowSplitKeys: [CodingKeys] = [.validationSize, .validationFraction, .trainLimit, .testLimit]

    public init() {}

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.dataset) { dataset = try c.decodeEnum(Dataset.self, forKey: .dataset, decoder: decoder) }
        // Text splits by position (held-out text), so the row-split keys do not apply.
        let allowed = [.dataset] + (dataset.splitsByRows ? DataSpec.rowSplitKeys : []) + DataSpec.keysByDataset[dataset]!
        for key in CodingKeys.allCases where c.contains(key) && !allowed.contains(key) {
            throw decoder.problem(key, "does not apply to dataset \(dataset.rawValue) (it takes \(DataSpec.keysByDataset[dataset]!.map(\.stringValue).joined(separator: ", "))).")
        }
        path = try c.decodeIfPresent(String.self, forKey: .path)
        trainImages = try c.decodeIfPresent(String.self, forKey: .trainImages)
        trainLabels = try c.decodeIfPresent(String.self, forKey: .trainLabels)
        testImages = try c.decodeIfPresent(String.self, forKey: .testImages)
        testLabels = try c.decodeIfPresent(String.self, forKey: .testLabels)
        classes = try c.decodeIfPresent(Int.self, forKey: .classes)
        train = try c.decodeIfPresent(String.self, forKey: .train)
        test = try c.decodeIfPresent(String.self, forKey: .test)
        testFraction = try c.decodeIfPresent(Double.self, forKey: .testFraction)
        label = try c.decodeIfPresent(String.self, forKey: .label)
        features = try c.decodeIfPresent([String].self, forKey: .features)
        header = try c.decodeIfPresent(Bool.self, forKey: .header)
        if c.contains(.separator) { separator = try c.decodeEnum(Separator.self, forKey: .separator, decoder: decoder) }
        standardize = try c.decodeIfPresent(Bool.self, forKey: .standardize)
        validationSize = try c.decodeIfPresent(Int.self, forKey: .validationSize) ?? 5000
        validationFraction = try c.decodeIfPresent(Double.self, forKey: .validationFraction)
        trainLimit = try c.decodeIfPresent(Int.self, forKey: .trainLimit)
        testLimit = try c.decodeIfPresent(Int.self, forKey: .testLimit)
        trainFraction = try c.decodeIfPresent(Double.self, forKey: .trainFraction)
        trainWindows = try c.decodeIfPresent(Int.self, forKey: .trainWindows)
        evalWindows = try c.decodeIfPresent(Int.self, forKey: .evalWindows)
        evaluate = try c.decodeIfPresent([String: String].self, forKey: .evaluate)
        for name in (evaluate ?? [:]).keys.sorted() {
            let reserved = ["test", "val", "int8_test", "train"]
            guard !name.isEmpty, name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }), !reserved.contains(name) else {
                throw decoder.problem(CodingKeys.evaluate, "'\(name)' must be lower-case letters, digits and '_' and not \(reserved.joined(separator: ", ")) (it prefixes report columns).")
            }
        }
        if validationSize < 1 { throw decoder.problem(CodingKeys.validationSize, "must be >= 1 (decisions need a validation split), got \(validationSize).") }
        if c.contains(.validationSize) && validationFraction != nil {
            throw decoder.problem(CodingKeys.validationFraction, "give validation_size or validation_fraction, not both.")
        }
        for (key, fraction) in [(CodingKeys.validationFraction, validationFraction), (.testFraction, testFraction), (.trainFraction, trainFraction)] {
            if let fraction, !(fraction > 0 && fraction < 1) { throw decoder.problem(key, "must lie in (0, 1), got \(fraction).") }
        }
        for (key, value) in [(CodingKeys.trainLimit, trainLimit), (.testLimit, testLimit), (.classes, classes), (.trainWindows, trainWindows), (.evalWindows, evalWindows)] {
            if let value, value < 1 { throw decoder.problem(key, "must be >= 1, got \(value).") }
        }
        switch dataset {
        case .idx:
            for key in [CodingKeys.trainImages, .trainLabels, .testImages, .testLabels] where !c.contains(key) {
                throw decoder.problem(key, "is required for dataset idx (the four IDX files: train_images, train_labels, test_images, test_labels).")
            }
        case .csv, .ts:
            guard train != nil else { throw decoder.problem(CodingKeys.train, "is required for dataset \(dataset.rawValue) (the training file).") }
            if test != nil && testFraction != nil { throw decoder.problem(CodingKeys.testFraction, "give a test file or test_fraction, not both.") }
            if dataset == .csv && label == nil { throw decoder.problem(CodingKeys.label, "is required for dataset csv (the target column's name).") }
        case .text:
            guard train != nil else {
                throw decoder.problem(CodingKeys.train, "is required for dataset text: a corpus (\(TextCorpus.namedCorpora.joined(separator: ", "))) or a file path or glob.")
            }
        case .fashionMNIST: break
        }
    }

    /// Written as the decoder reads it: `validation_size` is left out when a fraction is given
    /// (the two exclude each other), so report.json and `validated` decode back.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dataset, forKey: .dataset)
        try c.encodeIfPresent(path, forKey: .path)
        try c.encodeIfPresent(trainImages, forKey: .trainImages)
        try c.encodeIfPresent(trainLabels, forKey: .trainLabels)
        try c.encodeIfPresent(testImages, forKey: .testImages)
        try c.encodeIfPresent(testLabels, forKey: .testLabels)
        try c.encodeIfPresent(classes, forKey: .classes)
        try c.encodeIfPresent(train, forKey: .train)
        try c.encodeIfPresent(test, forKey: .test)
        try c.encodeIfPresent(testFraction, forKey: .testFraction)
        try c.encodeIfPresent(label, forKey: .label)
        try c.encodeIfPresent(features, forKey: .features)
        try c.encodeIfPresent(header, forKey: .header)
        try c.encodeIfPresent(separator, forKey: .separator)
        try c.encodeIfPresent(standardize, forKey: .standardize)
        if validationFraction == nil && dataset.splitsByRows { try c.encode(validationSize, forKey: .validationSize) }
        try c.encodeIfPresent(validationFraction, forKey: .validationFraction)
        try c.encodeIfPresent(trainLimit, forKey: .trainLimit)
        try c.encodeIfPresent(testLimit, forKey: .testLimit)
        try c.encodeIfPresent(trainFraction, forKey: .trainFraction)
        try c.encodeIfPresent(trainWindows, forKey: .trainWindows)
        try c.encodeIfPresent(evalWindows, forKey: .evalWindows)
        try c.encodeIfPresent(evaluate, forKey: .evaluate)
    }

    public var resolved: DataSpec {
        var r = self
        if dataset == .fashionMNIST { r.path = path ?? FashionMNIST.defaultDirectory }
        if dataset == .csv || dataset == .ts {
            if test == nil { r.testFraction = testFraction ?? 0.2 }
            r.standardize = standardize ?? true
        }
        if dataset == .text {
            r.trainFraction = trainFraction ?? 0.9
            r.trainWindows = trainWindows ?? 32_000
            r.evalWindows = evalWindows ?? 256
        }
        if dataset == .csv {
            r.header = header ?? true
            r.separator = separator ?? .comma
        }
        return r
    }

    /// Training rows after the validation split and `train_limit`, from a training file of
    /// `available` rows; a validation split that leaves none is an error here. Text trains on
    /// `train_windows` random windows (validation is held-out text), whatever was loaded: the
    /// full spec behind --quick is checked on its own count, not on the quick run's 800.
    package func trainingRows(available: Int) throws -> Int {
        guard dataset.splitsByRows else { return trainWindows ?? available }
        let held = validationRows(available: available)
        guard held < available else {
            throw SpecProblem(keyPath: "data.validation_size",
                              problem: "\(held) leaves no training rows of \(available). Choose fewer validation rows.")
        }
        return min(available - held, trainLimit ?? .max)
    }

    /// Rows the validation split takes from `available` training rows.
    package func validationRows(available: Int) -> Int {
        validationFraction.map { max(1, Int((Double(available) * $0).rounded())) } ?? validationSize
    }
}

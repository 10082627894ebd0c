import Foundation
import TopiaryTensor

/// Fashion-MNIST (and MNIST, which shares the layout) from its four IDX files: 28x28 grey
/// images, pixels scaled to [0, 1], 10 classes.
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let debianPackage = "dataset-fashion-mnist"
    public static let files = (trainImages: "train-images-idx3-ubyte.gz", trainLabels: "train-labels-idx1-ubyte.gz",
                               testImages: "t10k-images-idx3-ubyte.gz", testLabels: "t10k-labels-idx1-ubyte.gz")

    /// The full paths of the four files under `directory`; throws `fileMissing` for the first
    /// absent one, naming the Debian package that installs them.
    public static func checkFilesExist(in directory: String) throws {
        for name in [files.trainImages, files.trainLabels, files.testImages, files.testLabels] {
            let path = directory + "/" + name
            if !fileExists(path) {
                throw DataError.fileMissing(path: path, hint: missingHint(directory))
            }
        }
    }

    /// Loads the training and test sets from `directory`.
    public static func load(directory: String = defaultDirectory) throws -> (train: Dataset, test: Dataset) {
        try checkFilesExist(in: directory)
        let trainImages = directory + "/" + files.trainImages, testImages = directory + "/" + files.testImages
        let train = try loadPair(images: trainImages, labels: directory + "/" + files.trainLabels)
        let test = try loadPair(images: testImages, labels: directory + "/" + files.testLabels)
        // One model reads both splits: an image size that differs would make it read past
        // the end of each row (or mix pixels of neighbouring images).
        guard train.inputShape == test.inputShape else {
            throw DataError.splitsDisagree(path: testImages, itemShape: test.inputShape, referencePath: trainImages,
                                           referenceShape: train.inputShape)
        }
        return (train, test)
    }

    /// Rows in the training set, from its (small) labels file.
    public static func trainingRowCount(directory: String = defaultDirectory) throws -> Int {
        try checkFilesExist(in: directory)
        return try IDXFile(contentsOf: directory + "/" + files.trainLabels, expectedRank: 1).dimensions[0]
    }

    /// One images file (N, rows, cols) with its labels file (N), validated against each other.
    public static func loadPair(images imagesPath: String, labels labelsPath: String,
                                classCount: Int = 10) throws -> Dataset {
        let images = try IDXFile(contentsOf: imagesPath, expectedRank: 3)
        let labels = try IDXFile(contentsOf: labelsPath, expectedRank: 1)
        let n = images.dimensions[0]
        guard n > 0 else { throw DataError.noItems(path: imagesPath) }
        guard images.dimensions[1] > 0, images.dimensions[2] > 0 else {
            throw DataError.emptyItems(path: imagesPath, dimensions: images.dimensions)
        }
        guard labels.dimensions[0] == n else {
            throw DataError.countMismatch(imagesPath: imagesPath, images: n, labelsPath: labelsPath,
                                          labels: labels.dimensions[0])
        }
        for (index, label) in labels.bytes.enumerated() where Int(label) >= classCount {
            throw DataError.labelOutOfRange(path: labelsPath, index: index, label: Int(label), classCount: classCount)
        }
        let features = Tensor(zeros: images.dimensions)
        images.bytes.withUnsafeBufferPointer { source in
            let target = features.pointer
            for i in 0..<source.count { target[i] = Float(source[i]) * (1 / 255) }
        }
        return Dataset(inputs: features, labels: labels.bytes.map { Int32($0) }, classCount: classCount)
    }

    static func missingHint(_ directory: String) -> String {
        if directory == defaultDirectory {
            return "Install the Debian package \(debianPackage) (`make run` does, or `apt-get install \(debianPackage)`), or set data.path in the spec to a folder holding the four Fashion-MNIST IDX files."
        }
        return "data.path is \(directory); it must hold the four Fashion-MNIST IDX files (the Debian package \(debianPackage) installs them under \(defaultDirectory))."
    }
}

private func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

import Foundation

/// What can be wrong with a data file a user points Topiary at. Each message says what was
/// wrong, where, and what to do.
public enum DataError: Error, LocalizedError, Equatable {
    case fileMissing(path: String, hint: String)
    case unreadable(path: String, reason: String)
    case badMagic(path: String, found: [UInt8])
    case unsupportedElementType(path: String, typeCode: UInt8)
    case wrongRank(path: String, expected: Int, found: Int)
    case truncated(path: String, expectedBytes: Int, foundBytes: Int)
    case trailingBytes(path: String, expectedBytes: Int, foundBytes: Int)
    case countMismatch(imagesPath: String, images: Int, labelsPath: String, labels: Int)
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    case tooLarge(path: String, dimensions: [Int], limitBytes: Int)
    case noItems(path: String)
    case emptyItems(path: String, dimensions: [Int])
    case splitsDisagree(path: String, itemShape: [Int], referencePath: String, referenceShape: [Int])

    public var errorDescription: String? {
        switch self {
        case .fileMissing(let path, let hint):
            return "data file not found: \(path). \(hint)"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason). Check the file is a complete IDX file (optionally gzip-compressed)."
        case .badMagic(let path, let found):
            let hex = found.map { String(format: "%02x", $0) }.joined(separator: " ")
            return "\(path) is not an IDX file: its first bytes are \(hex), expected 00 00 08 <rank>. Point data.path at the Fashion-MNIST/MNIST IDX files."
        case .unsupportedElementType(let path, let code):
            return "\(path): IDX element type 0x\(String(code, radix: 16)) is not supported; only unsigned bytes (0x08) are."
        case .wrongRank(let path, let expected, let found):
            return "\(path): expected an IDX file of rank \(expected), found rank \(found). Are the image and label files swapped?"
        case .truncated(let path, let expected, let found):
            return "\(path) is truncated: its header promises \(expected) bytes of data but only \(found) are there. Reinstall the data package (apt-get install --reinstall dataset-fashion-mnist) or re-download the file."
        case .trailingBytes(let path, let expected, let found):
            return "\(path) has \(found - expected) bytes after the \(expected) its header declares: the file is corrupt or not what its header says."
        case .countMismatch(let imagesPath, let images, let labelsPath, let labels):
            return "\(imagesPath) holds \(images) images but \(labelsPath) holds \(labels) labels: the two files do not belong together."
        case .labelOutOfRange(let path, let index, let label, let classCount):
            return "\(path): label \(label) at index \(index) is outside 0..<\(classCount)."
        case .tooLarge(let path, let dimensions, let limit):
            return "\(path): its header declares dimensions \(dimensions), more than the \(limit) bytes Topiary reads from one file. The header is damaged, or the file is not an IDX data file."
        case .noItems(let path):
            return "\(path) holds no items (its header declares 0). Every data split needs at least one row; point data.path at complete files."
        case .emptyItems(let path, let dimensions):
            return "\(path): its items have a zero-sized dimension (header dimensions \(dimensions)), so there is nothing to learn from. The header is damaged."
        case .splitsDisagree(let path, let itemShape, let referencePath, let referenceShape):
            return "\(path) holds items of shape \(itemShape), but \(referencePath) holds items of shape \(referenceShape): the files do not belong to one data set, and one model cannot read both. Use files of one data set."
        }
    }
}

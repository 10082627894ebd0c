extension SpecError {
    /// Turns Swift's DecodingError into a message with the key path and what was expected.
    init(decodingError error: DecodingError, file: String) {
        switch error {
        case .keyNotFound(let key, let context):
            let section = keyPathString(context.codingPath)
            self.init(file: file, keyPath: section.isEmpty ? key.stringValue : section + "." + key.stringValue,
                      problem: "is required but missing.")
        case .typeMismatch(let type, let context):
            self.init(file: file, keyPath: keyPathString(context.codingPath),
                      problem: "expected \(SpecError.describe(type)). \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            self.init(file: file, keyPath: keyPathString(context.codingPath),
                      problem: "expected \(SpecError.describe(type)) but found nothing.")
        case .dataCorrupted(let context):
            self.init(file: file, keyPath: keyPathString(context.codingPath), problem: context.debugDescription)
        @unknown default:
            self.init(file: file, keyPath: "", problem: "\(error)")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: return "a whole number"
        case is Float.Type, is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "\(type)"
        }
    }
}

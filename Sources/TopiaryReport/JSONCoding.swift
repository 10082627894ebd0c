import Foundation
import TopiarySpec

/// The one JSON configuration of every file Topiary writes and reads back (reports,
/// checkpoint headers, sweep files): sorted keys for stable diffs, slashes unescaped, and
/// non-finite numbers as the strings "inf", "-inf" and "nan" both ways, so a value that is
/// not finite is written and read instead of failing with an encoding error.
public enum JSONCoding {
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        // Reports name scorers and models the program that ran them may have registered.
        decoder.userInfo[.recordedSpec] = true
        return decoder
    }
}

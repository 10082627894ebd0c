import Foundation
import Testing

/// The module structure ARCHITECTURE.md sketches, kept by a test: every module a target
/// imports is declared in Package.swift (an undeclared one is rebuilt too late: a release
/// build once kept a stale inlined copy of a changed class), nothing declared goes unused,
/// and dependencies point one way, down the layers.
extension AllTests {
@Suite struct PackageStructureTests {
    /// Lower first: a target may depend only on targets before it here.
    static let layers = [
        "COpenBLAS", "CZlib", "CTopiaryRuntime", "CTopiaryKernels",
        "TopiaryTensor", "TopiaryNN", "TopiaryOptim", "TopiaryInference", "TopiaryData", "TopiarySparsity", "TopiaryMetrics",
        "TopiaryTraining", "TopiarySpec", "TopiaryReport", "TopiaryFormats", "TopiaryRun", "TopiaryStudy", "Topiary", "topiary",
        "custom-scorer-study",
    ]
    /// Targets whose sources are not in Sources/<name>.
    static let folders = ["TopiaryTests": "/Tests/TopiaryTests", "custom-scorer-study": "/Examples/CustomScorerStudy"]
    static let external: Set<String> = ["Yams", "ArgumentParser"]

    /// (target, declared dependencies) from Package.swift.
    func declaredTargets() throws -> [(name: String, dependencies: Set<String>)] {
        let manifest = try String(contentsOfFile: packageRoot + "/Package.swift", encoding: .utf8)
        let target = try Regex(#"\.(?:target|executableTarget|testTarget)\(name: "([\w-]+)", dependencies: \[([^\]]*)\]"#)
        let quoted = try Regex(#""(\w+)""#)
        return manifest.matches(of: target).map { match in
            let name = String(match.output[1].substring!)
            let list = String(match.output[2].substring!)
            var dependencies = Set(list.matches(of: quoted).map { String($0.output[1].substring!) })
            dependencies.remove("swift-argument-parser")
            return (name, dependencies)
        }
    }

    func importedModules(of target: String) throws -> Set<String> {
        let folder = packageRoot + (Self.folders[target] ?? "/Sources/" + target)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".swift") }
        let line = try Regex(#"(?m)^(?:@testable |@_exported )?import (\w+)$"#)
        var modules = Set<String>()
        for file in files {
            let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
            for match in text.matches(of: line) { modules.insert(String(match.output[1].substring!)) }
        }
        return modules.subtracting(["Foundation", "Dispatch", "Testing", "Glibc"])
    }

    @Test func everyImportIsDeclaredAndEveryDeclarationImported() throws {
        let targets = try declaredTargets()
        #expect(targets.count >= 15 && targets.contains { $0.name == "custom-scorer-study" })
        let umbrella = try #require(targets.first { $0.name == "Topiary" }).dependencies
        for target in targets {
            var imported = try importedModules(of: target.name)
            // Importing the umbrella imports every module it re-exports.
            if imported.contains("Topiary") && target.name != "Topiary" { imported.formUnion(umbrella) }
            #expect(imported.subtracting(target.dependencies).isEmpty, "\(target.name) imports undeclared \(imported.subtracting(target.dependencies).sorted())")
            #expect(target.dependencies.subtracting(imported).isEmpty, "\(target.name) declares unused \(target.dependencies.subtracting(imported).sorted())")
        }
    }

    @Test func dependenciesPointDownTheLayers() throws {
        for target in try declaredTargets() where target.name != "TopiaryTests" {
            let level = try #require(Self.layers.firstIndex(of: target.name), "\(target.name) is in no layer")
            for dependency in target.dependencies where !Self.external.contains(dependency) {
                let dependencyLevel = try #require(Self.layers.firstIndex(of: dependency), "\(dependency) is in no layer")
                #expect(dependencyLevel < level, "\(target.name) depends on \(dependency), which sits above it")
            }
        }
    }
}
}

import ArgumentParser
import Foundation
import TopiaryReport

// OpenBLAS picks its kernels when it loads, before this line runs: re-execute with the
// OPENBLAS_CORETYPE made for this CPU first if it loaded kernels made for less.
BLASBootstrap.chooseKernelsForThisCPU()

// Usage errors (an unknown flag, a value out of range) exit 2, as the README promises for
// bad input; swift-argument-parser's own code for them is 64.
do {
    var command = try TopiaryCommand.parseAsRoot()
    try command.run()
} catch {
    if TopiaryCommand.exitCode(for: error) == .validationFailure {
        FileHandle.standardError.write(Data((TopiaryCommand.fullMessage(for: error) + "\n").utf8))
        exit(2)
    }
    TopiaryCommand.exit(withError: error)
}

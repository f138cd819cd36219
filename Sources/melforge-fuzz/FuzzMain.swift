import Foundation
import FuzzTargets

// Built two ways. With -DFUZZING and -sanitize=fuzzer (Scripts/fuzz.sh): a libFuzzer target
// running the parser MELFORGE_FUZZ_TARGET names. Without: replays files through a target
// ("melforge-fuzz npy FILE...": a crash found by the fuzzer, checked under a debugger).

#if FUZZING
nonisolated(unsafe) var chosen: (([UInt8]) -> Void)?

/// libFuzzer's driver (its `main`, callable: SwiftPM names an executable's entry point itself).
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// The executable's entry point as SwiftPM links it (`main` is defined as this symbol).
@_cdecl("melforge_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["MELFORGE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.target(name) else {
        let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("melforge-fuzz: MELFORGE_FUZZ_TARGET '\(name)' is not accepted; expected one of \(names)\n".utf8))
        return 2
    }
    chosen = target
    var (count, arguments) = (argc, Optional(argv))
    return runDriver(&count, &arguments) { data, size in
        chosen?(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
}
#else
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTargets.target(name) else {
            let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
            FileHandle.standardError.write(Data("usage: melforge-fuzz TARGET FILE... (TARGET: \(names))\n".utf8))
            exit(2)
        }
        for path in arguments.dropFirst() {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("melforge-fuzz: cannot read '\(path)'\n".utf8))
                exit(1)
            }
            target(Array(bytes))
            print("\(name): \(path): parsed or refused, no crash")
        }
    }
}
#endif

import BLAS
import FileFormats
import Foundation
import TestSupport
import XCTest

/// End to end: the built binary on real files.
final class SpectrogramCommandTests: XCTestCase {
    let clip = repositoryRoot + "/Audio/digits/seven/en-us+f2_s165_p50.wav"
    let fixture = repositoryRoot + "/Tests/SpectralTests/Fixtures/logmel_default_digit_seven.npy"
    var folder = ""

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
    }

    func testDefaultsMatchLibrosaAndWriteSidecarAndPicture() throws {
        let result = try runMelforge(["spectrogram", clip, "-o", folder + "/out/seven.npy", "--png", folder + "/out/seven.png"])
        XCTAssertEqual(result.status, 0, result.standardError)
        XCTAssertTrue(result.standardOutput.contains("80 mel bands x 63 frames"), result.standardOutput)

        let array = try NPY.read(folder + "/out/seven.npy")
        let expected = try NPY.read(fixture)
        XCTAssertEqual(array.shape, [80, 63])
        let peak = expected.values.max()!
        for i in expected.values.indices where expected.values[i] > peak - 80 {
            XCTAssertEqual(array.values[i], expected.values[i], accuracy: 1e-2)
        }

        let sidecar = try JSONSerialization.jsonObject(with: Data(readFileBytes(folder + "/out/seven.json"))) as! [String: Any]
        let frontEnd = sidecar["frontEnd"] as! [String: Any]
        XCTAssertEqual(frontEnd["nMels"] as? Int, 80)
        XCTAssertEqual(frontEnd["melScale"] as? String, "slaney")
        XCTAssertEqual((sidecar["source"] as! [String: Any])["sampleRate"] as? Int, 16_000)
        XCTAssertNil(sidecar["normalization"])

        XCTAssertEqual(listFolder(folder + "/out"), ["seven.json", "seven.npy", "seven.png"])

        // --png-style bare: the heat map alone, whole pixels per cell.
        let bareRun = try runMelforge(["spectrogram", clip, "-o", folder + "/bare/seven.npy", "--png", folder + "/bare/seven.png",
                                       "--png-style", "bare"])
        XCTAssertEqual(bareRun.status, 0, bareRun.standardError)
        let picture = try PNG.read(folder + "/bare/seven.png", as: .rgb)
        XCTAssertEqual(picture.width % 63, 0)
        XCTAssertEqual(picture.height % 80, 0)
        XCTAssertGreaterThanOrEqual(picture.height, 320)
        // The default picture holds that heat map, row for row, inside axes, a colour bar and a
        // title: some row of the figure starts the heat map's first row at some column.
        let figure = try PNG.read(folder + "/out/seven.png", as: .rgb)
        XCTAssertGreaterThan(figure.width, picture.width + 60)
        XCTAssertGreaterThan(figure.height, picture.height + 40)
        let firstRow = Array(picture.pixels[0..<(picture.width * 3)])
        let found = (0..<figure.height).contains { y in
            (0..<(figure.width - picture.width)).contains { x in
                let start = (y * figure.width + x) * 3
                return Array(figure.pixels[start..<(start + picture.width * 3)]) == firstRow
            }
        }
        XCTAssertTrue(found, "the heat map is not inside the figure")
    }

    func testNormalizeMapsToUnitRangeAndRecordsTheRange() throws {
        let out = folder + "/n.npy"
        let result = try runMelforge(["spectrogram", clip, "-o", out, "--normalize", "--n-mels", "64"])
        XCTAssertEqual(result.status, 0, result.standardError)
        let array = try NPY.read(out)
        XCTAssertEqual(array.shape[0], 64)
        XCTAssertEqual(array.values.min(), -1)
        XCTAssertEqual(array.values.max(), 1)
        let sidecar = try JSONSerialization.jsonObject(with: Data(readFileBytes(folder + "/n.json"))) as! [String: Any]
        let range = sidecar["normalization"] as! [String: Double]
        XCTAssertLessThan(range["minDB"]!, range["maxDB"]!)
    }

    func testBadInputFailsClearlyAndWritesNothing() throws {
        try AtomicFile.write(Array("hello, not audio".utf8), to: folder + "/text.wav")
        let cases: [([String], String)] = [
            (["spectrogram", folder + "/missing.wav", "-o", folder + "/a.npy"], "missing.wav' does not exist"),
            (["spectrogram", folder + "/text.wav", "-o", folder + "/a.npy"], "text.wav"),
            (["spectrogram", folder, "-o", folder + "/a.npy"], "is a folder"),
            (["spectrogram", clip, "-o", folder + "/a.npy", "--n-fft", "0"], "--n-fft 0"),
            (["spectrogram", clip, "-o", folder + "/a.npy", "--win-length", "2048"], "--win-length 2048"),
            (["spectrogram", clip, "-o", folder + "/a.npy", "--f-max", "9000"], "--f-max 9000"),
            (["spectrogram", clip, "-o", folder + "/a.npy", "--sample-rate", "5"], "--sample-rate 5"),
            (["spectrogram", clip, "-o", folder + "/a.npy", "--power", "3"], "--power 3"),
            (["spectrogram", clip, "-o", folder + "/a.txt"], "must end in .npy"),
            (["spectrogram", clip, "-o", folder + "/a.npy", "--mel-scale", "bark"], "bark"),
        ]
        for (arguments, fragment) in cases {
            let result = try runMelforge(arguments)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.standardError.contains(fragment), "'\(fragment)' not in: \(result.standardError)")
        }
        XCTAssertEqual(listFolder(folder), ["text.wav"])
    }

    func testFFTWPlansAreCachedBetweenRuns() throws {
        let cache = folder + "/cache"
        let first = try runMelforge(["spectrogram", clip, "-o", folder + "/a.npy"], environment: ["MELFORGE_CACHE": cache])
        XCTAssertEqual(first.status, 0, first.standardError)
        let wisdom = try readFileBytes(cache + "/fftw3f-wisdom")
        XCTAssertTrue(String(decoding: wisdom, as: UTF8.self).hasPrefix("(fftw-3"), "not FFTW wisdom")
        // A second run reads it; a garbled cache only means planning again.
        try AtomicFile.write(Array("garbage".utf8), to: cache + "/fftw3f-wisdom")
        let second = try runMelforge(["spectrogram", clip, "-o", folder + "/b.npy"], environment: ["MELFORGE_CACHE": cache])
        XCTAssertEqual(second.status, 0, second.standardError)
        // Plans measured anew may pick another FFT algorithm: equal up to float rounding.
        assertClose(try NPY.read(folder + "/b.npy").values, try NPY.read(folder + "/a.npy").values, absolute: 1e-3)
        XCTAssertEqual(listFolder(cache), ["fftw3f-wisdom"])
    }

    func testHelpShowsDefaults() throws {
        let result = try runMelforge(["spectrogram", "--help"])
        XCTAssertEqual(result.status, 0)
        for fragment in ["--n-fft <n-fft>", "default: 1024", "default: 256", "default: 80", "default: slaney", "default: 16000"] {
            XCTAssertTrue(result.standardOutput.contains(fragment), "'\(fragment)' not in --help")
        }
        let top = try runMelforge(["--help"])
        XCTAssertTrue(top.standardOutput.contains("spectrogram"))
        XCTAssertTrue(top.standardOutput.contains("doctor"))
    }

    /// MELFORGE_MAX_CPU_ISA runs the process as an AVX2 CPU would (where the CPU has AVX2):
    /// oneDNN, OpenBLAS and the C kernels capped, the engine fp32; a value it does not know is
    /// refused, naming it and what is accepted.
    func testAnInstructionSetCapIsAppliedOrRefused() throws {
        let bogus = try runMelforge(["doctor"], environment: ["MELFORGE_MAX_CPU_ISA": "avx3"])
        XCTAssertEqual(bogus.status, 2)
        XCTAssertTrue(bogus.standardError.contains("MELFORGE_MAX_CPU_ISA 'avx3' is not accepted; expected sse41, avx2"),
                      bogus.standardError)
        var clean = ProcessInfo.processInfo.environment
        (clean["OPENBLAS_CORETYPE"], clean["ONEDNN_MAX_CPU_ISA"]) = (nil, nil)
        let capped = try runMelforge(["doctor"], environment: ["MELFORGE_MAX_CPU_ISA": "sse41"], replacing: clean)
        XCTAssertEqual(capped.status, 0, capped.standardError)
        for fragment in ["sse41 (ONEDNN_MAX_CPU_ISA=SSE41)", "C kernels     baseline (x86-64)", "Nehalem", "oneDNN fp32"] {
            XCTAssertTrue(capped.standardOutput.contains(fragment), "'\(fragment)' not in: \(capped.standardOutput)")
        }
    }

    func testDoctorNamesTheLibraries() throws {
        let result = try runMelforge(["doctor"])
        XCTAssertEqual(result.status, 0, result.standardError)
        for fragment in ["BLAS kernel", "fftw-3", "libsndfile-1", "libsoxr", "libpng", "oneDNN        2.", "engine", "C kernels",
                         "Open MPI"] {
            XCTAssertTrue(result.standardOutput.contains(fragment), "'\(fragment)' not in: \(result.standardOutput)")
        }
        // With OPENBLAS_CORETYPE unset, the kernel in use is at the CPU's level: where OpenBLAS
        // falls back to Prescott, melforge restarts itself with a better kernel.
        var unset = ProcessInfo.processInfo.environment
        unset["OPENBLAS_CORETYPE"] = nil
        let chosen = try runMelforge(["doctor"], environment: [:], replacing: unset)
        let kernelLine = chosen.standardOutput.split(separator: "\n").first { $0.hasPrefix("BLAS kernel") } ?? ""
        let kernel = String(kernelLine.split(separator: " ").dropFirst(2).first ?? "")
        let cpu = KernelChoice.level(ofCPUFlags: KernelChoice.cpuFlags())
        if let level = KernelChoice.level(ofKernel: kernel) {
            XCTAssertGreaterThanOrEqual(level, cpu, "kernel \(kernel) below the CPU's level \(cpu): \(kernelLine)")
        }
        // A kernel the user chose is kept, whatever the CPU could run.
        let forced = try runMelforge(["doctor"], environment: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertTrue(forced.standardOutput.contains("BLAS kernel   Prescott (set by OPENBLAS_CORETYPE=Prescott"),
                      forced.standardOutput)
    }
}

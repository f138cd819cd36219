import AudioIO
import Datasets
import FileFormats
import Foundation
import NeuralVocoder
import Pipeline
import Spectral
import Training

/// The parsers of outside bytes, each as a function of the bytes that must return (throwing
/// is a clear error, the normal way to refuse a file) and never crash, hang or allocate
/// without bound. `melforge-fuzz` runs them under libFuzzer (Scripts/fuzz.sh); the tests run
/// each on its seed corpus and on every input a fuzzer once found (Tests/Fuzz).
public enum FuzzTargets {
    /// By name: what each one parses.
    public static let all: [(name: String, parse: @Sendable ([UInt8]) -> Void)] = [
        ("npy", { _ = try? NPY.decode($0, path: "input.npy") }),
        ("safetensors", { _ = try? SafeTensors.decode($0, path: "input.safetensors") }),
        // A checkpoint's metadata and tensors as every loader of one reads them: a generator, a
        // learned vocoder, a classifier (the judge).
        ("checkpoint", { bytes in
            withFile(bytes, named: "checkpoint.safetensors") { path in
                _ = try? TrainedModel(checkpoint: path)
                _ = try? LearnedVocoder(checkpoint: path)
                _ = try? Judge(path: path)
            }
        }),
        ("sidecar", { bytes in withFile(bytes, named: "features.json") { _ = try? FeatureSidecar.read($0) } }),
        ("frontend", { bytes in
            withFile(bytes, named: "frontend.json") { path in
                _ = try? Conversion.featureFrontEnd(input: (path as NSString).deletingLastPathComponent,
                                                    fallback: FrontEndConfiguration())
            }
        }),
        ("manifest", { bytes in withFile(bytes, named: "manifest.jsonl") { _ = Manifest.read($0) } }),
        ("idx", { bytes in
            withFile(bytes, named: "train-images-idx3-ubyte") { path in
                _ = try? IDX.images(path)
                _ = try? IDX.labels(path)
            }
        }),
        ("idx-gzip", { bytes in
            withFile(gzipped(bytes), named: "train-images-idx3-ubyte.gz") { path in _ = try? IDX.images(path) }
        }),
        ("png", { bytes in
            withFile(bytes, named: "input.png") { path in
                _ = try? PNG.read(path, as: .gray)
                _ = try? PNG.read(path, as: .rgb)
            }
        }),
        ("audio", { bytes in
            withFile(bytes, named: "input.wav") { path in
                _ = try? AudioFile.read(path)
                _ = try? AudioFile.read(path, sampleRate: 16_000)
            }
        }),
    ]

    /// `gzipped`, for the tests.
    public static func gzippedForTesting(_ bytes: [UInt8]) -> [UInt8] { gzipped(bytes) }

    public static func target(_ name: String) -> (@Sendable ([UInt8]) -> Void)? { all.first { $0.name == name }?.parse }

    /// `body` with `bytes` in a file of that name, in a folder of this process's on a memory
    /// file system where there is one.
    static func withFile(_ bytes: [UInt8], named name: String, _ body: (String) -> Void) {
        let path = folder + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        body(path)
    }

    static let folder: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = base + "/melforge-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// `bytes` as the body of a gzip file with stored (uncompressed) deflate blocks: what the
    /// IDX reader inflates is then exactly the fuzzer's bytes (a corrupt stream is tried by
    /// "idx" on raw bytes that happen to start with gzip's magic).
    static func gzipped(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
        var rest = bytes[...]
        repeat {
            let block = rest.prefix(65_535)
            rest = rest.dropFirst(block.count)
            let length = UInt16(block.count)
            out += [rest.isEmpty ? 1 : 0, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)]
            out += block
        } while !rest.isEmpty
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        crc = ~crc
        let size = UInt32(truncatingIfNeeded: bytes.count)
        for value in [crc, size] { for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((value >> UInt32(shift)) & 0xFF)) } }
        return out
    }
}

import FileFormats
import Foundation
import Layers
import Tensors
import TestSupport
import Training
import XCTest

/// Training in bfloat16 on oneDNN: it learns, and its checkpoints are fp32 checkpoints that
/// resume in either precision.
final class PrecisionTests: XCTestCase {
    override func setUpWithError() throws {
        guard OneDNN.hasBFloat16 else { throw XCTSkip("this CPU has no bfloat16 instructions (\(OneDNN.instructionSet))") }
    }

    override func tearDown() { ConvolutionEngine.current = .im2col }

    /// A tiny VAE's reconstruction loss falls by a third over 30 bf16 steps as it does in fp32.
    /// The first step, from the same weights, differs by bf16's rounding of the products'
    /// inputs alone (under 1%); after that the two runs take their own paths, and end within
    /// 25% of each other.
    func testBFloat16TrainingLearns() {
        var results: [Precision: [Float]] = [:]
        for precision in Precision.allCases {
            ConvolutionEngine.current = .oneDNN(precision)
            var c = configuration(.vae)
            c.klWarmupSteps = 1_000
            c.learningRate = 1e-2
            let run = TrainingRun(configuration: c, data: images())
            results[precision] = (0..<30).map { _ in run.trainStep()["reconstruction"]! }
        }
        let bf16 = results[.bf16]!, fp32 = results[.fp32]!
        XCTAssertLessThan(bf16.suffix(5).reduce(0, +), 0.67 * bf16.prefix(5).reduce(0, +), "\(bf16)")
        XCTAssertEqual(bf16[0], fp32[0], accuracy: 0.01 * fp32[0])
        XCTAssertLessThan(fp32.suffix(5).reduce(0, +), 0.67 * fp32.prefix(5).reduce(0, +), "\(fp32)")
        XCTAssertEqual(bf16.suffix(5).reduce(0, +), fp32.suffix(5).reduce(0, +), accuracy: 0.25 * fp32.suffix(5).reduce(0, +))
    }

    /// A run checkpointed in bf16 resumes in fp32, and the reverse: the checkpoint holds fp32
    /// weights and Adam's state either way, and the resumed run goes on as the other precision
    /// would have (within bf16's rounding).
    func testCheckpointsResumeInTheOtherPrecision() throws {
        let folder = try makeTemporaryFolder(self)
        for (first, then) in [(Precision.bf16, Precision.fp32), (.fp32, .bf16)] {
            ConvolutionEngine.current = .oneDNN(first)
            let run = TrainingRun(configuration: configuration(.gan), data: images())
            for _ in 0..<3 { _ = run.trainStep() }
            let path = folder + "/\(first).safetensors"
            try run.save(to: path, metadata: ["precision": first.rawValue])
            let file = try SafeTensors.read(path)
            XCTAssertTrue(file.tensors.allSatisfy { $0.values.allSatisfy(\.isFinite) })
            // The same continuation, from the same checkpoint, in both precisions.
            var continued: [Precision: [String: Float]] = [:]
            for precision in [first, then] {
                ConvolutionEngine.current = .oneDNN(precision)
                let resumed = TrainingRun(configuration: try TrainingRun.configuration(of: file, path: path), data: images())
                try resumed.restore(from: file, path: path)
                XCTAssertEqual(resumed.step, 3)
                continued[precision] = resumed.trainStep()
            }
            for (name, value) in continued[then]! {
                XCTAssertTrue(value.isFinite, "\(first) -> \(then) \(name)")
                XCTAssertEqual(value, continued[first]![name]!, accuracy: 0.05 * max(1, abs(value)), "\(first) -> \(then) \(name)")
            }
        }
    }
}

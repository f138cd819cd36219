import Foundation
import Layers
import Models
import Optimizers
import Tensors
import XCTest

/// The default engine never runs oneDNN's reference loops: one training step of the reference
/// GAN, VAE and classifier (bench_train.py's shapes, batch 64) in every precision this CPU has,
/// each convolution's every pass recorded (`ConvolutionRoads`) and asserted to run on a oneDNN
/// kernel of its own or on im2col (then only where oneDNN offered reference loops). The same
/// test and the layers' agreement tests run again in processes capped to AVX2 and to SSE4.1
/// (`MELFORGE_MAX_CPU_ISA`, which caps oneDNN, OpenBLAS and MelForge's own kernels), so that an
/// AVX-512 machine checks the roads an older CPU takes.
final class EngineRoadsTests: XCTestCase {
    override func tearDown() { ConvolutionEngine.current = .im2col }

    /// The passes each reference model runs in one training step.
    func roads(_ model: String, precision: Precision) -> [ConvolutionRoads.Road] {
        ConvolutionEngine.current = .oneDNN(precision)
        var random = RandomNumbers(seed: 5)
        let images = random.uniform([64, 1, 64, 64], low: -1, high: 1)
        ConvolutionRoads.startRecording()
        switch model {
        case "gan":
            let trainer = GANTrainer(generator: Generator(random: &random), discriminator: Discriminator(random: &random))
            _ = trainer.step(real: images, random: &random)
        case "vae":
            _ = VAETrainer(model: ConvVAE(random: &random)).step(images: images, random: &random)
        default:
            let classifier = Classifier(classes: 10, random: &random)
            let (logits, _, cache) = classifier.forward(images, training: true, random: &random)
            classifier.backward(Loss.softmaxCrossEntropy(logits, labels: (0..<64).map { $0 % 10 }).gradient, cache: cache,
                                inputGradient: false)
        }
        return ConvolutionRoads.stopRecording()
    }

    func testReferenceModelsNeverRunAReferenceImplementation() {
        let precisions: [Precision] = OneDNN.hasBFloat16 ? [.fp32, .bf16] : [.fp32]
        // Convolutions per model: the GAN's 4 + 4, the VAE's 4 + 4, the classifier's 4.
        for (model, layers) in [("gan", 8), ("vae", 8), ("classifier", 4)] {
            for precision in precisions {
                let label = "\(model) \(precision) on \(OneDNN.instructionSet)"
                let roads = roads(model, precision: precision)
                XCTAssertEqual(Set(roads.map(\.layer)).count, layers, "\(label): \(roads)")
                for road in roads {
                    XCTAssertFalse(road.runsReference, "\(label): \(road)")
                    XCTAssertTrue(road.implementation.hasPrefix("oneDNN ") || road.implementation == "im2col", "\(label): \(road)")
                    if let declined = road.declined { XCTAssertTrue(declined.hasPrefix("ref"), "\(label): \(road)") }
                }
                // Every layer's forward and weight gradient ran; the input's gradient wherever
                // a model needs it (all but the first layer of an encoder or a classifier).
                for layer in Set(roads.map(\.layer)) {
                    let passes = Set(roads.filter { $0.layer == layer }.map(\.pass))
                    XCTAssertTrue(passes.isSuperset(of: [.forward, .backwardWeights]), "\(label): \(layer) \(passes)")
                }
                let firstLayers = roads.filter { $0.layer.contains("Conv2D 1->") }.map(\.layer)
                let withData = Set(roads.filter { $0.pass == .backwardData }.map(\.layer))
                XCTAssertEqual(Set(roads.map(\.layer)).subtracting(withData), model == "gan" ? [] : Set(firstLayers), label)
            }
        }
    }

    /// This test and the layers' oneDNN tests, in a process capped to AVX2 and in one capped to
    /// SSE4.1 (skipped inside such a process, and off x86-64).
    func testRoadsAndAgreementUnderAVX2AndSSE41() throws {
        #if !arch(x86_64)
        throw XCTSkip("instruction-set caps are x86-64's")
        #endif
        let environment = ProcessInfo.processInfo.environment
        try XCTSkipIf(environment["MELFORGE_MAX_CPU_ISA"] != nil || environment["ONEDNN_MAX_CPU_ISA"] != nil,
                      "already capped")
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0])
        try XCTSkipUnless(bundle.path.hasSuffix(".xctest"), "not run from the test bundle: \(bundle.path)")
        for (cap, oneDNN, kernel) in [("avx2", "AVX2", "Haswell"), ("sse41", "SSE41", "Nehalem")] {
            let process = Process()
            process.executableURL = bundle
            process.arguments = ["LayersTests.OneDNNTests,ModelsTests.EngineRoadsTests/testReferenceModelsNeverRunAReferenceImplementation"]
            var capped = environment
            (capped["MELFORGE_MAX_CPU_ISA"], capped["ONEDNN_MAX_CPU_ISA"], capped["OPENBLAS_CORETYPE"]) = (cap, oneDNN, kernel)
            process.environment = capped
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "under \(cap):\n\(text.suffix(6000))")
            XCTAssertTrue(text.contains("with 0 failures"), "under \(cap):\n\(text.suffix(6000))")
            // Every test of both classes ran (XCTest's last summary counts them all).
            let counts = text.split(separator: "\n").filter { $0.contains("Executed ") }
                .compactMap { Int($0.split(separator: " ").drop { $0 != "Executed" }.dropFirst().first ?? "") }
            XCTAssertGreaterThan(counts.max() ?? 0, 10, "under \(cap): too few tests ran\n\(text.suffix(2000))")
        }
    }
}

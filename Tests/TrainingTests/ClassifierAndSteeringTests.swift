import FileFormats
import Foundation
import Layers
import Tensors
import TestSupport
import Training
import XCTest

final class ClassifierTrainingTests: XCTestCase {
    /// Three classes of 16x16 images: a bright row band at the top, the middle or the bottom,
    /// at a random column offset, with noise.
    func bands(count: Int, seed: UInt64) -> (Tensor, [Int]) {
        var random = RandomNumbers(seed: seed)
        var values: [Float] = [], labels: [Int] = []
        for n in 0..<count {
            let label = n % 3
            for y in 0..<16 {
                for _ in 0..<16 {
                    values.append((y / 5 == label ? 0.8 : -0.8) + 0.3 * random.normal())
                }
            }
            labels.append(label)
        }
        return (Tensor(shape: [count, 1, 16, 16], values: values), labels)
    }

    /// A classifier of the bands: two stages, kernel 3, batches of 8, shifts of one column.
    func smallConfiguration() -> ClassifierConfiguration {
        var configuration = ClassifierConfiguration(channels: 1, imageSize: 16, widths: [4, 8], classes: ["top", "middle", "bottom"])
        configuration.kernelSize = 3
        configuration.batchSize = 8
        configuration.maxShift = 1
        return configuration
    }

    func testSplitIsStratifiedSeededAndDisjoint() {
        let labels = (0..<50).map { $0 % 5 == 0 ? 1 : 0 }  // 40 of class 0, 10 of class 1
        let (train, heldOut) = ClassifierTraining.split(labels: labels, classes: 2, heldOut: 0.2, seed: 3)
        XCTAssertEqual(Set(train).union(heldOut), Set(0..<50))
        XCTAssertTrue(Set(train).isDisjoint(with: heldOut))
        XCTAssertEqual(heldOut.filter { labels[$0] == 0 }.count, 8)
        XCTAssertEqual(heldOut.filter { labels[$0] == 1 }.count, 2)
        XCTAssertEqual(ClassifierTraining.split(labels: labels, classes: 2, heldOut: 0.2, seed: 3).heldOut, heldOut)
        XCTAssertNotEqual(ClassifierTraining.split(labels: labels, classes: 2, heldOut: 0.2, seed: 4).heldOut, heldOut)
    }

    func testClassifierLearnsHeldOutImagesAndRoundTripsThroughItsFile() throws {
        let (images, labels) = bands(count: 60, seed: 5)
        var configuration = smallConfiguration()
        configuration.embeddingSize = 16
        configuration.maxShift = 2
        let training = ClassifierTraining(configuration: configuration, images: images, labels: labels,
                                          metadata: ["note": "test"])
        let before = training.accuracies().heldOut!
        for _ in 0..<8 { training.trainEpoch() }
        let after = training.accuracies().heldOut!
        XCTAssertEqual(training.heldOutIndices.count, 12)
        XCTAssertGreaterThanOrEqual(after, 0.95, "held-out accuracy \(after) (before training \(before))")

        let path = try makeTemporaryFolder(self) + "/judge.safetensors"
        try training.classifier.save(to: path)
        let loaded = try TrainedClassifier(contentsOf: path)
        XCTAssertEqual(loaded.configuration, configuration)
        XCTAssertEqual(loaded.metadata["note"], "test")
        assertClose(loaded.judge(images).probabilities.values, training.classifier.judge(images).probabilities.values,
                    absolute: 1e-6)
        // Rows of probabilities sum to one.
        let p = loaded.judge(images).probabilities
        for row in 0..<60 { XCTAssertEqual(p.values[(row * 3)..<(row * 3 + 3)].reduce(0, +), 1, accuracy: 1e-5) }
    }

    func testResumedTrainingContinuesTheSameRun() throws {
        var augmented = smallConfiguration()
        augmented.augmentation = ClassifierAugmentation(bands: 16, frames: 16)
        try resumedTrainingContinuesTheSameRun(smallConfiguration())
        try resumedTrainingContinuesTheSameRun(augmented)
        // The augmentation changes what is learnt (it is not dropped on the way).
        let (images, labels) = bands(count: 30, seed: 6)
        let plain = ClassifierTraining(configuration: smallConfiguration(), images: images, labels: labels)
        let other = ClassifierTraining(configuration: augmented, images: images, labels: labels)
        plain.trainEpoch(); other.trainEpoch()
        XCTAssertNotEqual(plain.classifier.judge(images).probabilities, other.classifier.judge(images).probabilities)
    }

    func resumedTrainingContinuesTheSameRun(_ configuration: ClassifierConfiguration) throws {
        let (images, labels) = bands(count: 30, seed: 6)
        let whole = ClassifierTraining(configuration: configuration, images: images, labels: labels)
        for _ in 0..<3 { whole.trainEpoch() }
        let path = try makeTemporaryFolder(self) + "/c.safetensors"
        let first = ClassifierTraining(configuration: configuration, images: images, labels: labels)
        first.trainEpoch()
        try first.save(to: path, metadata: [:])
        let resumed = ClassifierTraining(configuration: configuration, images: images, labels: labels)
        try resumed.restore(from: path)
        XCTAssertEqual(resumed.epoch, 1)
        for _ in 0..<2 { resumed.trainEpoch() }
        XCTAssertEqual(resumed.classifier.judge(images).probabilities, whole.classifier.judge(images).probabilities)
        // The saved file is a classifier in its own right.
        XCTAssertNoThrow(try TrainedClassifier(contentsOf: path))
        // Other settings cannot resume it.
        var other = configuration
        other.seed = 1
        XCTAssertThrowsError(try ClassifierTraining(configuration: other, images: images, labels: labels).restore(from: path))
    }

    func testAugmentationWarpsTiltsAndMasksAsDrawn() {
        // x[h, w] = 0.1 h + 0.01 w: linear in h, so the interpolation is exact.
        let (bands, frames) = (4, 3)
        var values: [Float] = []
        for h in 0..<bands {
            for w in 0..<frames { values.append(0.1 * Float(h) + 0.01 * Float(w)) }
        }
        let x = Tensor(shape: [1, 1, bands, frames], values: values)
        let augmentation = ClassifierAugmentation(maxWarp: 0.1, maxTilt: 0.1, maxFrequencyMask: 2, maxTimeMask: 2)
        // Warp 2: band h reads band h/2; tilt 0.3: -0.3, -0.1, 0.1, 0.3 from the lowest band up;
        // frame 2 silenced.
        let stretched = augmentation.apply(x, draws: [.init(warp: 2, tilt: 0.3, frequencyMask: 0..<0, timeMask: 2..<3)])
        let source: [Float] = [0, 0.5, 1, 1.5], line: [Float] = [-0.3, -0.1, 0.1, 0.3]
        var expected: [Float] = []
        for h in 0..<bands {
            for w in 0..<frames { expected.append(w == 2 ? -1 : 0.1 * source[h] + 0.01 * Float(w) + line[h]) }
        }
        assertClose(stretched.values, expected, absolute: 1e-6)
        // Warp 0.5: band h reads band 2h, the highest band above the top; band 1 silenced.
        let squeezed = augmentation.apply(x, draws: [.init(warp: 0.5, tilt: 0, frequencyMask: 1..<2, timeMask: 0..<0)])
        let rows: [Float] = [0, -1, 3, 3]
        var expectedSqueezed: [Float] = []
        for h in 0..<bands {
            for w in 0..<frames { expectedSqueezed.append(h == 1 ? -1 : 0.1 * rows[h] + 0.01 * Float(w)) }
        }
        assertClose(squeezed.values, expectedSqueezed, absolute: 1e-6)
        // Nothing drawn: the images unchanged.
        let none = augmentation.apply(x, draws: [.init(warp: 1, tilt: 0, frequencyMask: 0..<0, timeMask: 0..<0)])
        assertClose(none.values, x.values, absolute: 0)

        // Draws stay within their bounds (64 x 64: warps 0.9-1.1, tilts +-0.1, masks of 0-8) and vary.
        var random = RandomNumbers(seed: 9)
        let draws = ClassifierAugmentation(bands: 64, frames: 64).draw(count: 500, bands: 64, frames: 64, random: &random)
        XCTAssertTrue(draws.allSatisfy { (0.9...1.1).contains($0.warp) && abs($0.tilt) <= 0.1 })
        XCTAssertTrue(draws.allSatisfy { $0.frequencyMask.count <= 8 && $0.timeMask.count <= 8 && $0.frequencyMask.upperBound <= 64 && $0.timeMask.upperBound <= 64 })
        XCTAssertGreaterThan(Set(draws.map(\.frequencyMask.count)).count, 5)
        XCTAssertGreaterThan(draws.map(\.warp).max()! - draws.map(\.warp).min()!, 0.15)
    }

    func testClassifiersSavedBeforeAugmentationStillLoad() throws {
        // A configuration without augmentation is written without the key, as the files made
        // before it existed; both kinds decode to what was written.
        let plain = smallConfiguration()
        let text = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        XCTAssertFalse(text.contains("augmentation"), text)
        XCTAssertEqual(try JSONDecoder().decode(ClassifierConfiguration.self, from: Data(text.utf8)), plain)
        var augmented = plain
        augmented.augmentation = ClassifierAugmentation(bands: 16, frames: 16)
        XCTAssertEqual(try JSONDecoder().decode(ClassifierConfiguration.self, from: JSONEncoder().encode(augmented)), augmented)
    }

    func testOtherFilesAreNotClassifiers() throws {
        let path = try makeTemporaryFolder(self) + "/other.safetensors"
        try SafeTensors(tensors: [NamedTensor(name: "x", shape: [1], values: [0])], metadata: [:]).write(to: path)
        XCTAssertThrowsError(try TrainedClassifier(contentsOf: path)) { error in
            XCTAssertTrue("\(error)".contains("not a MelForge classifier"), "\(error)")
        }
    }
}

final class SteeringTests: XCTestCase {
    func testPolicyStartsAsThePriorAndItsGradientsMatchFiniteDifferences() {
        let policy = LatentPolicy(latentSize: 3)
        XCTAssertEqual(policy.divergenceFromPrior, 0)
        XCTAssertEqual(policy.entropy, 1.5 * log(2 * Double.pi * M_E), accuracy: 1e-9)
        policy.mean.value = Tensor(shape: [3], values: [0.5, -1, 0.2])
        policy.logStd.value = Tensor(shape: [3], values: [-0.3, 0.1, 0.4])
        // The REINFORCE term is -mean(A log pi(z)) with z held fixed: check it against the
        // Gaussian log-density's finite differences, and the KL term against its own.
        var random = RandomNumbers(seed: 2)
        let (z, noise) = policy.sample(count: 4, random: &random)
        let advantages: [Float] = [1, -0.5, 2, 0.3]
        let klWeight: Float = 0.7
        func loss() -> Double {
            var total = 0.0
            for row in 0..<4 {
                var logDensity = 0.0
                for j in 0..<3 {
                    let (m, l) = (Double(policy.mean.value.values[j]), Double(policy.logStd.value.values[j]))
                    let x = Double(z.values[row * 3 + j])
                    logDensity += -0.5 * (x - m) * (x - m) / exp(2 * l) - l
                }
                total -= Double(advantages[row]) * logDensity / 4
            }
            return total + Double(klWeight) * policy.divergenceFromPrior
        }
        policy.zeroGradients()
        policy.accumulateGradients(noise: noise, advantages: advantages, klWeight: klWeight)
        for parameter in policy.parameters {
            for j in 0..<3 {
                let h: Float = 1e-3
                parameter.value.values[j] += h
                let plus = loss()
                parameter.value.values[j] -= 2 * h
                let minus = loss()
                parameter.value.values[j] += h
                XCTAssertEqual(Double(parameter.gradient.values[j]), (plus - minus) / Double(2 * h), accuracy: 2e-3,
                               "\(parameter.name)[\(j)]")
            }
        }
    }

    func testSteeringRaisesTheRewardAndResumesExactly() throws {
        // Reward: the fraction of a latent's first two values above 1 (a ~16% event under the
        // prior, as a target digit is ~10% of an unconditional generator's output).
        func reward(_ z: Tensor) -> [Float] {
            (0..<z.shape[0]).map { row in Float((0..<2).filter { z.values[row * 8 + $0] > 1 }.count) / 2 }
        }
        let steering = Steering(policy: LatentPolicy(latentSize: 8), batchSize: 32, learningRate: 0.05, seed: 9)
        let first = steering.step(reward: reward)
        XCTAssertLessThan(first.meanReward, 0.35)
        var reports: [Steering.Report] = []
        for _ in 0..<150 { reports.append(steering.step(reward: reward)) }
        let late = reports.suffix(20).map(\.meanReward).reduce(0, +) / 20
        XCTAssertGreaterThan(late, 0.9, "mean reward \(first.meanReward) -> \(late)")
        // The other six dimensions are not rewarded: they stay near the prior (no drift, no collapse).
        for j in 2..<8 {
            XCTAssertLessThan(abs(steering.policy.mean.value.values[j]), 0.3, "mean[\(j)]")
            XCTAssertLessThan(abs(steering.policy.logStd.value.values[j]), 0.3, "log_std[\(j)]")
        }

        // Saved at step 151 and resumed, it continues as the uninterrupted run does.
        let path = try makeTemporaryFolder(self) + "/policy.safetensors"
        try steering.save(to: path, metadata: ["reward": "test"])
        let resumed = Steering(policy: LatentPolicy(latentSize: 8), batchSize: 32, learningRate: 0.05, seed: 0)
        try resumed.restore(from: try SafeTensors.read(path), path: path)
        for _ in 0..<3 {
            let (a, b) = (steering.step(reward: reward), resumed.step(reward: reward))
            XCTAssertEqual(a.meanReward, b.meanReward)
            XCTAssertEqual(a.entropy, b.entropy, accuracy: 1e-9)
        }
        // A file that lost its random state or its optimizer state cannot resume: each is named.
        let file = try SafeTensors.read(path)
        var withoutRandom = file.metadata
        withoutRandom["random_state"] = nil
        let broken = try makeTemporaryFolder(self) + "/broken.safetensors"
        try SafeTensors(tensors: file.tensors, metadata: withoutRandom).write(to: broken)
        XCTAssertThrowsError(try resumed.restore(from: SafeTensors.read(broken), path: broken)) { error in
            XCTAssertTrue("\(error)".contains("random_state") && "\(error)".contains(broken), "\(error)")
        }
        try SafeTensors(tensors: file.tensors.filter { !$0.name.hasSuffix("exp_avg_sq") }, metadata: file.metadata).write(to: broken)
        XCTAssertThrowsError(try resumed.restore(from: SafeTensors.read(broken), path: broken)) { error in
            XCTAssertTrue("\(error)".contains("optimizer") && "\(error)".contains("exp_avg_sq"), "\(error)")
        }
        let (loaded, metadata) = try Steering.loadPolicy(path)
        XCTAssertEqual(metadata["reward"], "test")
        XCTAssertEqual(loaded.latentSize, 8)
    }
}

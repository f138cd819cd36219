import AudioIO
import FileFormats
import Foundation
import Pipeline
import Spectral
import Tensors
import TestSupport
import Training
import XCTest

/// Training, loading, synthesis and steering through the library, on a few bundled clips as
/// 16 x 16 log-mel images.
final class TrainingSessionTests: XCTestCase {
    var folder = ""
    var data: LabelledImages!

    var frontEnd: FrontEndConfiguration {
        var c = AudioImaging.defaultFrontEnd
        (c.nMels, c.hopLength, c.nFFT) = (16, 1_024, 1_024)
        return c
    }

    override func setUpWithError() throws {
        folder = try makeTemporaryFolder(self)
        data = try DataSource.audio(folder: repositoryRoot + "/Audio/digits/seven", frontEnd: frontEnd, frames: 16)
            .load(report: { _ in })
    }

    func request(_ kind: TrainingConfiguration.Model) -> ModelRequest {
        var request = ModelRequest(kind: kind, batchSize: 4, learningRate: 1e-3, seed: 3)
        (request.widths, request.latentSize) = ([4, 8], 6)
        return request
    }

    func schedule(steps: Int) -> GeneratorTraining.Schedule {
        var schedule = GeneratorTraining.Schedule()
        (schedule.steps, schedule.checkpointEvery, schedule.logEvery) = (steps, 2, 1)
        return schedule
    }

    /// A run killed after its step-2 save and resumed logs what the whole run logs; its
    /// checkpoint carries the contract, from which a loaded model's clips are vocoded.
    func testResumedSessionContinuesAndItsModelSynthesizes() throws {
        for kind in [TrainingConfiguration.Model.gan, .vae] {
            let whole = try GeneratorTraining(folder: folder + "/\(kind)-whole", data: data, dataPath: "d", labels: nil,
                                              resume: false, request: request(kind))
            _ = try whole.train(schedule(steps: 4))
            let part = try GeneratorTraining(folder: folder + "/\(kind)-part", data: data, dataPath: "d", labels: nil,
                                             resume: false, request: request(kind))
            _ = try part.train(schedule(steps: 2))
            XCTAssertThrowsError(try GeneratorTraining(folder: folder + "/\(kind)-part", data: data, dataPath: "d", labels: nil,
                                                       resume: false, request: request(kind)))
            let resumed = try GeneratorTraining(folder: folder + "/\(kind)-part", data: data, dataPath: "d", labels: nil,
                                                resume: true, request: request(kind))
            XCTAssertTrue(resumed.resumed)
            XCTAssertEqual(resumed.run.step, 2)
            _ = try resumed.train(schedule(steps: 4))
            func losses(_ run: String) throws -> [String] {
                try String(contentsOfFile: folder + "/\(run)/log.jsonl", encoding: .utf8).split(separator: "\n")
                    .map { String($0.split(separator: "\"samples_per_s\"")[0]) }
            }
            XCTAssertEqual(try losses("\(kind)-part"), try losses("\(kind)-whole"))
            XCTAssertEqual(try losses("\(kind)-part").count, 4)

            let path = checkpointPath(folder + "/\(kind)-part")
            let model = try TrainedModel(checkpoint: path)
            XCTAssertEqual(model.canEncode, kind == .vae)
            let audio = try XCTUnwrap(try ModelAudio(model, path: path) { try GriffinLimVocoder(configuration: $0, griffinLimIterations: 2) })
            XCTAssertEqual(audio.imaging, data.imaging)
            let written = try audio.write(model.images(latents: model.latents(count: 2, seed: 1)), names: ["a", "b"], into: folder)
            XCTAssertEqual(written.map(\.name), ["a", "b"])
            XCTAssertTrue(written.allSatisfy { ($0.convergence ?? 9) < 1 })
            let clip = try AudioFile.read(folder + "/a.wav").samples
            XCTAssertEqual(clip.count, AudioImaging.clipSamples(frames: 16, frontEnd: frontEnd))
            // The sample features carry the contract too, for melforge invert.
            let sidecar = try FeatureSidecar.read(folder + "/\(kind)-part/samples/sample-1.json")
            XCTAssertEqual(sidecar.frontEnd, frontEnd)
            XCTAssertEqual(sidecar.samples, clip.count)
        }
    }

    /// The same data with other front-end settings cannot resume the run.
    func testResumingOnOtherImagesIsRefused() throws {
        _ = try GeneratorTraining(folder: folder + "/r", data: data, dataPath: "d", labels: nil, resume: false, request: request(.vae))
            .train(schedule(steps: 2))
        var wider = frontEnd
        (wider.nMels, wider.hopLength) = (32, 512)
        let other = try DataSource.audio(folder: repositoryRoot + "/Audio/digits/seven", frontEnd: wider, frames: 32).load(report: { _ in })
        XCTAssertThrowsError(try GeneratorTraining(folder: folder + "/r", data: other, dataPath: "d", labels: nil, resume: true,
                                                   request: request(.vae))) {
            XCTAssertTrue("\($0)".contains("1x16x16") && "\($0)".contains("1x32x32"), "\($0)")
        }
    }

    /// Rewards: acoustic ones need a generator of sound and a target they can reach; they
    /// measure level and centroid from the images without a phase.
    func testRewardsRefuseWhatTheyCannotJudge() throws {
        _ = try GeneratorTraining(folder: folder + "/g", data: data, dataPath: "d", labels: nil, resume: false, request: request(.gan))
            .train(schedule(steps: 1))
        let path = checkpointPath(folder + "/g")
        let model = try TrainedModel(checkpoint: path)
        for (specification, expected) in [("loudness:3", "0 or below"), ("centroid:9000", "8000"), ("tempo:1", "unknown reward"),
                                          ("label:seven", "needs --classifier"), ("loudness", "kind:target")] {
            XCTAssertThrowsError(try Reward(specification, judge: nil, model: model, modelPath: path), specification) {
                XCTAssertTrue("\($0)".contains(expected) || "\($0)".contains("label:NAME"), "\(specification): \($0)")
            }
        }
        let reward = try Reward("centroid:1500", judge: nil, model: model, modelPath: path)
        let images = model.images(latents: model.latents(count: 3, seed: 2))
        let (rewards, centroids) = try reward.judged(images, model: model, modelPath: path)
        XCTAssertEqual(rewards.count, 3)
        XCTAssertTrue(centroids!.allSatisfy { $0 > 0 && $0 < 8_000 })
        for (r, c) in zip(rewards, centroids!) { XCTAssertEqual(Double(r), -abs(log2(c / 1_500)), accuracy: 1e-4) }
    }

    /// The sample grid is headed with the model and its step; a conditional model's cells
    /// carry their classes, as captions under each cell.
    func testSampleGridsAreHeadedAndCaptioned() throws {
        let subset = try DataSource.audio(folder: repositoryRoot + "/Audio/digits", frontEnd: frontEnd, frames: 16).load(report: { _ in })
        let labels = try DataSource.audio(folder: repositoryRoot + "/Audio/digits", frontEnd: frontEnd, frames: 16)
            .classLabels(subset.folderLabels, count: subset.images.shape[0], for: "--conditional")
        for (name, classes) in [("plain", nil), ("conditional", labels)] as [(String, ([Int], [String])?)] {
            _ = try GeneratorTraining(folder: folder + "/" + name, data: subset, dataPath: "d",
                                      labels: classes.map { (indices: $0.0, classes: $0.1) }, resume: false, request: request(.gan))
                .train(schedule(steps: 1))
        }
        let plain = try PNG.read(folder + "/plain/samples.png", as: .rgb)
        let conditional = try PNG.read(folder + "/conditional/samples.png", as: .rgb)
        XCTAssertEqual(conditional.width, plain.width)
        XCTAssertEqual(conditional.height - plain.height, 4 * (11 + 6), "a caption line under each of the 4 rows")
    }
}

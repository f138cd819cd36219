@testable import Spectral
import TestSupport
import XCTest

final class ScalingTests: XCTestCase {
    func testPowerToDbFollowsLibrosa() throws {
        var values: [Float] = [1, 10, 100, 1e-12, 0]
        try DecibelScaling().toDecibels(&values)
        // 10 log10(max(1e-10, S)) with ref 1: the floor turns 1e-12 and 0 into -100 dB.
        assertClose(values, [0, 10, 20, -100, -100], absolute: 1e-5)

        var clamped: [Float] = [1, 1e-3, 1e-9]
        try DecibelScaling(reference: .value(10), topDB: 40).toDecibels(&clamped)
        assertClose(clamped, [-10, -40, -50], absolute: 1e-4)  // -100 raised to peak (-10) - 40

        var relative: [Float] = [2, 4]
        try DecibelScaling(reference: .maximum).toDecibels(&relative)
        assertClose(relative, [-3.0103, 0], absolute: 1e-4)
    }

    func testDbToPowerUndoesPowerToDb() throws {
        let scaling = try DecibelScaling(reference: .value(2))
        let original: [Float] = [1e-6, 0.01, 0.5, 3, 1_000]
        var values = original
        scaling.toDecibels(&values)
        try scaling.toPower(&values)
        assertClose(values, original, absolute: 0, relative: 1e-5)
        XCTAssertThrowsError(try DecibelScaling(reference: .maximum).toPower(&values))
    }

    func testNormalisationRoundTripsAndClamps() throws {
        let decibels: [Float] = [-100, -80, -40, 0, 12]
        let normalization = try LogMelNormalization.fitted(to: decibels)
        XCTAssertEqual(normalization, try LogMelNormalization(minDB: -100, maxDB: 12))
        var values = decibels
        normalization.normalize(&values)
        XCTAssertEqual(values.first, -1)
        XCTAssertEqual(values.last, 1)
        normalization.denormalize(&values)
        assertClose(values, decibels, absolute: 1e-4)

        var outside: [Float] = [-200, 50]
        normalization.normalize(&outside)
        XCTAssertEqual(outside, [-1, 1])
    }

    func testNormalisationRejectsUnusableRanges() {
        XCTAssertThrowsError(try LogMelNormalization(minDB: 0, maxDB: 0))
        XCTAssertThrowsError(try LogMelNormalization.fitted(to: [.nan, .infinity]))
        // A constant input still gets an invertible range.
        XCTAssertEqual(try LogMelNormalization.fitted(to: [-5, -5]), try LogMelNormalization(minDB: -5, maxDB: -4))
    }

    func testFilterbankPropertiesAndErrors() throws {
        let bank = try MelFilterbank(sampleRate: 16_000, nFFT: 1_024, nMels: 80)
        XCTAssertEqual(bank.weights.count, 80 * 513)
        XCTAssertTrue(bank.weights.allSatisfy { $0 >= 0 && $0.isFinite })
        // Slaney: filter centres strictly increase, each filter peaks at its centre.
        let points = MelFilterbank.melPoints(count: 82, fMin: 0, fMax: 8_000, scale: .slaney)
        XCTAssertTrue(zip(points, points.dropFirst()).allSatisfy { $0 < $1 })
        XCTAssertEqual(MelScale.slaney.mel(fromHz: 1_000), 15, accuracy: 1e-12)
        XCTAssertEqual(MelScale.htk.hz(fromMel: MelScale.htk.mel(fromHz: 4_321)), 4_321, accuracy: 1e-9)
        XCTAssertEqual(MelScale.slaney.hz(fromMel: MelScale.slaney.mel(fromHz: 4_321)), 4_321, accuracy: 1e-9)

        // Too many bands for a small FFT leaves some filters empty; librosa warns, we report them.
        XCTAssertFalse(try MelFilterbank(sampleRate: 16_000, nFFT: 64, nMels: 128).emptyFilters.isEmpty)

        XCTAssertThrowsError(try MelFilterbank(sampleRate: 16_000, nFFT: 1_024, nMels: 80, fMax: 9_000)) {
            XCTAssertTrue("\($0)".contains("fMax = 9000.0 Hz"), "\($0)")
            XCTAssertTrue("\($0)".contains("8000.0 Hz"), "\($0)")
        }
        XCTAssertThrowsError(try MelFilterbank(sampleRate: 16_000, nFFT: 1_024, nMels: 0))
        XCTAssertThrowsError(try MelFilterbank(sampleRate: 16_000, nFFT: 1_024, nMels: 80, fMin: 5_000, fMax: 4_000))
    }

    func testFusedMelEqualsFilterbankOverPowerSpectrogram() throws {
        let configuration = FrontEndConfiguration()
        let frontEnd = try MelFrontEnd(configuration)
        let signal = testSignal(count: 8_000)
        let fused = try frontEnd.melSpectrogram(signal)
        let separate = try frontEnd.filterbank.apply(try frontEnd.stft.magnitude(signal, power: 2))
        XCTAssertEqual(fused.bins, 80)
        XCTAssertEqual(fused.frames, configuration.frameCount(samples: 8_000))
        assertClose(fused.values, separate.values, absolute: 0, relative: 1e-6)
    }

    func testLongSignalsSplitAcrossThreadsGiveTheSameFeatures() throws {
        var configuration = FrontEndConfiguration()
        configuration.topDB = 80
        let frontEnd = try MelFrontEnd(configuration)
        let signal = testSignal(count: 16_000 * 40)  // 2,501 frames, above the threshold
        XCTAssertGreaterThan(configuration.frameCount(samples: signal.count), MelFrontEnd.parallelThreshold)
        let serial = try frontEnd.features(signal, threads: 1)
        let parallel = try frontEnd.features(signal, threads: 2)
        XCTAssertEqual(serial, parallel)
        // The dB pass equals power_to_db applied to the mel power afterwards.
        var separate = try frontEnd.melSpectrogram(signal, threads: 1).values
        try DecibelScaling(topDB: 80).toDecibels(&separate)
        assertClose(serial.values, separate, absolute: 1e-4)
    }

    func testFrontEndRejectsUnsupportedPower() {
        var configuration = FrontEndConfiguration()
        configuration.power = 1.5
        XCTAssertThrowsError(try MelFrontEnd(configuration)) {
            XCTAssertEqual($0 as? SpectralError, .invalidParameter(name: "power", value: "1.5", accepted: "1 or 2"))
        }
    }
}

/// The vectorised dB kernel (its own log10, no libm call) against Foundation.
final class DecibelKernelTests: XCTestCase {
    func testPowerToDecibelsAgreesWithFoundationOverAllPositiveFloats() throws {
        // Every 997th float bit pattern across the positive normals.
        var inputs: [Float] = []
        var bits = Float.leastNormalMagnitude.bitPattern
        while bits < Float.greatestFiniteMagnitude.bitPattern {
            inputs.append(Float(bitPattern: bits))
            bits += 997
        }
        inputs += [1, 10, 0.5, 2, 1.4142135, 1.4142137, .greatestFiniteMagnitude]
        var values = inputs
        let scaling = try DecibelScaling(amin: .leastNormalMagnitude)
        values.withUnsafeMutableBufferPointer { scaling.powerToDecibels($0.baseAddress!, count: $0.count, offset: 0) }
        var worst = 0.0
        for (x, db) in zip(inputs, values) {
            let exact = 10 * log10(Double(x))
            worst = max(worst, abs(Double(db) - exact) / max(10, abs(exact)))
        }
        XCTAssertLessThan(worst, 5e-7)  // relative to max(10 dB, |dB|): a few float32 ulps, 5e-5 dB at 100 dB

        // The floor, squaring for magnitudes, the offset, and infinity taken as the largest float.
        var edges: [Float] = [0, 1e-12, 3, .infinity]
        try DecibelScaling().powerToDecibels(&edges, count: 4, offset: 5, squareFirst: true)
        assertClose(edges, [-105, -105, 10 * log10(Float(9)) - 5, 10 * log10(Float.greatestFiniteMagnitude) - 5],
                    absolute: 1e-4)
    }
}

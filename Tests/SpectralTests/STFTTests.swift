import Dispatch
import Spectral
import TestSupport
import XCTest

final class STFTTests: XCTestCase {
    func testPeriodicWindowsMatchTheirDefinitions() {
        // scipy.signal.get_window("hann", 4) == [0, 0.5, 1, 0.5] (periodic: period 4, not 3).
        XCTAssertEqual(Window.hann.values(length: 4), [0, 0.5, 1, 0.5])
        assertClose(Window.hamming.values(length: 4), [0.08, 0.54, 1, 0.54], absolute: 1e-7)
        assertClose(Window.blackman.values(length: 4), [0, 0.34, 1, 0.34], absolute: 1e-7)
        XCTAssertEqual(Window.rectangular.values(length: 3), [1, 1, 1])
        // pad_center: (8 - 4) / 2 zeros on the left.
        XCTAssertEqual(Window.rectangular.values(winLength: 4, nFFT: 8), [0, 0, 1, 1, 1, 1, 0, 0])
    }

    func testFrameCountsFollowLibrosa() throws {
        let centred = try STFT(nFFT: 1_024, hopLength: 256)
        XCTAssertEqual(centred.frameCount(samples: 16_000), 63)  // 1 + 16000 // 256
        XCTAssertEqual(centred.frameCount(samples: 1), 1)
        let plain = try STFT(nFFT: 1_024, hopLength: 256, center: false)
        XCTAssertEqual(plain.frameCount(samples: 16_000), 59)  // 1 + (16000 - 1024) // 256
        XCTAssertEqual(plain.frameCount(samples: 1_000), 0)
    }

    func testInverseRecoversTheSignal() throws {
        let signal = testSignal(count: 5_000)
        let configurations: [STFT] = [
            try STFT(nFFT: 1_024, hopLength: 256),
            try STFT(nFFT: 512, hopLength: 128, window: .hamming, padMode: .reflect),
            try STFT(nFFT: 400, hopLength: 100, winLength: 300),  // odd hop/window ratios, non-power-of-two FFT
            try STFT(nFFT: 256, hopLength: 64, window: .blackman),
        ]
        for stft in configurations {
            let back = try stft.inverse(try stft.transform(signal), length: signal.count)
            XCTAssertEqual(back.count, signal.count)
            let error = zip(back, signal).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }.squareRoot()
            let norm = signal.reduce(0) { $0 + Double($1 * $1) }.squareRoot()
            XCTAssertLessThan(error / norm, 1e-5, "nFFT \(stft.nFFT) hop \(stft.hopLength) \(stft.window)")
        }
    }

    func testInverseLengthWithoutLengthArgument() throws {
        let stft = try STFT(nFFT: 512, hopLength: 128)
        let spectrum = try stft.transform(testSignal(count: 1_000))
        XCTAssertEqual(spectrum.frames, 8)
        XCTAssertEqual(try stft.inverse(spectrum).count, 128 * 7)  // librosa: hop * (frames - 1)
    }

    func testPureToneLandsInItsBin() throws {
        // 1000 Hz at 16 kHz with nFFT 1024: bin 1000 * 1024 / 16000 = 64.
        let tone = (0..<16_000).map { Float(sin(2 * Double.pi * 1_000 * Double($0) / 16_000)) }
        let magnitude = try STFT(nFFT: 1_024, hopLength: 256).magnitude(tone)
        let middle = magnitude.frames / 2
        let column = (0..<magnitude.bins).map { magnitude[$0, middle] }
        XCTAssertEqual(column.indices.max { column[$0] < column[$1] }, 64)
        // A unit sine's peak under a Hann window is sum(w) / 2 = 1024 / 4.
        XCTAssertEqual(column[64], 256, accuracy: 0.01)
    }

    func testReflectPaddingMirrorsWithoutRepeatingTheEdge() throws {
        // numpy.pad([1, 2, 3, 4, 5], 4, mode="reflect") == [5, 4, 3, 2, 1, 2, 3, 4, 5, 4, 3, 2, 1]
        // With a rectangular window of 8 and nFFT 8, frame 0 sums the padded samples 0..<8.
        let stft = try STFT(nFFT: 8, hopLength: 1, window: .rectangular, padMode: .reflect)
        let spectrum = try stft.transform([1, 2, 3, 4, 5])
        XCTAssertEqual(spectrum.real[0], 5 + 4 + 3 + 2 + 1 + 2 + 3 + 4)  // bin 0, frame 0: the DC sum
        XCTAssertEqual(spectrum.real[4], 1 + 2 + 3 + 4 + 5 + 4 + 3 + 2)  // frame 4
    }

    func testTransformsFromManyThreadsAgree() throws {
        let stft = try STFT(nFFT: 1_024, hopLength: 256)
        let signal = testSignal(count: 20_000)
        let expected = try stft.magnitude(signal)
        let results = UnsafeSendableBox([Spectrogram?](repeating: nil, count: 8))
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let result = try? STFT(nFFT: 1_024, hopLength: 256).magnitude(signal)
            results.lock.withLock { results.value[i] = result }
        }
        for result in results.value { XCTAssertEqual(result, expected) }
    }

    func testBadParametersNameThemselves() {
        XCTAssertThrowsError(try STFT(nFFT: 1, hopLength: 1)) {
            XCTAssertEqual($0 as? SpectralError, .invalidParameter(name: "nFFT", value: "1", accepted: "2...1048576"))
        }
        XCTAssertThrowsError(try STFT(nFFT: 512, hopLength: 0)) {
            XCTAssertTrue("\($0)".contains("hopLength = 0"), "\($0)")
        }
        XCTAssertThrowsError(try STFT(nFFT: 512, hopLength: 128, winLength: 1_024)) {
            XCTAssertTrue("\($0)".contains("winLength = 1024"), "\($0)")
        }
        XCTAssertThrowsError(try STFT(nFFT: 512, hopLength: 128).transform([])) {
            XCTAssertTrue("\($0)".contains("0 samples"), "\($0)")
        }
        XCTAssertThrowsError(try STFT(nFFT: 512, hopLength: 128, center: false).transform([Float](repeating: 0, count: 100))) {
            XCTAssertTrue("\($0)".contains("at least nFFT (512)"), "\($0)")
        }
    }
}

/// A value shared by `concurrentPerform`'s iterations, guarded by a lock.
final class UnsafeSendableBox<Value>: @unchecked Sendable {
    var value: Value
    let lock = NSLock()
    init(_ value: Value) { self.value = value }
}

import Foundation

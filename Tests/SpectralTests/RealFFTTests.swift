import Spectral
import TestSupport
import XCTest

/// The real FFT against a direct DFT in Double, for the half-size path (even sizes) and
/// FFTW's own r2c/c2r (odd sizes). Float32 FFT error grows like eps * log2(N) * ||x||, so
/// bins are compared with 1e-5 * ||x||_1 absolute.
final class RealFFTTests: XCTestCase {
    func testForwardMatchesDirectDFT() {
        for size in [2, 4, 6, 8, 12, 16, 30, 64, 400, 1024, 3, 5, 15, 257] {
            let fft = RealFFT.plan(size: size)
            let buffers = FFTBuffers(size: size)
            let signal = testSignal(count: size, seed: UInt64(size))
            for n in 0..<size { buffers.real[n] = signal[n] }
            fft.forward(buffers)
            var expected: [Float] = [], actual: [Float] = []
            for k in 0..<fft.bins {
                var re = 0.0, im = 0.0
                for n in 0..<size {
                    let angle = -2 * Double.pi * Double(k * n % size) / Double(size)
                    re += Double(signal[n]) * cos(angle)
                    im += Double(signal[n]) * sin(angle)
                }
                expected += [Float(re), Float(im)]
                actual += [buffers.complexFloats[2 * k], buffers.complexFloats[2 * k + 1]]
            }
            let scale = signal.reduce(0) { $0 + abs($1) }
            assertClose(actual, expected, absolute: 1e-5 * scale, "size \(size)")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: buffers.real, count: size)), signal, "forward must leave the input alone (size \(size))")
        }
    }

    func testInverseOfForwardIsSizeTimesTheSignal() {
        for size in [2, 6, 8, 400, 1024, 2048, 5, 257] {
            let fft = RealFFT.plan(size: size)
            let buffers = FFTBuffers(size: size)
            let signal = testSignal(count: size, seed: 99)
            for n in 0..<size { buffers.real[n] = signal[n] }
            fft.forward(buffers)
            fft.inverse(buffers)
            let back = (0..<size).map { buffers.real[$0] / Float(size) }
            assertClose(back, signal, absolute: 1e-5, "size \(size)")
        }
    }

    func testPlansAreSharedPerSize() {
        XCTAssertTrue(RealFFT.plan(size: 512) === RealFFT.plan(size: 512))
        XCTAssertEqual(RealFFT.plan(size: 512).bins, 257)
    }
}

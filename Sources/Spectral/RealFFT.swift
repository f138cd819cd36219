import CFFTW
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// FFTW single-precision real transforms of one size: `forward` (real -> complex,
/// `nFFT / 2 + 1` bins, as numpy's `rfft`) and `inverse` (complex -> real,
/// unnormalised: N times numpy's `irfft`, as FFTW's c2r).
///
/// Measured here (FFTW 3.3.10, N = 1024): the r2c plan takes 0.80 us, of which most is
/// its scalar split step (`hc2cfdft_2`); the complex plan of size N/2 takes 0.30 us.
/// A half-size complex FFT plus a split step written with Swift's SIMD types came out
/// no faster (0.95 us: the SIMD code lowers to SSE with many shuffles), so FFTW's own
/// real plans stay.
///
/// Plans are made once per size and shared (`RealFFT.plan(size:)`). Making a plan is
/// not thread-safe in FFTW, so it happens under a lock; executing one with the
/// new-array interface (`fftwf_execute_dft_r2c`) is, so transforms run from many
/// threads at once, each with its own `FFTBuffers`.
public final class RealFFT: @unchecked Sendable {
    public let size: Int
    public var bins: Int { size / 2 + 1 }
    fileprivate let forwardPlan: fftwf_plan
    fileprivate let inversePlan: fftwf_plan

    private static let cache = Mutex<[Int: RealFFT]>([:])

    /// The shared transforms for `size` (any size >= 2; FFTW is fastest on products of small primes).
    public static func plan(size: Int) -> RealFFT {
        precondition(size >= 2, "RealFFT: size \(size) < 2")
        return cache.withLock { plans in
            if let plan = plans[size] { return plan }
            let plan = RealFFT(size: size)
            plans[size] = plan
            return plan
        }
    }

    private init(size: Int) {
        self.size = size
        // Plans are made on scratch buffers from fftwf_malloc; every later execution uses
        // FFTBuffers, also from fftwf_malloc, so the alignment FFTW planned for holds.
        let scratch = FFTBuffers(size: size)
        // FFTW_MEASURE times a few algorithms (tens of milliseconds, once per size and process)
        // and picks the fastest; it overwrites the scratch buffers, which hold nothing yet.
        let flags = UInt32(FFTW_MEASURE)
        forwardPlan = fftwf_plan_dft_r2c_1d(Int32(size), scratch.real, scratch.complex, flags)
        inversePlan = fftwf_plan_dft_c2r_1d(Int32(size), scratch.complex, scratch.real, flags)
    }

    deinit {
        fftwf_destroy_plan(forwardPlan)
        fftwf_destroy_plan(inversePlan)
    }

    /// `buffers.complex = rfft(buffers.real)`.
    @inline(__always)
    public func forward(_ buffers: FFTBuffers) {
        fftwf_execute_dft_r2c(forwardPlan, buffers.real, buffers.complex)
    }

    /// `buffers.real = size * irfft(buffers.complex)`; destroys `buffers.complex`.
    @inline(__always)
    public func inverse(_ buffers: FFTBuffers) {
        fftwf_execute_dft_c2r(inversePlan, buffers.complex, buffers.real)
    }

    /// FFTW's version string, e.g. "fftw-3.3.10-sse2-avx". (`fftwf_version` is a C array
    /// of unknown size, which Swift cannot import, so it is looked up by name.)
    public static var libraryVersion: String {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fftwf_version") else { return "fftw3f" }
        return String(cString: symbol.assumingMemoryBound(to: CChar.self))
    }
}

/// Working memory for one thread's transforms of one size: `size` reals and
/// `size / 2 + 1` complex values (interleaved re, im), aligned by fftwf_malloc.
public final class FFTBuffers {
    public let size: Int
    public let real: UnsafeMutablePointer<Float>
    public let complex: UnsafeMutablePointer<fftwf_complex>

    public init(size: Int) {
        self.size = size
        real = fftwf_malloc(MemoryLayout<Float>.stride * size)!.bindMemory(to: Float.self, capacity: size)
        complex = fftwf_malloc(MemoryLayout<fftwf_complex>.stride * (size / 2 + 1))!
            .bindMemory(to: fftwf_complex.self, capacity: size / 2 + 1)
        real.initialize(repeating: 0, count: size)
        complex.initialize(repeating: (0, 0), count: size / 2 + 1)
    }

    deinit {
        fftwf_free(real)
        fftwf_free(complex)
    }

    /// The complex output viewed as `2 * (size / 2 + 1)` floats: re0, im0, re1, im1, ...
    public var complexFloats: UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(complex).assumingMemoryBound(to: Float.self)
    }
}

import CFFTW
import CSpectralKernels
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Real FFTs of one size on FFTW, single precision: `forward` (N reals -> N/2 + 1
/// complex bins, as numpy's `rfft`) and `inverse` (bins -> N reals, unnormalised: N
/// times numpy's `irfft`, as FFTW's c2r).
///
/// Even sizes run as FFTW's complex FFT of half the size plus a split step: the reals,
/// taken in pairs, are the complex sequence z[m] = x[2m] + i x[2m+1], and with
/// Z = DFT_{N/2}(z) the spectrum is
///
///     E[k] = (Z[k] + conj Z[N/2-k]) / 2         (DFT of the even samples)
///     O[k] = (Z[k] - conj Z[N/2-k]) / 2i        (DFT of the odd samples)
///     X[k] = E[k] + W^k O[k],  W = exp(-2 pi i / N),  k = 0...N/2
///
/// (the inverse runs the steps backwards; both are C kernels, `mf_rfft_split` and
/// `mf_rfft_merge`). Why not FFTW's r2c plan: for N = 1024 it takes 0.80 us here,
/// most of it in the scalar split step it picks (`hc2cfdft_2`), while its complex
/// N/2 plan takes 0.30 us and the vectorised split step about 0.1 us (BENCHMARKS.md).
/// Odd sizes use FFTW's r2c/c2r plans directly.
///
/// Plans are made once per size and shared (`RealFFT.plan(size:)`). Making a plan is
/// not thread-safe in FFTW, so it happens under a lock; executing one with the
/// new-array interface (`fftwf_execute_dft*`) is, so transforms run from many threads
/// at once, each with its own `FFTBuffers`.
public final class RealFFT: @unchecked Sendable {
    public let size: Int
    public var bins: Int { size / 2 + 1 }

    private enum Plans {
        /// Even sizes: complex FFTs of size / 2, forward and backward.
        case half(forward: fftwf_plan, backward: fftwf_plan)
        /// Odd sizes: FFTW's own real transforms.
        case real(forward: fftwf_plan, inverse: fftwf_plan)
    }

    private let plans: Plans
    /// cos(2 pi k / N) and sin(2 pi k / N) for k = 0...N/2.
    private let cosines: [Float]
    private let sines: [Float]

    private static let cache = Mutex<[Int: RealFFT]>([:])

    /// The shared transforms for `size` (any size >= 2; FFTW is fastest on products of small primes).
    public static func plan(size: Int) -> RealFFT {
        precondition(size >= 2, "RealFFT: size \(size) < 2")
        return cache.withLock { plans in
            if let plan = plans[size] { return plan }
            if plans.isEmpty { Wisdom.load() }
            let plan = RealFFT(size: size)
            plans[size] = plan
            Wisdom.save()
            return plan
        }
    }

    private init(size: Int) {
        self.size = size
        // Plans are made on scratch buffers from fftwf_malloc; every later execution uses
        // FFTBuffers, also from fftwf_malloc, so the alignment FFTW planned for holds.
        // FFTW_PATIENT times many algorithms and overwrites the scratch buffers, which hold
        // nothing yet. It costs up to about half a second per size, once per machine (the plans
        // are kept as wisdom, see `Wisdom`), and buys 10-20% over FFTW_MEASURE here, whose
        // choice for 512 points also varied from run to run (0.30 to 0.37 us).
        let scratch = FFTBuffers(size: size)
        let flags = UInt32(FFTW_PATIENT)
        fftwf_set_timelimit(0.5)
        if size % 2 == 0 {
            let half = Int32(size / 2)
            plans = .half(
                forward: fftwf_plan_dft_1d(half, scratch.pairs, scratch.half, FFTW_FORWARD, flags),
                backward: fftwf_plan_dft_1d(half, scratch.half, scratch.pairs, FFTW_BACKWARD, flags))
        } else {
            plans = .real(forward: fftwf_plan_dft_r2c_1d(Int32(size), scratch.real, scratch.complex, flags),
                          inverse: fftwf_plan_dft_c2r_1d(Int32(size), scratch.complex, scratch.real, flags))
        }
        cosines = (0...size / 2).map { Float(cos(2 * Double.pi * Double($0) / Double(size))) }
        sines = (0...size / 2).map { Float(sin(2 * Double.pi * Double($0) / Double(size))) }
    }

    deinit {
        switch plans {
        case .half(let forward, let backward):
            fftwf_destroy_plan(forward)
            fftwf_destroy_plan(backward)
        case .real(let forward, let inverse):
            fftwf_destroy_plan(forward)
            fftwf_destroy_plan(inverse)
        }
    }

    /// `buffers.complex = rfft(buffers.real)`; `buffers.real` is left as it was.
    @inline(__always)
    public func forward(_ buffers: FFTBuffers) {
        switch plans {
        case .half(let forward, _):
            fftwf_execute_dft(forward, buffers.pairs, buffers.half)
            mf_rfft_split(buffers.halfFloats, buffers.complexFloats, cosines, sines, Int32(size / 2), buffers.scratch)
        case .real(let forward, _):
            fftwf_execute_dft_r2c(forward, buffers.real, buffers.complex)
        }
    }

    /// |rfft(buffers.real)[k]|^2 to `power[k * stride]` for every bin, without storing the
    /// complex spectrum: all the mel front end needs.
    @inline(__always)
    public func forwardPower(_ buffers: FFTBuffers, into power: UnsafeMutablePointer<Float>, stride: Int) {
        switch plans {
        case .half(let forward, _):
            fftwf_execute_dft(forward, buffers.pairs, buffers.half)
            mf_rfft_split_power(buffers.halfFloats, power, stride, cosines, sines, Int32(size / 2), buffers.scratch)
        case .real(let forward, _):
            fftwf_execute_dft_r2c(forward, buffers.real, buffers.complex)
            let x = buffers.complexFloats
            for k in 0..<bins { power[k * stride] = x[2 * k] * x[2 * k] + x[2 * k + 1] * x[2 * k + 1] }
        }
    }

    /// `buffers.real = size * irfft(buffers.complex)`; destroys `buffers.complex`.
    /// The imaginary parts of bin 0 (and of bin N/2 for even N) are ignored, as in `irfft`.
    @inline(__always)
    public func inverse(_ buffers: FFTBuffers) {
        switch plans {
        case .half(_, let backward):
            mf_rfft_merge(buffers.complexFloats, buffers.halfFloats, cosines, sines, Int32(size / 2), buffers.scratch)
            fftwf_execute_dft(backward, buffers.half, buffers.pairs)
        case .real(_, let inverse):
            fftwf_execute_dft_c2r(inverse, buffers.complex, buffers.real)
        }
    }

    /// FFTW's version string, e.g. "fftw-3.3.10-sse2-avx". (`fftwf_version` is a C array
    /// of unknown size, which Swift cannot import, so it is looked up by name.)
    public static var libraryVersion: String {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fftwf_version") else { return "fftw3f" }
        return String(cString: symbol.assumingMemoryBound(to: CChar.self))
    }
}

/// FFTW's measured plans ("wisdom"), kept between runs: planning times candidate
/// algorithms for up to half a second per size, which a command run once per file would
/// pay every time. The file is `$MELFORGE_CACHE/fftw3f-wisdom` (default
/// `$XDG_CACHE_HOME/melforge`, else `~/.cache/melforge`); `MELFORGE_CACHE=off` turns it
/// off. A missing, unreadable or stale file only means planning again; wisdom from
/// another machine is still correct, at worst slower.
enum Wisdom {
    static let path: String? = {
        let environment = ProcessInfo.processInfo.environment
        if environment["MELFORGE_CACHE"] == "off" { return nil }
        let folder = environment["MELFORGE_CACHE"]
            ?? environment["XDG_CACHE_HOME"].map { $0 + "/melforge" }
            ?? environment["HOME"].map { $0 + "/.cache/melforge" }
        return folder.map { $0 + "/fftw3f-wisdom" }
    }()

    /// Called under the planning lock.
    static func load() {
        if let path { _ = fftwf_import_wisdom_from_filename(path) }
    }

    /// Called under the planning lock: writes a temporary file beside the cache and
    /// renames it, so a reader never sees half a file.
    static func save() {
        guard let path else { return }
        let folder = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = path + ".partial-\(getpid())"
        if fftwf_export_wisdom_to_filename(temporary) != 0 {
            rename(temporary, path)
        } else {
            unlink(temporary)
        }
    }
}

/// Working memory for one thread's transforms of one size, from fftwf_malloc (aligned
/// as FFTW planned for): `size` reals, `size / 2 + 1` complex bins (interleaved re, im)
/// and, for the half-size transforms, `size / 2` complex values and the split
/// kernels' scratch.
public final class FFTBuffers {
    public let size: Int
    public let real: UnsafeMutablePointer<Float>
    public let complex: UnsafeMutablePointer<fftwf_complex>
    let half: UnsafeMutablePointer<fftwf_complex>
    let scratch: UnsafeMutablePointer<Float>

    public init(size: Int) {
        self.size = size
        real = Self.allocate(Float.self, count: size, zero: 0)
        complex = Self.allocate(fftwf_complex.self, count: size / 2 + 1, zero: (0, 0))
        half = Self.allocate(fftwf_complex.self, count: max(1, size / 2), zero: (0, 0))
        scratch = Self.allocate(Float.self, count: 3 * (size / 2 + 1), zero: 0)
    }

    deinit {
        fftwf_free(real)
        fftwf_free(complex)
        fftwf_free(half)
        fftwf_free(scratch)
    }

    /// The complex output viewed as `2 * (size / 2 + 1)` floats: re0, im0, re1, im1, ...
    public var complexFloats: UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(complex).assumingMemoryBound(to: Float.self)
    }

    /// `real` seen as `size / 2` complex values (x[2m], x[2m+1]).
    var pairs: UnsafeMutablePointer<fftwf_complex> {
        UnsafeMutableRawPointer(real).assumingMemoryBound(to: fftwf_complex.self)
    }

    var halfFloats: UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(half).assumingMemoryBound(to: Float.self)
    }

    private static func allocate<T>(_ type: T.Type, count: Int, zero: T) -> UnsafeMutablePointer<T> {
        let pointer = fftwf_malloc(MemoryLayout<T>.stride * count)!.bindMemory(to: T.self, capacity: count)
        pointer.initialize(repeating: zero, count: count)
        return pointer
    }
}

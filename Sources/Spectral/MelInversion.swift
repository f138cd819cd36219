import CSpectralKernels
import Foundation

/// From a mel spectrogram back to a linear one: the non-negative least-squares problem
/// `librosa.feature.inverse.mel_to_stft` solves,
///
///     minimise ||F X - M||_F^2  subject to  X >= 0,
///
/// for F the mel filter bank `[nMels, bins]`, M the mel spectrogram `[nMels, frames]`
/// and X the linear one `[bins, frames]`, all frames at once.
///
/// librosa starts from the pseudo-inverse clipped at 0 and runs L-BFGS-B per block of
/// frames. Here: the same start, F+ M = F^T ((F F^T)^-1 M) with the small inverse made
/// once per filter bank, then projected gradient steps with Nesterov's momentum
/// (FISTA; Beck & Teboulle 2009) whose products with F and F^T use the filters' sparsity,
/// about 2 * bins multiply-adds per frame each. The step is 1 / L with L the largest
/// eigenvalue of F F^T, so the residual never grows (without momentum) and FISTA's
/// O(1 / k^2) rate holds.
public struct MelInversion: Sendable {
    public let filterbank: MelFilterbank
    /// Projected gradient iterations after the pseudo-inverse start; 0 is the clipped
    /// pseudo-inverse alone.
    public var iterations: Int
    /// (F F^T)^-1 `[nMels, nMels]`, row-major.
    let gramInverse: [Float]
    /// The largest eigenvalue of F F^T.
    let lipschitz: Float

    public init(filterbank: MelFilterbank, iterations: Int = 50) throws {
        guard iterations >= 0 else {
            throw SpectralError.invalidParameter(name: "iterations", value: "\(iterations)", accepted: "0 or more")
        }
        self.filterbank = filterbank
        self.iterations = iterations
        let (nMels, bins) = (filterbank.nMels, filterbank.bins)
        let f = filterbank.weights.map(Double.init)

        // G = F F^T (nMels x nMels), symmetric positive definite unless a filter is empty;
        // a ridge of 1e-9 of its mean diagonal keeps it invertible then.
        var g = [Double](repeating: 0, count: nMels * nMels)
        for i in 0..<nMels {
            for j in i..<nMels {
                var sum = 0.0
                for k in 0..<bins { sum += f[i * bins + k] * f[j * bins + k] }
                g[i * nMels + j] = sum
                g[j * nMels + i] = sum
            }
        }
        let ridge = 1e-9 * (0..<nMels).reduce(0) { $0 + g[$1 * nMels + $1] } / Double(nMels)
        for i in 0..<nMels { g[i * nMels + i] += ridge }
        lipschitz = Float(Self.largestEigenvalue(g, size: nMels))

        // G^-1: solve G Y = I by Cholesky.
        var identity = [Double](repeating: 0, count: nMels * nMels)
        for i in 0..<nMels { identity[i * nMels + i] = 1 }
        gramInverse = Self.choleskySolve(g, size: nMels, rightHandSides: identity, columns: nMels).map(Float.init)
    }

    /// X `[bins, frames]` >= 0 with F X close to `mel` (`[nMels, frames]`, non-negative).
    public func invert(_ mel: Spectrogram) throws -> Spectrogram {
        let (nMels, bins, frames) = (filterbank.nMels, filterbank.bins, mel.frames)
        guard mel.bins == nMels else {
            throw SpectralError.invalidParameter(name: "mel bands", value: "\(mel.bins)",
                                                 accepted: "the filter bank's \(nMels) bands")
        }
        if let bad = mel.values.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
            throw SpectralError.invalidParameter(
                name: "mel", value: "\(mel.values[bad]) at band \(bad / max(1, frames)), frame \(bad % max(1, frames))",
                accepted: "finite values >= 0 (power or magnitude, not dB)")
        }
        guard frames > 0 else { return Spectrogram(bins: bins, frames: 0) }

        // 1. Start: max(0, F+ M) = max(0, F^T (G^-1 M)). (No BLAS: these products are small,
        // and callers run many clips at once on their own threads.)
        var solved = [Float](repeating: 0, count: nMels * frames)
        mf_matrix_rows(gramInverse, Int32(nMels), Int32(nMels), mel.values, frames, &solved)
        var x = [Float](repeating: 0, count: bins * frames)
        multiplyTransposed(solved, into: &x, frames: frames)
        for i in x.indices where !(x[i] > 0) { x[i] = 0 }
        guard iterations > 0 else { return Spectrogram(bins: bins, frames: frames, values: x) }

        // 2. FISTA: y is the extrapolated point, x the projected iterate.
        var y = x, previous = x
        var residual = [Float](repeating: 0, count: nMels * frames)
        var gradient = [Float](repeating: 0, count: bins * frames)
        let step = 1 / lipschitz
        var t: Float = 1
        for _ in 0..<iterations {
            // residual = F y - M;  gradient = F^T residual
            multiply(y, into: &residual, frames: frames)
            for i in residual.indices { residual[i] -= mel.values[i] }
            multiplyTransposed(residual, into: &gradient, frames: frames)
            // x = max(0, y - step * gradient)
            for i in x.indices { x[i] = max(0, y[i] - step * gradient[i]) }
            // y = x + (t - 1) / t' (x - previous)
            let next = (1 + (1 + 4 * t * t).squareRoot()) / 2
            let beta = (t - 1) / next
            for i in x.indices { y[i] = x[i] + beta * (x[i] - previous[i]) }
            swap(&previous, &x)
            t = next
        }
        return Spectrogram(bins: bins, frames: frames, values: previous)
    }

    /// ||F X - M||_F for a candidate X: how well it explains the mel spectrogram.
    public func residual(_ linear: Spectrogram, _ mel: Spectrogram) -> Float {
        var product = [Float](repeating: 0, count: mel.values.count)
        multiply(linear.values, into: &product, frames: linear.frames)
        return zip(product, mel.values).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    }

    private func multiply(_ x: [Float], into out: inout [Float], frames: Int) {
        let bank = filterbank
        mf_filterbank_apply(bank.packedWeights, bank.bandStart, bank.bandLength, bank.bandOffset, Int32(bank.nMels),
                            x, frames, &out)
    }

    private func multiplyTransposed(_ r: [Float], into out: inout [Float], frames: Int) {
        let bank = filterbank
        for i in out.indices { out[i] = 0 }
        mf_filterbank_transpose_add(bank.packedWeights, bank.bandStart, bank.bandLength, bank.bandOffset,
                                    Int32(bank.nMels), r, frames, &out)
    }

    // MARK: Small dense linear algebra, in Double, done once per filter bank

    /// Power iteration on a symmetric positive semi-definite matrix.
    static func largestEigenvalue(_ a: [Double], size n: Int) -> Double {
        var v = [Double](repeating: 1 / Double(n).squareRoot(), count: n)
        var eigenvalue = 0.0
        for _ in 0..<200 {
            var w = [Double](repeating: 0, count: n)
            for i in 0..<n { for j in 0..<n { w[i] += a[i * n + j] * v[j] } }
            let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { return 0 }
            eigenvalue = norm
            v = w.map { $0 / norm }
        }
        return eigenvalue * (1 + 1e-6)  // a hair above: the step must not exceed 1 / L
    }

    /// Solves A Y = B for symmetric positive definite A (n x n) and B (n x columns).
    static func choleskySolve(_ a: [Double], size n: Int, rightHandSides b: [Double], columns: Int) -> [Double] {
        // A = L L^T
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = a[i * n + j]
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = i == j ? sum.squareRoot() : sum / l[j * n + j]
            }
        }
        var y = b
        for c in 0..<columns {
            // L z = b, then L^T y = z
            for i in 0..<n {
                var sum = y[i * columns + c]
                for k in 0..<i { sum -= l[i * n + k] * y[k * columns + c] }
                y[i * columns + c] = sum / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var sum = y[i * columns + c]
                for k in (i + 1)..<n { sum -= l[k * n + i] * y[k * columns + c] }
                y[i * columns + c] = sum / l[i * n + i]
            }
        }
        return y
    }
}

import Tensors

/// Spectral normalisation of a layer's weight (Miyato et al. 2018), for GAN discriminators:
/// the layer computes with W / sigma(W), sigma the largest singular value of W seen as a
/// matrix `[out, rest]`, estimated by power iteration with a vector u kept between steps (one
/// iteration per training forward, as PyTorch's `spectral_norm`).
///
/// The trained tensor is `original` (PyTorch's "weight_orig"); before each forward `apply`
/// writes W / sigma into the layer's own weight, and after the layer's backward `backward`
/// turns the gradient the layer accumulated for W / sigma into the gradient of W:
///
///     dL/dW = (G - <G, W_sn> u v^T) / sigma,   G = dL/d(W_sn),  W_sn = W / sigma
///
/// (u and v treated as constants, as in the paper and PyTorch).
public final class SpectralNorm {
    public let original: Parameter
    public let u: Parameter
    /// The layer's weight, which holds W / sigma.
    public let target: Parameter
    let rows: Int
    let columns: Int
    /// v of the last power iteration (inference reuses it).
    var v: [Float]

    /// What one forward computed with: the backward of that forward needs these, not those of
    /// a later forward (a GAN discriminator runs on real and fake batches before either
    /// backward, and each training forward moves the power iteration on).
    public struct State {
        let sigma: Float
        let u: [Float]
        let v: [Float]
        /// W / sigma, the layer's weight during that forward.
        let weight: Tensor
    }

    /// Normalises `weight` (a layer's weight parameter) from now on.
    public init(_ weight: Parameter, random: inout RandomNumbers) {
        target = weight
        rows = weight.value.shape[0]
        columns = weight.value.count / rows
        original = Parameter("weight_orig", weight.value)
        var start = random.normal([rows])
        let norm = start.squaredNorm.squareRoot()
        for i in start.values.indices { start.values[i] /= Float(max(norm, 1e-12)) }
        u = Parameter("weight_u", start)
        v = [Float](repeating: 0, count: columns)
    }

    /// One power iteration (in training), then the layer's weight := original / sigma.
    /// Returns what the matching `backward` needs.
    @discardableResult
    public func apply(training: Bool) -> State {
        let w = original.value.values
        if training {
            // v = normalise(W^T u); u = normalise(W v)
            var newV = [Float](repeating: 0, count: columns)
            for r in 0..<rows { for c in 0..<columns { newV[c] += w[r * columns + c] * u.value.values[r] } }
            normalize(&newV)
            var newU = [Float](repeating: 0, count: rows)
            for r in 0..<rows { for c in 0..<columns { newU[r] += w[r * columns + c] * newV[c] } }
            normalize(&newU)
            v = newV
            u.value.values = newU
        } else if v.allSatisfy({ $0 == 0 }) {
            for r in 0..<rows { for c in 0..<columns { v[c] += w[r * columns + c] * u.value.values[r] } }
            normalize(&v)
        }
        // sigma = u^T W v
        var s: Float = 0
        for r in 0..<rows {
            var row: Float = 0
            for c in 0..<columns { row += w[r * columns + c] * v[c] }
            s += u.value.values[r] * row
        }
        let sigma = max(s, 1e-12)
        target.value = Tensor(shape: original.value.shape, values: w.map { $0 / sigma })
        return State(sigma: sigma, u: u.value.values, v: v, weight: target.value)
    }

    /// Puts back the layer's weight of the forward that made `state`, so that the layer's
    /// backward of that forward multiplies by the weight it ran with.
    public func restore(_ state: State) {
        target.value = state.weight
    }

    /// Moves the gradient the layer accumulated for W / sigma (in the forward that made
    /// `state`) onto `original`, and clears it.
    public func backward(_ state: State) {
        let g = target.gradient.values, wsn = state.weight.values
        var inner: Float = 0
        for i in g.indices { inner += g[i] * wsn[i] }
        for r in 0..<rows {
            for c in 0..<columns {
                let i = r * columns + c
                original.gradient.values[i] += (g[i] - inner * state.u[r] * state.v[c]) / state.sigma
            }
        }
        target.gradient.zero()
    }

    private func normalize(_ x: inout [Float]) {
        let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for i in x.indices { x[i] /= max(norm, 1e-12) }
    }
}

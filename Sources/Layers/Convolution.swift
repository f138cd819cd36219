import WorkerPool
import BLAS
import Tensors

// Dimension letters: N batch, C input channels, O output channels, H W input height and
// width, P Q output height and width, K kernel size (K x K), S stride.

/// The geometry of a 2-D convolution from a `[C, H, W]` image to `[., P, Q]`:
/// P = (H + 2 padding - K) / S + 1. It is also the geometry a transposed convolution runs
/// backwards (from its output, the "image", to its input, the "grid").
struct ConvGeometry: Hashable {
    var channels: Int
    var height: Int
    var width: Int
    var kernel: Int
    var stride: Int
    var padding: Int

    var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    var patchSize: Int { channels * kernel * kernel }
}

/// The output columns q whose input column q S - pad + j falls inside [0, width): the
/// range the inner loops run without a bounds test (the rest are padding).
@inline(__always)
func validColumns(_ g: ConvGeometry, kernelColumn j: Int, outputs q: Int) -> Range<Int> {
    // q S - pad + j >= 0  <=>  q >= ceil((pad - j) / S);  q S - pad + j < width  <=>  q <= (width - 1 + pad - j) / S
    let low = max(0, (g.padding - j + g.stride - 1) / g.stride)
    let highInclusive = g.width - 1 + g.padding - j
    let high = highInclusive < 0 ? 0 : min(q, highInclusive / g.stride + 1)
    return low..<max(low, high)
}

/// im2col for a batch: `cols[(c K + i) K + j, (n P + p) Q + q] = x[n, c, p S - pad + i, q S - pad + j]`
/// (0 outside the image); x `[N, C, H, W]`, cols `[C K K, N P Q]`, so that the whole batch's
/// convolution is one matrix product. Every entry of cols is written.
func im2col(_ x: UnsafePointer<Float>, batch: Int, _ g: ConvGeometry, into cols: UnsafeMutablePointer<Float>) {
    let (p, q) = (g.outHeight, g.outWidth)
    let columns = batch * p * q
    for c in 0..<g.channels {
        for i in 0..<g.kernel {
            for j in 0..<g.kernel {
                let row = cols + ((c * g.kernel + i) * g.kernel + j) * columns
                let valid = validColumns(g, kernelColumn: j, outputs: q)
                for n in 0..<batch {
                    let image = x + (n * g.channels + c) * g.height * g.width
                    for oh in 0..<p {
                        let h = oh * g.stride - g.padding + i
                        let out = row + (n * p + oh) * q
                        guard h >= 0 && h < g.height else {
                            out.update(repeating: 0, count: q)
                            continue
                        }
                        let line = image + h * g.width - g.padding + j
                        for ow in 0..<valid.lowerBound { out[ow] = 0 }
                        if g.stride == 1 {
                            (out + valid.lowerBound).update(from: line + valid.lowerBound, count: valid.count)
                        } else {
                            for ow in valid { out[ow] = line[ow * g.stride] }
                        }
                        for ow in valid.upperBound..<q { out[ow] = 0 }
                    }
                }
            }
        }
    }
}

/// col2im, the adjoint of `im2col`: adds every column entry back onto the image position it
/// came from (`x += ...`; positions covered by several patches sum their entries).
func col2im(_ cols: UnsafePointer<Float>, batch: Int, _ g: ConvGeometry, into x: UnsafeMutablePointer<Float>) {
    let (p, q) = (g.outHeight, g.outWidth)
    let columns = batch * p * q
    for c in 0..<g.channels {
        for i in 0..<g.kernel {
            for j in 0..<g.kernel {
                let row = cols + ((c * g.kernel + i) * g.kernel + j) * columns
                let valid = validColumns(g, kernelColumn: j, outputs: q)
                for n in 0..<batch {
                    let image = x + (n * g.channels + c) * g.height * g.width
                    for oh in 0..<p {
                        let h = oh * g.stride - g.padding + i
                        guard h >= 0 && h < g.height else { continue }
                        let line = image + h * g.width - g.padding + j
                        let source = row + (n * p + oh) * q
                        if g.stride == 1 {
                            for ow in valid { line[ow] += source[ow] }
                        } else {
                            for ow in valid { line[ow * g.stride] += source[ow] }
                        }
                    }
                }
            }
        }
    }
}

/// `[N, O, L]` <-> `[O, N, L]`: the batch and channel axes swapped (images as rows of the
/// matrices the products use).
func swapLeadingAxes(_ x: UnsafePointer<Float>, _ a: Int, _ b: Int, _ inner: Int, into y: UnsafeMutablePointer<Float>) {
    for i in 0..<a {
        for j in 0..<b {
            (y + (j * a + i) * inner).update(from: x + (i * b + j) * inner, count: inner)
        }
    }
}

/// 2-D convolution (cross-correlation, as PyTorch's Conv2d): x `[N, C, H, W]`, weight
/// `[O, C, K, K]`, bias `[O]`, y `[N, O, P, Q]`. The batch runs as one sgemm over im2col's
/// columns.
public final class Conv2D: WeightAndBias {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int
    public let padding: Int

    /// Weights uniform in +-1/sqrt(C K K) (PyTorch's default), bias likewise.
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool = true, random: inout RandomNumbers) {
        (weight, self.bias) = uniformParameters(weightShape: [outputChannels, inputChannels, kernelSize, kernelSize],
                                                fanIn: inputChannels * kernelSize * kernelSize,
                                                biasCount: bias ? outputChannels : nil, random: &random)
        self.stride = stride
        self.padding = padding
    }

    var outputChannels: Int { weight.value.shape[0] }
    var inputChannels: Int { weight.value.shape[1] }
    var kernelSize: Int { weight.value.shape[2] }

    /// What backward needs: the input's shape, its im2col columns (when im2col made the output),
    /// the input and oneDNN's primitives (when oneDNN has them: each backward pass runs on
    /// oneDNN unless its implementation there is a reference one), and with an activation the
    /// output.
    public struct Cache: @unchecked Sendable {
        let inputShape: [Int]
        let columns: [Float]
        var input: Tensor? = nil
        var primitives: OneDNNLayer? = nil
        var activation: FusedActivation? = nil
        var output: Tensor? = nil
    }

    /// oneDNN's primitives for this input, when the engine is oneDNN and it has them.
    func oneDNN(_ shape: [Int], activation: FusedActivation?) -> OneDNNLayer? {
        guard case .oneDNN(let precision) = ConvolutionEngine.current else { return nil }
        return OneDNN.layer(oneDNNKey(shape, activation: activation, precision: precision))
    }

    /// The layer on an input of `shape` as oneDNN's primitives are made for it.
    func oneDNNKey(_ shape: [Int], activation: FusedActivation?, precision: Precision) -> OneDNNLayerKey {
        OneDNNLayerKey(batch: shape[0], geometry: geometry(shape), outputs: outputChannels, transposed: false,
                       bias: bias != nil, activation: activation, precision: precision)
    }

    func geometry(_ shape: [Int]) -> ConvGeometry {
        precondition(shape.count == 4 && shape[1] == inputChannels, "Conv2D: input \(shape), expected [N, \(inputChannels), H, W]")
        return ConvGeometry(channels: inputChannels, height: shape[2], width: shape[3], kernel: kernelSize,
                            stride: stride, padding: padding)
    }

    /// "Conv2D 1->32 5x5/2 on 64x1x64x64": the layer on an input of `shape`, as
    /// `ConvolutionRoads` names it.
    func label(_ shape: [Int]) -> String {
        "Conv2D \(inputChannels)->\(outputChannels) \(kernelSize)x\(kernelSize)/\(stride) on " + shape.map(String.init).joined(separator: "x")
    }

    /// y = activation(conv(x) + bias), the activation (if any) applied in the same pass. On
    /// oneDNN when the engine is oneDNN and its forward for this shape is not a reference one;
    /// otherwise the batch is cut into one share per worker (`Workers`); each runs im2col and
    /// one single-threaded sgemm on its share. The columns are kept share by share: share s's
    /// block `[C K K, b P Q]` starts at `C K K * first sample * P Q`.
    public func forward(_ x: Tensor, activation: FusedActivation? = nil) -> (output: Tensor, cache: Cache) {
        let g = geometry(x.shape)
        let n = x.shape[0], (p, q) = (g.outHeight, g.outWidth), o = outputChannels
        let primitives = oneDNN(x.shape, activation: activation)
        recordRoad(primitives, label(x.shape), .forward)
        if let primitives, primitives.runs(.forward) {
            let y = Tensor(shape: [n, o, p, q],
                           values: primitives.forward(x.values, weights: weight, bias: bias?.value.values))
            return (y, Cache(inputShape: x.shape, columns: [], input: x, primitives: primitives, activation: activation,
                             output: activation == nil ? nil : y))
        }
        let (pq, image) = (p * q, g.channels * g.height * g.width)
        var cols = uninitializedFloats(g.patchSize * n * pq)  // im2col writes every entry
        var y = Tensor(shape: [n, o, p, q], values: uninitializedFloats(n * o * pq))
        let weights = weight.value.values
        x.values.withUnsafeBufferPointer { xb in
            cols.withUnsafeMutableBufferPointer { cb in
                y.values.withUnsafeMutableBufferPointer { yb in
                    let (xs, cs, ys) = (xb.baseAddress!, cb.baseAddress!, yb.baseAddress!)
                    Workers.runProducts(over: n) { _, share in
                        let block = cs + g.patchSize * share.lowerBound * pq
                        im2col(xs + share.lowerBound * image, batch: share.count, g, into: block)
                        // Y[O, b P Q] = W[O, C K K] cols[C K K, b P Q], then to [b, O, P, Q]
                        var product = uninitializedFloats(o * share.count * pq)  // beta 0: all written
                        BLAS.sgemm(m: o, n: share.count * pq, k: g.patchSize, a: weights, b: block, c: &product)
                        swapLeadingAxes(product, o, share.count, pq, into: ys + share.lowerBound * o * pq)
                    }
                }
            }
        }
        finishOutput(&y, bias: bias?.value.values, activation: activation)
        return (y, Cache(inputShape: x.shape, columns: cols, input: primitives == nil ? nil : x, primitives: primitives,
                         activation: activation, output: activation == nil ? nil : y))
    }

    /// From dL/dy, accumulates dW and db (unless `parameterGradients` is false); returns dx.
    /// Shares as in `forward`; their weight gradients are summed after.
    public func backward(_ dy: Tensor, cache: Cache, parameterGradients: Bool = true) -> Tensor {
        backward(dy, cache: cache, parameterGradients: parameterGradients, inputGradient: true)!
    }

    /// `backward`, without dx (nil) when `inputGradient` is false: a first layer's input
    /// needs none (its backward data is skipped: col2im here, and on oneDNN a 1-channel
    /// backward data is among the slowest primitives). Each pass runs on oneDNN when the
    /// forward's cache has its primitives and oneDNN runs that pass, else on im2col.
    public func backward(_ dOutput: Tensor, cache: Cache, parameterGradients: Bool, inputGradient: Bool) -> Tensor? {
        let primitives = cache.primitives
        let dataOnOneDNN = inputGradient && primitives?.runs(.backwardData) == true
        let weightsOnOneDNN = parameterGradients && primitives?.runs(.backwardWeights) == true
        // oneDNN makes the bias's gradient itself; im2col's is summed with the derivative.
        let (dy, biasSums) = gradientBeforeActivation(dOutput, activation: cache.activation, output: cache.output,
                                                      channelSums: bias != nil && parameterGradients && !weightsOnOneDNN)
        if inputGradient { recordRoad(primitives, label(cache.inputShape), .backwardData) }
        if parameterGradients { recordRoad(primitives, label(cache.inputShape), .backwardWeights) }
        var dx: Tensor? = nil
        if let primitives, dataOnOneDNN || weightsOnOneDNN, let x = cache.input {
            dx = primitives.backward(x.values, dy: dy.values, weights: weight, bias: bias, inputGradient: dataOnOneDNN,
                                     parameterGradients: weightsOnOneDNN)
                .map { Tensor(shape: x.shape, values: $0) }
        }
        let (im2colData, im2colWeights) = (inputGradient && !dataOnOneDNN, parameterGradients && !weightsOnOneDNN)
        guard im2colData || im2colWeights else { return dx }
        let dataByIm2col = im2colBackward(dy, cache: cache, parameterGradients: im2colWeights, inputGradient: im2colData)
        if im2colWeights, let bias, let biasSums { addInto(&bias.gradient.values, biasSums) }
        return im2colData ? dataByIm2col : dx
    }

    /// The im2col road's backward: dW added to the weights' gradient (when
    /// `parameterGradients`; from the forward's columns, or the input's made again share by
    /// share when oneDNN ran the forward), dx returned (when `inputGradient`).
    private func im2colBackward(_ dy: Tensor, cache: Cache, parameterGradients: Bool, inputGradient: Bool) -> Tensor? {
        let g = geometry(cache.inputShape)
        let n = cache.inputShape[0], (p, q) = (g.outHeight, g.outWidth), o = outputChannels
        let (pq, image) = (p * q, g.channels * g.height * g.width)
        var dx = Tensor.zeros(inputGradient ? cache.inputShape : [0])  // col2im accumulates
        var partials = [[Float]](repeating: [], count: Workers.shares(of: n))
        let weights = weight.value.values
        let input = cache.columns.isEmpty && parameterGradients ? cache.input!.values : []
        dy.values.withUnsafeBufferPointer { dyb in
            cache.columns.withUnsafeBufferPointer { cb in
                input.withUnsafeBufferPointer { xb in
                    dx.values.withUnsafeMutableBufferPointer { dxb in
                        partials.withUnsafeMutableBufferPointer { pb in
                            // No dx (and no buffer) without `inputGradient`; no columns without `parameterGradients`.
                            // (An empty array's buffer may still have an address.)
                            let (dys, cs, xs, dxs, ps) = (dyb.baseAddress!, cb.isEmpty ? nil : cb.baseAddress,
                                                          xb.baseAddress, dxb.baseAddress, pb.baseAddress!)
                            Workers.runProducts(over: n) { index, share in
                                let columns = share.count * pq
                                var dyMatrix = uninitializedFloats(o * columns)  // [O, b P Q], filled by the swap
                                swapLeadingAxes(dys + share.lowerBound * o * pq, share.count, o, pq, into: &dyMatrix)
                                if parameterGradients {
                                    // 1. dW_share[O, C K K] = dY[O, b P Q] cols^T
                                    var partial = uninitializedFloats(o * g.patchSize)  // beta 0: all written
                                    if let cs {
                                        BLAS.sgemm(transposeB: true, m: o, n: g.patchSize, k: columns, a: dyMatrix,
                                                   b: cs + g.patchSize * share.lowerBound * pq, c: &partial)
                                    } else {
                                        var block = uninitializedFloats(g.patchSize * columns)  // im2col writes every entry
                                        im2col(xs! + share.lowerBound * image, batch: share.count, g, into: &block)
                                        BLAS.sgemm(transposeB: true, m: o, n: g.patchSize, k: columns, a: dyMatrix, b: block,
                                                   c: &partial)
                                    }
                                    ps[index] = partial
                                }
                                // 2. dx = col2im(W^T[C K K, O] dY[O, b P Q])
                                guard inputGradient else { return }
                                var dcols = uninitializedFloats(g.patchSize * columns)  // beta 0: all written
                                BLAS.sgemm(transposeA: true, m: g.patchSize, n: columns, k: o, a: weights, b: dyMatrix,
                                           c: &dcols)
                                col2im(dcols, batch: share.count, g, into: dxs! + share.lowerBound * image)
                            }
                        }
                    }
                }
            }
        }
        if parameterGradients {
            for partial in partials { addInto(&weight.gradient.values, partial) }
        }
        return inputGradient ? dx : nil
    }
}

/// Transposed 2-D convolution (PyTorch's ConvTranspose2d): x `[N, C, H, W]`, weight
/// `[C, O, K, K]`, y `[N, O, P, Q]` with P = (H - 1) S - 2 padding + K + outputPadding. It is
/// the backward of a convolution from y to x: columns W^T x, then col2im onto y.
public final class ConvTranspose2D: WeightAndBias {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int
    public let padding: Int
    public let outputPadding: Int

    /// Weights uniform in +-1/sqrt(O K K) (PyTorch's default: fan-in of the weight's second axis).
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, bias: Bool = true, random: inout RandomNumbers) {
        precondition(outputPadding < max(stride, 1), "ConvTranspose2D: outputPadding must be below stride")
        (weight, self.bias) = uniformParameters(weightShape: [inputChannels, outputChannels, kernelSize, kernelSize],
                                                fanIn: outputChannels * kernelSize * kernelSize,
                                                biasCount: bias ? outputChannels : nil, random: &random)
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
    }

    var inputChannels: Int { weight.value.shape[0] }
    var outputChannels: Int { weight.value.shape[1] }
    var kernelSize: Int { weight.value.shape[2] }

    /// The input and, on oneDNN, the primitives for the backward; with an activation, the output.
    public struct Cache: @unchecked Sendable {
        let input: Tensor
        var primitives: OneDNNLayer? = nil
        var activation: FusedActivation? = nil
        var output: Tensor? = nil
    }

    /// oneDNN's primitives for this input (its deconvolution: the convolution this layer runs
    /// backwards), when the engine is oneDNN and it has them. They have no bias and no
    /// activation: oneDNN 2.6 adds a deconvolution's bias, applies its post-ops and sums its
    /// bias gradient in plain loops, 2-13x the time of the deconvolution itself (measured:
    /// 33 ms against 2.5 for the reference VAE's 64 -> 32 layer), so those run here.
    func oneDNN(_ inputShape: [Int]) -> OneDNNLayer? {
        guard case .oneDNN(let precision) = ConvolutionEngine.current else { return nil }
        return OneDNN.layer(OneDNNLayerKey(batch: inputShape[0], geometry: geometry(inputShape), outputs: inputChannels,
                                           transposed: true, bias: false, activation: nil, precision: precision))
    }

    /// The convolution this layer runs backwards: from the output `[O, P, Q]` to the input grid.
    func geometry(_ inputShape: [Int]) -> ConvGeometry {
        precondition(inputShape.count == 4 && inputShape[1] == inputChannels,
                     "ConvTranspose2D: input \(inputShape), expected [N, \(inputChannels), H, W]")
        let p = (inputShape[2] - 1) * stride - 2 * padding + kernelSize + outputPadding
        let q = (inputShape[3] - 1) * stride - 2 * padding + kernelSize + outputPadding
        let g = ConvGeometry(channels: outputChannels, height: p, width: q, kernel: kernelSize, stride: stride,
                             padding: padding)
        precondition(g.outHeight == inputShape[2] && g.outWidth == inputShape[3])
        return g
    }

    /// "ConvTranspose2D 256->128 5x5/2 on 64x256x4x4": the layer on an input of `shape`, as
    /// `ConvolutionRoads` names it.
    func label(_ shape: [Int]) -> String {
        "ConvTranspose2D \(inputChannels)->\(outputChannels) \(kernelSize)x\(kernelSize)/\(stride) on "
            + shape.map(String.init).joined(separator: "x")
    }

    /// y = activation(convT(x) + bias), the activation (if any) applied in the same pass.
    /// On oneDNN when the engine is oneDNN and its forward for this shape is not a reference
    /// one; otherwise shares of the batch run in parallel (`Workers`), each with its own columns.
    public func forward(_ x: Tensor, activation: FusedActivation? = nil) -> (output: Tensor, cache: Cache) {
        let g = geometry(x.shape)
        let n = x.shape[0], hw = x.shape[2] * x.shape[3], c = inputChannels
        let primitives = oneDNN(x.shape)
        // oneDNN's kernels work on 16 channels at a time: to one channel (an image generator's
        // last layer) im2col's forward is faster (1.2 against 3.2 ms for the reference
        // generator's; BENCHMARKS.md), and oneDNN's backward still is.
        recordRoad(primitives, label(x.shape), .forward, oneDNNAllowed: outputChannels > 1)
        if let primitives, primitives.runs(.forward), outputChannels > 1 {
            var y = Tensor(shape: [n, outputChannels, g.height, g.width],
                           values: primitives.forward(x.values, weights: weight, bias: nil))
            finishOutput(&y, bias: bias?.value.values, activation: activation)
            return (y, Cache(input: x, primitives: primitives, activation: activation, output: activation == nil ? nil : y))
        }
        let image = outputChannels * g.height * g.width
        var y = Tensor.zeros([n, outputChannels, g.height, g.width])  // col2im accumulates
        let weights = weight.value.values
        x.values.withUnsafeBufferPointer { xb in
            y.values.withUnsafeMutableBufferPointer { yb in
                let (xs, ys) = (xb.baseAddress!, yb.baseAddress!)
                Workers.runProducts(over: n) { _, share in
                    let columns = share.count * hw
                    var xMatrix = uninitializedFloats(c * columns)  // [C, b H W], filled by the swap
                    swapLeadingAxes(xs + share.lowerBound * c * hw, share.count, c, hw, into: &xMatrix)
                    // cols[O K K, b H W] = W^T[O K K, C] x[C, b H W]; y += col2im(cols)
                    var cols = uninitializedFloats(g.patchSize * columns)  // beta 0: all written
                    BLAS.sgemm(transposeA: true, m: g.patchSize, n: columns, k: c, a: weights, b: xMatrix, c: &cols)
                    col2im(cols, batch: share.count, g, into: ys + share.lowerBound * image)
                }
            }
        }
        finishOutput(&y, bias: bias?.value.values, activation: activation)
        return (y, Cache(input: x, primitives: primitives, activation: activation, output: activation == nil ? nil : y))
    }

    /// From dL/dy, accumulates dW and db; returns dx. Each of dx and dW runs on oneDNN when
    /// the forward's cache has its primitives and oneDNN runs that pass, else on im2col (shares
    /// as in `forward`, their weight gradients summed after).
    public func backward(_ dOutput: Tensor, cache: Cache) -> Tensor {
        let x = cache.input
        // db[O] += sum of dy over N, P, Q, in the activation's derivative pass (oneDNN's
        // deconvolution has no bias here).
        let (dy, biasSums) = gradientBeforeActivation(dOutput, activation: cache.activation, output: cache.output,
                                                      channelSums: bias != nil)
        if let bias, let biasSums { addInto(&bias.gradient.values, biasSums) }
        let primitives = cache.primitives
        let dataOnOneDNN = primitives?.runs(.backwardData) == true
        let weightsOnOneDNN = primitives?.runs(.backwardWeights) == true
        recordRoad(primitives, label(x.shape), .backwardData)
        recordRoad(primitives, label(x.shape), .backwardWeights)
        var dx: Tensor? = nil
        if let primitives, dataOnOneDNN || weightsOnOneDNN {
            dx = primitives.backward(x.values, dy: dy.values, weights: weight, bias: nil, inputGradient: dataOnOneDNN,
                                     parameterGradients: weightsOnOneDNN)
                .map { Tensor(shape: x.shape, values: $0) }
        }
        if dataOnOneDNN && weightsOnOneDNN { return dx! }
        let byIm2col = im2colBackward(x, dy: dy, parameterGradients: !weightsOnOneDNN, inputGradient: !dataOnOneDNN)
        return dataOnOneDNN ? dx! : byIm2col!
    }

    /// The im2col road's backward: dW added to the weights' gradient (when
    /// `parameterGradients`), dx returned (when `inputGradient`).
    private func im2colBackward(_ x: Tensor, dy: Tensor, parameterGradients: Bool, inputGradient: Bool) -> Tensor? {
        let g = geometry(x.shape)
        let n = x.shape[0], hw = x.shape[2] * x.shape[3], c = inputChannels
        let image = outputChannels * g.height * g.width
        var dx = Tensor(shape: inputGradient ? x.shape : [0], values: uninitializedFloats(inputGradient ? x.count : 0))
        var partials = [[Float]](repeating: [], count: Workers.shares(of: n))
        let weights = weight.value.values
        x.values.withUnsafeBufferPointer { xb in
            dy.values.withUnsafeBufferPointer { dyb in
                dx.values.withUnsafeMutableBufferPointer { dxb in
                    partials.withUnsafeMutableBufferPointer { pb in
                        // Every share writes its part of dx (none without `inputGradient`).
                        let (xs, dys, dxs, ps) = (xb.baseAddress!, dyb.baseAddress!, dxb.baseAddress, pb.baseAddress!)
                        Workers.runProducts(over: n) { index, share in
                            let columns = share.count * hw
                            // 1. dcols[O K K, b H W] = im2col(dy)
                            var dcols = uninitializedFloats(g.patchSize * columns)  // im2col writes every entry
                            im2col(dys + share.lowerBound * image, batch: share.count, g, into: &dcols)
                            if parameterGradients {
                                // 2. dW_share[C, O K K] = x[C, b H W] dcols^T
                                var xMatrix = uninitializedFloats(c * columns)  // filled by the swap
                                swapLeadingAxes(xs + share.lowerBound * c * hw, share.count, c, hw, into: &xMatrix)
                                var partial = uninitializedFloats(c * g.patchSize)  // beta 0: all written
                                BLAS.sgemm(transposeB: true, m: c, n: g.patchSize, k: columns, a: xMatrix, b: dcols,
                                           c: &partial)
                                ps[index] = partial
                            }
                            // 3. dx[C, b H W] = W[C, O K K] dcols, back to [b, C, H, W]
                            guard inputGradient else { return }
                            var dxMatrix = uninitializedFloats(c * columns)  // beta 0: all written
                            BLAS.sgemm(m: c, n: columns, k: g.patchSize, a: weights, b: dcols, c: &dxMatrix)
                            swapLeadingAxes(dxMatrix, c, share.count, hw, into: dxs! + share.lowerBound * c * hw)
                        }
                    }
                }
            }
        }
        if parameterGradients {
            for partial in partials { addInto(&weight.gradient.values, partial) }
        }
        return inputGradient ? dx : nil
    }
}

/// dL/d(pre-activation) from dL/dy of a layer whose forward applied `activation` (if any) to
/// make `output`, and, when `channelSums`, its sum over each channel (a bias's gradient) made
/// in the same pass.
func gradientBeforeActivation(_ dOutput: Tensor, activation: FusedActivation?, output: Tensor?, channelSums: Bool)
    -> (gradient: Tensor, sums: [Float]?) {
    switch (activation, channelSums) {
    case (nil, false): return (dOutput, nil)
    case (nil, true):
        var sums = [Float](repeating: 0, count: dOutput.shape[1])
        accumulateChannelSums(dOutput, into: &sums)
        return (dOutput, sums)
    case (let activation?, false): return (activation.backward(dOutput, output: output!), nil)
    case (let activation?, true): return activation.backwardWithChannelSums(dOutput, output: output!)
    }
}

/// a += b, elementwise.
func addInto(_ a: inout [Float], _ b: [Float]) {
    precondition(a.count == b.count)
    for i in a.indices { a[i] += b[i] }
}

/// An array the caller fills completely before reading: no zero-filling.
func uninitializedFloats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}

import Layers
import Tensors

// Dimension letters: N batch, T steps, I input channels, D the model's width, H the blocks'
// hidden width, O output channels.

/// A ConvNeXt over sequences (Liu et al. 2022, in its 1-D form from Vocos, Siuzdak 2023):
/// `[N, T, I]` -> `[N, T, O]`, every step's output from its neighbourhood of steps.
///
///     embed:  Conv1D(I -> D, kernel K), LayerNorm
///     block:  h + scale * Dense(H -> D)(GELU(Dense(D -> H)(LayerNorm(DepthwiseConv1D(h, kernel K)))))
///     head:   LayerNorm, Dense(D -> O)
///
/// `scale` (per channel, "layer scale") starts at 1 / blocks, so that the stack starts close
/// to its embedding. Nothing here knows what the sequences are; the learned vocoder reads
/// frames of log-mel features and writes each frame's spectrum.
public final class ConvNeXt1D: Module {
    public struct Shape: Codable, Equatable, Sendable {
        public var inputs: Int
        public var width: Int
        public var hiddenWidth: Int
        public var blocks: Int
        public var outputs: Int
        public var kernelSize = 7

        public init(inputs: Int, width: Int, hiddenWidth: Int, blocks: Int, outputs: Int) {
            (self.inputs, self.width, self.hiddenWidth, self.blocks, self.outputs) = (inputs, width, hiddenWidth, blocks, outputs)
        }
    }

    final class Block: Module {
        let mixer: DepthwiseConv1D
        let norm: LayerNorm
        let expand: Dense
        let contract: Dense
        let scale: Parameter

        init(width: Int, hiddenWidth: Int, kernelSize: Int, scale: Float, random: inout RandomNumbers) {
            mixer = DepthwiseConv1D(channels: width, kernelSize: kernelSize, random: &random)
            norm = LayerNorm(channels: width)
            expand = Dense(inputs: width, outputs: hiddenWidth, random: &random)
            contract = Dense(inputs: hiddenWidth, outputs: width, random: &random)
            self.scale = Parameter("gamma", Tensor(shape: [width], repeating: scale))
        }

        var namedParameters: [(name: String, parameter: Parameter)] {
            prefixed("dwconv", mixer.namedParameters) + prefixed("norm", norm.namedParameters)
                + prefixed("pwconv1", expand.namedParameters) + prefixed("pwconv2", contract.namedParameters) + [("gamma", scale)]
        }

        struct Cache {
            let mixer: Tensor, norm: LayerNorm.Cache, expand: Tensor, activation: Tensor, contract: Tensor
            /// The contracted output before the scale, for dscale.
            let branch: Tensor
        }

        func forward(_ h: Tensor) -> (output: Tensor, cache: Cache) {
            let (n, t, d) = (h.shape[0], h.shape[1], h.shape[2])
            let (mixed, mixerCache) = mixer.forward(h)
            let (normalized, normCache) = norm.forward(mixed)
            let (expanded, expandCache) = expand.forward(normalized.reshaped([n * t, d]))
            let (activated, activationCache) = Activation.gelu(expanded)
            let (branch, contractCache) = contract.forward(activated)
            var output = h
            let gamma = scale.value.values
            for row in 0..<(n * t) { for c in 0..<d { output.values[row * d + c] += gamma[c] * branch.values[row * d + c] } }
            return (output, Cache(mixer: mixerCache, norm: normCache, expand: expandCache, activation: activationCache,
                                  contract: contractCache, branch: branch))
        }

        func backward(_ dy: Tensor, cache: Cache) -> Tensor {
            let (n, t, d) = (dy.shape[0], dy.shape[1], dy.shape[2])
            let gamma = scale.value.values
            // 1. dscale[c] += sum dy * branch;  dbranch = dy * scale
            var dBranch = Tensor.zeros([n * t, d])
            for row in 0..<(n * t) {
                for c in 0..<d {
                    scale.gradient.values[c] += dy.values[row * d + c] * cache.branch.values[row * d + c]
                    dBranch.values[row * d + c] = dy.values[row * d + c] * gamma[c]
                }
            }
            // 2. Back through the branch: Dense, GELU, Dense, LayerNorm, depthwise conv.
            let dActivated = contract.backward(dBranch, cache: cache.contract)
            let dExpanded = Activation.geluBackward(dActivated, cache: cache.activation)
            let dNormalized = expand.backward(dExpanded, cache: cache.expand).reshaped([n, t, d])
            let dMixed = norm.backward(dNormalized, cache: cache.norm)
            var dh = mixer.backward(dMixed, cache: cache.mixer)
            // 3. The residual path.
            dh.add(dy)
            return dh
        }
    }

    public let shape: Shape
    let embed: Conv1D
    let embedNorm: LayerNorm
    let blocks: [Block]
    let finalNorm: LayerNorm
    let head: Dense

    public init(_ shape: Shape, random: inout RandomNumbers) {
        self.shape = shape
        embed = Conv1D(inputChannels: shape.inputs, outputChannels: shape.width, kernelSize: shape.kernelSize, random: &random)
        embedNorm = LayerNorm(channels: shape.width)
        blocks = (0..<shape.blocks).map { _ in
            Block(width: shape.width, hiddenWidth: shape.hiddenWidth, kernelSize: shape.kernelSize,
                  scale: 1 / Float(max(1, shape.blocks)), random: &random)
        }
        finalNorm = LayerNorm(channels: shape.width)
        head = Dense(inputs: shape.width, outputs: shape.outputs, random: &random)
    }

    /// The output layer, for a model that wants to start it somewhere particular (zero weights
    /// for an output that should begin as a correction of nothing).
    public var headWeight: Parameter { head.weight }
    public var headBias: Parameter? { head.bias }

    /// "embed.weight", "norm.weight", "blocks.0.dwconv.weight", ..., "final_norm.weight", "head.weight" (Vocos's names).
    public var namedParameters: [(name: String, parameter: Parameter)] {
        prefixed("embed", embed.namedParameters) + prefixed("norm", embedNorm.namedParameters)
            + blocks.indices.flatMap { prefixed("blocks.\($0)", blocks[$0].namedParameters) }
            + prefixed("final_norm", finalNorm.namedParameters) + prefixed("head", head.namedParameters)
    }

    public struct Cache {
        let embed: Conv1D.Cache
        let embedNorm: LayerNorm.Cache
        let blocks: [Block.Cache]
        let finalNorm: LayerNorm.Cache
        let head: Tensor
    }

    /// x `[N, T, I]` -> y `[N, T, O]`.
    public func forward(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        precondition(x.rank == 3 && x.shape[2] == shape.inputs, "ConvNeXt1D: input \(x.shape), expected [N, T, \(shape.inputs)]")
        let (n, t) = (x.shape[0], x.shape[1])
        let (embedded, embedCache) = embed.forward(x)
        var (h, embedNormCache) = embedNorm.forward(embedded)
        var blockCaches: [Block.Cache] = []
        for block in blocks {
            let (next, cache) = block.forward(h)
            blockCaches.append(cache)
            h = next
        }
        let (normalized, finalCache) = finalNorm.forward(h)
        let (y, headCache) = head.forward(normalized.reshaped([n * t, shape.width]))
        return (y.reshaped([n, t, shape.outputs]),
                Cache(embed: embedCache, embedNorm: embedNormCache, blocks: blockCaches, finalNorm: finalCache, head: headCache))
    }

    /// Accumulates every parameter's gradient from dy `[N, T, O]`; returns dx `[N, T, I]`.
    @discardableResult
    public func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        let (n, t) = (dy.shape[0], dy.shape[1])
        let dNormalized = head.backward(dy.reshaped([n * t, shape.outputs]), cache: cache.head)
        var dh = finalNorm.backward(dNormalized.reshaped([n, t, shape.width]), cache: cache.finalNorm)
        for (block, blockCache) in zip(blocks, cache.blocks).reversed() { dh = block.backward(dh, cache: blockCache) }
        let dEmbedded = embedNorm.backward(dh, cache: cache.embedNorm)
        return embed.backward(dEmbedded, cache: cache.embed)
    }
}

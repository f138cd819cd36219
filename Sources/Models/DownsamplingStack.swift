import Layers
import Tensors

/// Strided convolutions, each followed by LeakyReLU 0.2, each halving the image: the DCGAN
/// discriminator's body and the VAE's encoder. `[N, C, S, S]` -> `[N, widths.last, S / 2^k, S / 2^k]`.
final class DownsamplingStack: Module {
    let convolutions: [Conv2D]

    init(channels: Int, widths: [Int], kernelSize: Int, random: inout RandomNumbers) {
        let inputs = [channels] + widths.dropLast()
        convolutions = zip(inputs, widths).map {
            Conv2D(inputChannels: $0, outputChannels: $1, kernelSize: kernelSize, stride: 2, padding: kernelSize / 2,
                   random: &random)
        }
    }

    /// "conv1.weight", "conv1.bias", ...
    var namedParameters: [(name: String, parameter: Parameter)] {
        convolutions.indices.flatMap { prefixed("conv\($0 + 1)", convolutions[$0].namedParameters) }
    }

    /// The convolutions with their LeakyReLU, run as one stack (on oneDNN, in its layout).
    var stack: ConvolutionStack { ConvolutionStack(convolutions, activation: .leakyReLU(slope: 0.2)) }

    typealias Cache = ConvolutionStack.Cache

    func forward(_ image: Tensor) -> (output: Tensor, cache: Cache) { stack.forward(image) }

    /// Returns dL/d(image) (nil without `inputGradient`: the first convolution's backward data
    /// is then skipped); accumulates the weights' gradients unless `parameterGradients` is false.
    func backward(_ dOutput: Tensor, cache: Cache, parameterGradients: Bool = true, inputGradient: Bool = true) -> Tensor? {
        stack.backward(dOutput, cache: cache, parameterGradients: parameterGradients, inputGradient: inputGradient)
    }

    /// Forward multiply-adds x 2 for one `imageSize` image.
    func forwardFLOPsPerSample(imageSize: Int) -> Int {
        var (macs, size) = (0, imageSize)
        for conv in convolutions {
            size /= 2
            macs += size * size * conv.weight.value.count
        }
        return 2 * macs
    }
}

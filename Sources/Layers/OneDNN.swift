import CDNNLBridge
import Foundation
import Synchronization
import Tensors
import WorkerPool

/// The arithmetic of a convolution: float32, or bfloat16 products accumulated in float32
/// (inputs rounded to bfloat16; weights, gradients and everything else stay float32).
public enum Precision: String, CaseIterable, Codable, Sendable {
    case fp32, bf16
}

/// What the convolution layers (`Conv2D`, `ConvTranspose2D`) compute with: im2col and
/// OpenBLAS's sgemm (float32), or oneDNN's direct convolutions in a `Precision`. A shape
/// oneDNN has no primitive for falls back to im2col.
public enum ConvolutionEngine: Equatable, Sendable, CustomStringConvertible {
    case im2col
    case oneDNN(Precision)

    /// The one engine of the process; set before training.
    nonisolated(unsafe) public static var current = ConvolutionEngine.im2col

    public var description: String {
        switch self {
        case .im2col: "im2col + OpenBLAS sgemm (fp32)"
        case .oneDNN(let precision): "oneDNN (\(precision.rawValue))"
        }
    }
}

/// oneDNN as the process sees it.
public enum OneDNN {
    /// "2.6.3".
    public static var version: String {
        var text = [CChar](repeating: 0, count: 64)
        mf_dnnl_version(&text, Int32(text.count))
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The instruction set oneDNN dispatches to (`dnnl_cpu_isa_t`), by name.
    public static var instructionSet: String {
        switch mf_dnnl_cpu_isa() {
        case 0x1: "sse41"
        case 0x3: "avx"
        case 0x7: "avx2"
        case 0x27: "avx512_core"
        case 0x67: "avx512_core_vnni"
        case 0xE7: "avx512_core_bf16"
        case 0x3E7: "avx512_core_amx"
        case let other: "isa 0x" + String(other, radix: 16)
        }
    }

    /// Whether this CPU runs bfloat16 products natively (AVX-512 BF16 or AMX).
    public static var hasBFloat16: Bool { [0xE7, 0x3E7].contains(mf_dnnl_cpu_isa()) }

    /// A convolution's primitives by shape and precision, made once (nil: oneDNN has none).
    static func convolution(_ key: ConvolutionKey) -> OneDNNConvolution? {
        primitives.withLock { cache in
            if let made = cache[key] { return made }  // made before (nil: oneDNN has none)
            if cache.isEmpty { mf_dnnl_set_threads(Int32(Workers.count)) }
            let made = OneDNNConvolution(key)
            cache[key] = made
            return made
        }
    }

    /// nil for a key: oneDNN has no primitive for it (asked once).
    private static let primitives = Mutex<[ConvolutionKey: OneDNNConvolution?]>([:])
}

/// A convolution from `[batch, channels, height, width]` with weights `[outputs, channels, K, K]`.
struct ConvolutionKey: Hashable {
    let batch: Int
    let geometry: ConvGeometry
    let outputs: Int
    let precision: Precision
}



/// oneDNN's forward, backward-data and backward-weights primitives of one convolution. Their
/// reorder buffers are shared, so calls take turns (a lock; layers call one at a time anyway).
final class OneDNNConvolution: @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = NSLock()
    let key: ConvolutionKey

    init?(_ key: ConvolutionKey) {
        let g = key.geometry
        // oneDNN wants the padding after the image that makes the sizes add up exactly.
        let bottom = (g.outHeight - 1) * g.stride + g.kernel - g.height - g.padding
        let right = (g.outWidth - 1) * g.stride + g.kernel - g.width - g.padding
        var error = [CChar](repeating: 0, count: 256)
        guard let handle = mf_dnnl_convolution_create(
            Int32(key.batch), Int32(g.channels), Int32(g.height), Int32(g.width), Int32(key.outputs), Int32(g.outHeight),
            Int32(g.outWidth), Int32(g.kernel), Int32(g.stride), Int32(g.padding), Int32(g.padding), Int32(bottom),
            Int32(right), key.precision == .bf16 ? 1 : 0, &error, Int32(error.count))
        else { return nil }
        self.handle = handle
        self.key = key
    }

    deinit { mf_dnnl_convolution_destroy(handle) }

    var implementation: String { String(cString: mf_dnnl_convolution_implementation(handle)) }

    var sourceCount: Int { key.batch * key.geometry.channels * key.geometry.height * key.geometry.width }
    var destinationCount: Int { key.batch * key.outputs * key.geometry.outHeight * key.geometry.outWidth }

    /// dst `[N, O, P, Q]` = conv(src `[N, C, H, W]`, weights `[O, C, K, K]`).
    func forward(_ source: [Float], weights: [Float]) -> [Float] {
        var destination = uninitializedFloats(destinationCount)
        let status = lock.withLock { mf_dnnl_convolution_forward(handle, source, weights, &destination) }
        precondition(status == 0, "oneDNN: a forward convolution failed")
        return destination
    }

    /// diff_src `[N, C, H, W]` of diff_dst `[N, O, P, Q]`.
    func backwardData(_ diffDestination: [Float], weights: [Float]) -> [Float] {
        var diffSource = uninitializedFloats(sourceCount)
        let status = lock.withLock { mf_dnnl_convolution_backward_data(handle, diffDestination, weights, &diffSource) }
        precondition(status == 0, "oneDNN: a backward-data convolution failed")
        return diffSource
    }

    /// diff_weights `[O, C, K, K]` of src and diff_dst.
    func backwardWeights(_ source: [Float], diffDestination: [Float]) -> [Float] {
        var diffWeights = uninitializedFloats(key.outputs * key.geometry.patchSize)
        let status = lock.withLock { mf_dnnl_convolution_backward_weights(handle, source, diffDestination, &diffWeights) }
        precondition(status == 0, "oneDNN: a backward-weights convolution failed")
        return diffWeights
    }
}

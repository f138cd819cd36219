import CSoxr

/// Mono sample-rate conversion with libsoxr at its "high quality" setting
/// (`SOXR_HQ`, 20-bit precision, the recipe librosa's default `res_type="soxr_hq"` uses).
///
/// Streaming: feed blocks with `process(_:)`, then call `finish()` once for the
/// tail the filter still holds. Converting a signal in blocks gives the same
/// samples as converting it whole.
public final class Resampler {
    public let inputRate: Int
    public let outputRate: Int
    private let handle: soxr_t
    private var output: [Float] = []

    public init(from inputRate: Int, to outputRate: Int) throws {
        for (name, rate) in [("input sample rate", inputRate), ("output sample rate", outputRate)]
        where !AudioFile.supportedSampleRates.contains(rate) {
            let range = AudioFile.supportedSampleRates
            throw AudioError.invalidArgument(name: name, value: "\(rate) Hz",
                                             accepted: "\(range.lowerBound)...\(range.upperBound) Hz")
        }
        self.inputRate = inputRate
        self.outputRate = outputRate
        var error: soxr_error_t? = nil
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        guard let handle = soxr_create(Double(inputRate), Double(outputRate), 1, &error, &io, &quality, nil),
              error == nil
        else {
            throw AudioError.resampleFailed(from: inputRate, to: outputRate,
                                            reason: error.map { String(cString: $0) } ?? "soxr_create failed")
        }
        self.handle = handle
    }

    deinit { soxr_delete(handle) }

    /// Converts the next block of input; returns what the filter could emit so far.
    public func process(_ input: [Float]) throws -> [Float] {
        var produced: [Float] = []
        var consumed = 0
        let ratio = Double(outputRate) / Double(inputRate)
        while consumed < input.count {
            let capacity = Int((Double(input.count - consumed) * ratio).rounded(.up)) + 64
            if output.count < capacity { output = [Float](repeating: 0, count: capacity) }
            var inputDone = 0, outputDone = 0
            let error = input.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { destination in
                    soxr_process(handle, source.baseAddress! + consumed, input.count - consumed, &inputDone,
                                 destination.baseAddress, capacity, &outputDone)
                }
            }
            try check(error)
            produced += output[0..<outputDone]
            consumed += inputDone
            if inputDone == 0 && outputDone == 0 { break }
        }
        return produced
    }

    /// Signals the end of input and returns the remaining output.
    public func finish() throws -> [Float] {
        var produced: [Float] = []
        let capacity = 4096
        if output.count < capacity { output = [Float](repeating: 0, count: capacity) }
        while true {
            var outputDone = 0
            let error = output.withUnsafeMutableBufferPointer { destination in
                soxr_process(handle, nil, 0, nil, destination.baseAddress, capacity, &outputDone)
            }
            try check(error)
            if outputDone == 0 { break }
            produced += output[0..<outputDone]
        }
        return produced
    }

    /// Converts a whole signal at once.
    public static func resample(_ samples: [Float], from inputRate: Int, to outputRate: Int) throws -> [Float] {
        if inputRate == outputRate { return samples }
        let resampler = try Resampler(from: inputRate, to: outputRate)
        return try resampler.process(samples) + resampler.finish()
    }

    /// The libsoxr version string, e.g. "libsoxr-0.1.3".
    public static var libraryVersion: String { String(cString: soxr_version()) }

    private func check(_ error: soxr_error_t?) throws {
        if let error {
            throw AudioError.resampleFailed(from: inputRate, to: outputRate, reason: String(cString: error))
        }
    }
}

extension MelFrontEnd {
    /// The same features as `features(_:)` for a signal read in blocks, so that an hour-long
    /// file never has to be held whole: memory is the audio of about `blockFrames` frames
    /// plus the features themselves (80 floats per frame at the defaults).
    ///
    /// `nextBlock` returns the signal's next samples, any number at a time, and an empty
    /// array at the end. A signal that fits in one block is computed by `features(_:)`
    /// itself; a longer one goes through in runs of `blockFrames` frames taken from the
    /// padded signal, which gives every frame exactly the samples, padding included, that
    /// the whole-signal computation gives it, so the results are identical.
    public func features(streaming nextBlock: () throws -> [Float], blockFrames: Int = 4_096) throws -> Spectrogram {
        precondition(blockFrames >= 1)
        let nFFT = configuration.nFFT, hop = configuration.hopLength
        let pad = configuration.center ? nFFT / 2 : 0
        let runSamples = (blockFrames - 1) * hop + nFFT  // padded samples one run of frames reads

        // A signal shorter than one run takes the whole-signal path.
        var signal: [Float] = []
        var ended = false
        while signal.count < runSamples + pad + 1 && !ended {
            let block = try nextBlock()
            if block.isEmpty { ended = true } else { signal += block }
        }
        if ended {
            while !ended {
                let block = try nextBlock()
                if block.isEmpty { ended = true } else { signal += block }
            }
            return try features(signal, threads: 1)
        }

        // Runs leave at least this many samples behind, so the end's reflection is at hand.
        let reflectReach = configuration.padMode == .reflect ? pad + 1 : 0
        var uncentered = configuration
        uncentered.center = false
        uncentered.topDB = nil
        let runner = try MelFrontEnd(uncentered)
        var buffer = padding(before: signal, count: pad) + signal  // the padded signal from `buffer`'s start
        signal = []
        var runs: [Spectrogram] = []
        while true {
            while buffer.count >= runSamples + reflectReach {
                runs.append(try runner.features(Array(buffer[0..<runSamples]), threads: 1))
                buffer.removeFirst(blockFrames * hop)
            }
            if ended { break }
            let block = try nextBlock()
            if block.isEmpty {
                ended = true
                buffer += padding(after: buffer, count: pad)
                // Whatever frames remain fit in the buffer now: take them in one last run
                // (none when less than a frame is left, which uncentered framing allows).
                if buffer.count >= nFFT { runs.append(try runner.features(buffer, threads: 1)) }
                break
            }
            buffer += block
        }
        var result = joinColumns(runs)
        if configuration.scale == .db, let topDB = configuration.topDB {
            let floor = (result.values.max() ?? 0) - topDB
            for i in result.values.indices where result.values[i] < floor { result.values[i] = floor }
        }
        return result
    }

    /// The padding `center` puts before a signal that starts with `start`.
    private func padding(before start: [Float], count: Int) -> [Float] {
        switch configuration.padMode {
        case .constant: return [Float](repeating: 0, count: count)
        case .reflect: return (1...max(1, count)).prefix(count).reversed().map { start[$0] }
        }
    }

    /// The padding `center` puts after a signal that ends with `end`.
    private func padding(after end: [Float], count: Int) -> [Float] {
        switch configuration.padMode {
        case .constant: return [Float](repeating: 0, count: count)
        case .reflect: return (0..<count).map { end[end.count - 2 - $0] }
        }
    }

    /// Spectrograms `[bins, frames_i]` side by side: `[bins, sum of frames_i]`.
    private func joinColumns(_ runs: [Spectrogram]) -> Spectrogram {
        let bins = configuration.nMels
        let frames = runs.reduce(0) { $0 + $1.frames }
        var values = [Float](repeating: 0, count: bins * frames)
        var column = 0
        for run in runs {
            for m in 0..<bins {
                let row = m * run.frames
                for f in 0..<run.frames { values[m * frames + column + f] = run.values[row + f] }
            }
            column += run.frames
        }
        return Spectrogram(bins: bins, frames: frames, values: values)
    }
}

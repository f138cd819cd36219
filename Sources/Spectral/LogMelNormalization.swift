/// The map between log-mel values in dB and the [-1, 1] range models train on.
///
///     normalised = clamp(2 (dB - minDB) / (maxDB - minDB) - 1, -1, 1)
///     dB         = minDB + (normalised + 1) / 2 (maxDB - minDB)
///
/// `minDB` and `maxDB` are fitted once over a whole training set (or one file) and
/// travel with the data (the sidecar JSON of a spectrogram, a checkpoint's
/// metadata), so generated images map back to exactly the dB range they came from.
/// Values outside [minDB, maxDB] are clamped: with the range fitted on the data,
/// that only happens to data the range was not fitted on.
public struct LogMelNormalization: Codable, Equatable, Sendable {
    public var minDB: Float
    public var maxDB: Float

    public init(minDB: Float, maxDB: Float) throws {
        guard minDB.isFinite && maxDB.isFinite && minDB < maxDB else {
            throw SpectralError.invalidParameter(name: "normalisation range", value: "\(minDB)...\(maxDB) dB",
                                                 accepted: "finite minDB < maxDB")
        }
        self.minDB = minDB
        self.maxDB = maxDB
    }

    /// The range of the finite values in `values`; a constant input gets a 1 dB span
    /// so the map stays invertible.
    public static func fitted(to values: [Float]) throws -> LogMelNormalization {
        var low = Float.infinity, high = -Float.infinity
        for value in values where value.isFinite {
            low = min(low, value)
            high = max(high, value)
        }
        guard low.isFinite else {
            throw SpectralError.invalidParameter(name: "values", value: "no finite value",
                                                 accepted: "at least one finite dB value")
        }
        return try LogMelNormalization(minDB: low, maxDB: high > low ? high : low + 1)
    }

    public func normalize(_ values: inout [Float]) {
        let scale = 2 / (maxDB - minDB)
        for i in values.indices { values[i] = min(1, max(-1, (values[i] - minDB) * scale - 1)) }
    }

    public func denormalize(_ values: inout [Float]) {
        let scale = (maxDB - minDB) / 2
        for i in values.indices { values[i] = minDB + (values[i] + 1) * scale }
    }
}

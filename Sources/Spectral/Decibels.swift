import CSpectralKernels
import Foundation

/// Power to decibels as `librosa.power_to_db`:
/// `10 log10(max(amin, S)) - 10 log10(max(amin, ref))`, then, with `topDB`,
/// everything below `max - topDB` raised to it.
public struct DecibelScaling: Codable, Equatable, Sendable {
    /// The reference power that maps to 0 dB.
    public enum Reference: Codable, Equatable, Sendable {
        case value(Float)
        /// The spectrogram's own maximum (librosa's `ref=np.max`); not invertible
        /// unless the maximum is stored with the data.
        case maximum
    }

    public var reference: Reference
    /// The floor applied before the logarithm (librosa's `amin`).
    public var amin: Float
    /// The dynamic range kept below the peak, or `nil` for all of it.
    public var topDB: Float?

    public init(reference: Reference = .value(1), amin: Float = 1e-10, topDB: Float? = nil) throws {
        guard amin > 0 && amin.isFinite else {
            throw SpectralError.invalidParameter(name: "amin", value: "\(amin)", accepted: "a positive number")
        }
        if case .value(let ref) = reference, !(ref > 0 && ref.isFinite) {
            throw SpectralError.invalidParameter(name: "ref", value: "\(ref)", accepted: "a positive number")
        }
        if let topDB, !(topDB >= 0 && topDB.isFinite) {
            throw SpectralError.invalidParameter(name: "topDB", value: "\(topDB)", accepted: "a non-negative number of dB")
        }
        self.reference = reference
        self.amin = amin
        self.topDB = topDB
    }

    /// Converts power values to dB in place.
    public func toDecibels(_ values: inout [Float]) {
        let offset: Float
        switch reference {
        case .value(let ref): offset = 10 * log10(max(amin, ref))
        case .maximum: offset = 10 * log10(max(amin, values.max() ?? amin))
        }
        var peak = -Float.infinity
        for i in values.indices {
            let db = 10 * log10(max(amin, values[i])) - offset
            values[i] = db
            peak = max(peak, db)
        }
        if let topDB {
            let floor = peak - topDB
            for i in values.indices where values[i] < floor { values[i] = floor }
        }
    }

    /// `10 log10(max(amin, p)) - offset` in place over `count` values (each squared
    /// first if `squareFirst`), vectorised (`mf_power_to_db`). Infinite power (only from
    /// absurdly loud float input) is taken as the largest float, about 383 dB.
    func powerToDecibels(_ values: UnsafeMutablePointer<Float>, count: Int, offset: Float, squareFirst: Bool = false) {
        mf_power_to_db(values, count, amin, offset, squareFirst ? 1 : 0)
    }

    /// Power from dB (`librosa.db_to_power` with the same reference):
    /// `ref * 10^(dB / 10)`. Exact except where `amin` or `topDB` clamped.
    public func toPower(_ values: inout [Float]) throws {
        guard case .value(let ref) = reference else {
            throw SpectralError.invalidParameter(name: "ref", value: "maximum",
                                                 accepted: "a stored reference value to undo dB scaling")
        }
        let reference = max(amin, ref)
        for i in values.indices { values[i] = reference * pow(10, values[i] / 10) }
    }
}

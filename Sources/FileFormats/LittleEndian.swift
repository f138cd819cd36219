extension Array where Element == UInt8 {
    /// Appends `values` as little-endian IEEE float32 bytes: one copy on a little-endian machine.
    mutating func appendLittleEndian(_ values: [Float]) {
        #if _endian(little)
        values.withUnsafeBytes { append(contentsOf: $0) }
        #else
        reserveCapacity(count + 4 * values.count)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { append(contentsOf: $0) } }
        #endif
    }
}

import FileFormats
import Tensors

/// Images (and labels) in the IDX format of LeCun's MNIST files (`train-images-idx3-ubyte`,
/// plain or gzip), scaled to [-1, 1] as the models see them.
///
/// IDX: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, each
/// dimension as a big-endian UInt32, then the data in row-major order.
public enum IDX {
    /// Images `[N, 1, H, W]` with values 2 * byte / 255 - 1.
    public static func images(_ path: String) throws -> Tensor {
        let (dimensions, data) = try parse(path)
        guard dimensions.count == 3 else {
            throw DatasetError.mismatch(path: path, reason: "\(dimensions.count) dimensions; images need 3 [N, H, W]")
        }
        let (n, h, w) = (dimensions[0], dimensions[1], dimensions[2])
        return Tensor(shape: [n, 1, h, w], values: data.map { Float($0) * (2.0 / 255) - 1 })
    }

    /// Labels `[N]` (one byte each).
    public static func labels(_ path: String) throws -> [Int] {
        let (dimensions, data) = try parse(path)
        guard dimensions.count == 1 else {
            throw DatasetError.mismatch(path: path, reason: "\(dimensions.count) dimensions; labels need 1 [N]")
        }
        return data.map(Int.init)
    }

    static func parse(_ path: String) throws -> (dimensions: [Int], data: ArraySlice<UInt8>) {
        let bytes = try readPossiblyGzipped(path)
        guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0 else {
            throw DatasetError.unreadable(path: path, reason: "not an IDX file (it must start with two zero bytes)")
        }
        guard bytes[2] == 0x08 else {
            throw DatasetError.unreadable(path: path, reason: "element type 0x\(String(bytes[2], radix: 16)); only unsigned bytes (0x08) are supported")
        }
        let rank = Int(bytes[3])
        guard rank >= 1, bytes.count >= 4 + 4 * rank else {
            throw DatasetError.unreadable(path: path, reason: "header of \(rank) dimensions is cut short")
        }
        var dimensions: [Int] = []
        var count = 1
        for d in 0..<rank {
            let offset = 4 + 4 * d
            let size = (0..<4).reduce(0) { $0 << 8 | Int(bytes[offset + $1]) }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw DatasetError.unreadable(path: path, reason: "dimensions overflow") }
            count = product
            dimensions.append(size)
        }
        let start = 4 + 4 * rank
        guard bytes.count - start == count else {
            throw DatasetError.unreadable(path: path, reason: "dimensions \(dimensions) need \(count) bytes of data, the file has \(bytes.count - start)")
        }
        guard count > 0 else { throw DatasetError.empty(path: path, reason: "dimensions \(dimensions)") }
        return (dimensions, bytes[start...])
    }
}

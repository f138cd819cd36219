import FileFormats
import Foundation
import Tensors

/// A folder of PNG pictures as one tensor `[N, C, H, W]` scaled to [-1, 1], labelled by their
/// parent folder's name (`digits/seven/a.png` -> "seven"), sorted by path so that the order
/// is the same on every machine.
public struct ImageFolder {
    public var images: Tensor
    /// Each image's label index into `classes`.
    public var labels: [Int]
    /// The distinct parent-folder names, sorted.
    public var classes: [String]
    public var paths: [String]

    /// - Parameter channels: `.gray` or `.rgb`; every picture is converted to it.
    public init(folder: String, channels: PixelImage.Channels = .gray) throws {
        guard isDirectory(folder) else {
            throw DatasetError.unreadable(path: folder, reason: FileManager.default.fileExists(atPath: folder)
                                          ? "not a folder" : "no such folder")
        }
        let walker = FileManager.default.enumerator(atPath: folder)
        let relative = (walker?.compactMap { $0 as? String } ?? [])
            .filter { $0.lowercased().hasSuffix(".png") }.sorted()
        guard !relative.isEmpty else { throw DatasetError.empty(path: folder, reason: "no .png files under it") }
        var pictures: [PixelImage] = []
        for name in relative {
            pictures.append(try PNG.read(folder + "/" + name, as: channels))
        }
        let (width, height) = (pictures[0].width, pictures[0].height)
        if let odd = pictures.indices.first(where: { pictures[$0].width != width || pictures[$0].height != height }) {
            throw DatasetError.mismatch(path: folder + "/" + relative[odd],
                                        reason: "\(pictures[odd].width)x\(pictures[odd].height), the first picture is \(width)x\(height)")
        }
        let values = pictures.flatMap(Self.values(of:))
        let parents = relative.map { name -> String in
            let parts = name.split(separator: "/")
            return parts.count > 1 ? String(parts[parts.count - 2]) : ""
        }
        let classes = Array(Set(parents)).sorted()
        self.classes = classes
        labels = parents.map { classes.firstIndex(of: $0)! }
        images = Tensor(shape: [pictures.count, channels.rawValue, height, width], values: values)
        paths = relative.map { folder + "/" + $0 }
    }

    /// A picture's interleaved HWC bytes as planar CHW values in [-1, 1].
    public static func values(of picture: PixelImage) -> [Float] {
        let (c, h, w) = (picture.channels.rawValue, picture.height, picture.width)
        var values = [Float](repeating: 0, count: c * h * w)
        for y in 0..<h {
            for x in 0..<w {
                for channel in 0..<c {
                    values[(channel * h + y) * w + x] = Float(picture.pixels[(y * w + x) * c + channel]) * (2.0 / 255) - 1
                }
            }
        }
        return values
    }
}

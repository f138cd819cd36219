import FileFormats
import Foundation

/// A run's log.jsonl: one JSON object per logged step, {"step": N, ...}, rewritten whole
/// (atomically) at every save, so that a killed run's log ends at its last save.
public struct RunLog {
    public let path: String
    public private(set) var lines: [String] = []

    public init(path: String) { self.path = path }

    /// The log of a run resumed at `step`: the lines up to that step.
    public static func resumed(path: String, atStep step: Int) -> RunLog {
        var log = RunLog(path: path)
        log.lines = readLines(path).filter { (Self.step(of: $0) ?? Int.max) <= step }
        return log
    }

    /// A line of numbers: "step" first, then `values` by name (Floats as Swift prints them,
    /// Doubles to 6 significant digits), then `trailing` as written.
    public mutating func append(step: Int, values: [String: Float], scores: [String: Double] = [:],
                                trailing: [(String, String)] = []) {
        let fields = values.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }
            + scores.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \(String(format: "%.6g", $0.value))" }
            + trailing.map { "\"\($0.0)\": \($0.1)" }
        lines.append("{\"step\": \(step), " + fields.joined(separator: ", ") + "}")
    }

    /// A line as written.
    public mutating func append(line: String) { lines.append(line) }

    public func save() throws {
        try AtomicFile.write(Array((lines.joined(separator: "\n") + "\n").utf8), to: path)
    }

    static func step(of line: String) -> Int? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
    }
}

/// Feature widths from the image inwards, for a model or a classifier of square images.
public enum ModelShape {
    /// `first` doubling per stage, at most 256, for as many stages as halve the image down to
    /// 4..7 pixels; nil when the side cannot be halved so.
    public static func defaultWidths(imageSize: Int, first: Int = 32) -> [Int]? {
        var stages = 0
        while (imageSize >> (stages + 1)) >= 4 && (imageSize >> (stages + 1)) << (stages + 1) == imageSize { stages += 1 }
        return stages == 0 ? nil : (0..<stages).map { min(256, first << $0) }
    }

    /// "32,64,128" -> [32, 64, 128]; nil unless every part is a positive integer.
    public static func parseWidths(_ text: String) -> [Int]? {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return parts.map { $0! }
    }

    /// `widths` (or the default ones) for square images of side `size`; an error unless the
    /// side is B * 2^stages with B >= 2. `option` is the --widths text, for the message.
    public static func widths(_ widths: [Int]?, imageSize size: Int, first: Int = 32, option: String?) throws -> [Int] {
        guard let chosen = widths ?? defaultWidths(imageSize: size, first: first), chosen.count >= 1,
              (size >> chosen.count) >= 2, (size >> chosen.count) << chosen.count == size
        else {
            throw UsageError("image side \(size) is not B * 2^k with B >= 2 for \(option.map { "--widths \($0)" } ?? "any stage count"); use 28, 32, 56, 64, ...")
        }
        return chosen
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A progress line on standard error: redrawn in place on a terminal
/// (`[#####.....] 120/400 30%  2m10s left  note`), one line per 10% otherwise (logs, CI).
final class ProgressBar {
    let total: Int
    let label: String
    let interactive = isatty(STDERR_FILENO) != 0
    let started = Date()
    var startValue: Int?
    var lastPrinted = -1

    init(total: Int, label: String) {
        self.total = max(1, total)
        self.label = label
    }

    func update(_ value: Int, note: String = "") {
        if startValue == nil { startValue = value - 1 }
        let done = Double(value - startValue!), elapsed = Date().timeIntervalSince(started)
        let left = done > 0 ? elapsed / done * Double(total - value) : 0
        let fraction = Double(value) / Double(total)
        let line = "\(label) \(value)/\(total) \(Int(fraction * 100))%  \(Self.duration(left)) left  \(note)"
        if interactive {
            let filled = Int(fraction * 24)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 24 - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(line)".utf8))
        } else if Int(fraction * 10) > lastPrinted || value == total {
            lastPrinted = Int(fraction * 10)
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}

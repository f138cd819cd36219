import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A progress line on standard error: redrawn in place on a terminal at most ten times a
/// second (`[#####.....] 120/400 30%  2m10s left  35.2 files/s  note`), one line per 10%
/// otherwise (logs, CI). A note (losses, say) goes with the line when it is drawn; an event
/// (a failed file) is always shown, in logs too.
public final class ProgressBar {
    let total: Int
    let label: String
    /// What is counted, for the rate ("files" gives "35.2 files/s"); `nil` shows no rate.
    let unit: String?
    let interactive = isatty(STDERR_FILENO) != 0
    let started = Date()
    var startValue: Int?
    var lastPrinted = -1
    var lastDrawn = Date.distantPast

    public init(total: Int, label: String, unit: String? = nil) {
        self.total = max(1, total)
        self.label = label
        self.unit = unit
    }

    public func update(_ value: Int, note: String = "") { update(value, note: note, always: false) }

    /// Like `update`, and the line is drawn whatever the time or the step.
    public func update(_ value: Int, event: String) { update(value, note: event, always: true) }

    private func update(_ value: Int, note: String, always: Bool) {
        if startValue == nil { startValue = value - 1 }
        let fraction = Double(value) / Double(total)
        // Decided before anything is formatted: most updates draw nothing.
        let now = Date()
        if interactive {
            guard always || value == total || now.timeIntervalSince(lastDrawn) >= 0.1 else { return }
            lastDrawn = now
        } else {
            guard always || Int(fraction * 10) > lastPrinted || value == total else { return }
            lastPrinted = max(lastPrinted, Int(fraction * 10))
        }
        let done = Double(value - startValue!), elapsed = now.timeIntervalSince(started)
        let left = done > 0 ? elapsed / done * Double(total - value) : 0
        let rate = unit.map { String(format: "  %.1f %@/s", done / max(elapsed, 1e-9), $0) } ?? ""
        let line = "\(label) \(value)/\(total) \(Int(fraction * 100))%  \(Self.duration(left)) left\(rate)  \(note)"
        if interactive {
            let filled = Int(fraction * 24)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 24 - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(line)".utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    public func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }
}

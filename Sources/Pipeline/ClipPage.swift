import FileFormats
import Foundation
import Training

/// index.html for a folder of generated clips: every clip's spectrogram with an audio player,
/// the model's configuration and, when the run's folder is known, its last losses and loss
/// curve. Self-contained: inline style, the SVG inlined, clips and pictures by relative path,
/// nothing from the network; it works opened from disk.
public struct ClipPage {
    public struct Entry {
        public var name: String
        /// The class a conditional model was asked for.
        public var label: String?
        /// Spectral convergence against the vocoder's target, when it measured one.
        public var convergence: Float?
        /// What the judge (a classifier) made of the clip: its most probable class and that
        /// probability.
        public var judged: (label: String, confidence: Double)?
        /// The same clip through other vocoders: each vocoder's name and its file (beside NAME.wav).
        public var alternatives: [(vocoder: String, file: String)] = []

        public init(name: String, label: String?, convergence: Float?, judged: (label: String, confidence: Double)? = nil) {
            self.name = name
            self.label = label
            self.convergence = convergence
            self.judged = judged
        }
    }

    /// The vocoder that made the sound ("griffin-lim (32 iterations)").
    public var vocoder: String?
    /// The classifier behind `Entry.judged`: its file and held-out accuracy.
    public var judge: (path: String, heldOutAccuracy: Double?)?

    public var entries: [Entry]
    public var configuration: TrainingConfiguration
    public var checkpoint: String
    public var runFolder: String?
    /// When the latents came from a policy of `melforge steer`: its file, its metadata and its
    /// reward curve (the SVG beside it).
    public var policy: (path: String, metadata: [String: String])? = nil

    public init(entries: [Entry], configuration: TrainingConfiguration, checkpoint: String, runFolder: String?,
                policy: (path: String, metadata: [String: String])? = nil, vocoder: String? = nil,
                judge: (path: String, heldOutAccuracy: Double?)? = nil) {
        self.vocoder = vocoder
        self.judge = judge
        self.entries = entries
        self.configuration = configuration
        self.checkpoint = checkpoint
        self.runFolder = runFolder
        self.policy = policy
    }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let config = String(decoding: try encoder.encode(configuration), as: UTF8.self)
        var metrics = ""
        if let runFolder {
            if let log = try? String(contentsOfFile: runFolder + "/log.jsonl", encoding: .utf8),
               let last = log.split(separator: "\n").last {
                metrics += "<h2>Training</h2><p>Last logged step: <code>\(escape(String(last)))</code></p>"
            }
            if let svg = try? String(contentsOfFile: runFolder + "/losses.svg", encoding: .utf8) { metrics += svg }
        }
        if let policy {
            metrics += "<h2>Steered</h2><p>Latents from the policy <code>\(escape(policy.path))</code>, steered toward "
                + "<code>\(escape(policy.metadata["reward"] ?? "?"))</code> for \(escape(policy.metadata["step"] ?? "?")) steps.</p>"
            metrics += Self.comparison(before: policy.metadata["before"], after: policy.metadata["after"])
            let stem = policy.path.hasSuffix(".safetensors") ? String(policy.path.dropLast(".safetensors".count)) : policy.path
            if let svg = try? String(contentsOfFile: stem + ".svg", encoding: .utf8) { metrics += svg }
        }
        let cards = entries.map { entry in
            var caption = ["<b>\(escape(entry.name))</b>"]
            if let label = entry.label { caption.append("class <b>\(escape(label))</b>") }
            if let judged = entry.judged {
                caption.append("judged <b>\(escape(judged.label))</b> (\(String(format: "%.0f%%", 100 * judged.confidence)))")
            }
            if let convergence = entry.convergence { caption.append("SC \(String(format: "%.3f", convergence))") }
            // With other vocoders, each player is named by its vocoder.
            let players = entry.alternatives.isEmpty
                ? "<audio controls preload=\"metadata\" src=\"\(entry.name).wav\"></audio>"
                : ([(vocoder ?? "vocoder", entry.name + ".wav")] + entry.alternatives).map {
                    "<div class=\"player\"><small>\(escape($0.vocoder))</small>"
                        + "<audio controls preload=\"metadata\" src=\"\(escape($0.file))\"></audio></div>"
                }.joined()
            return """
            <figure><img src="\(entry.name).png" alt="spectrogram of \(entry.name)">
            <figcaption>\(caption.joined(separator: " &middot; "))</figcaption>
            \(players)</figure>
            """
        }.joined(separator: "\n")
        var about = "<p>Checkpoint: <code>\(escape(checkpoint))</code></p>"
        if let vocoder {
            // Every clip went through the same vocoders, in the order they were asked for.
            let others = entries.first?.alternatives.map(\.vocoder) ?? []
            about += others.isEmpty ? "<p>Vocoder: <b>\(escape(vocoder))</b></p>"
                : "<p>Vocoders, side by side under each clip: <b>\(escape(vocoder))</b>"
                    + others.map { ", <b>\(escape($0))</b>" }.joined() + ".</p>"
        }
        if let judge {
            about += "<p>Judge: the classifier <code>\(escape(judge.path))</code>"
                + (judge.heldOutAccuracy.map { String(format: " (held-out accuracy %.1f%%)", 100 * $0) } ?? "")
                + ", on each clip's spectrogram as the model made it.</p>"
        }
        let html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>MelForge samples</title>
            <style>
            body { font-family: sans-serif; margin: 2em; background: #fafafa; color: #222; }
            .clips { display: flex; flex-wrap: wrap; gap: 1em; }
            figure { margin: 0; padding: 0.5em; background: white; border: 1px solid #ddd; }
            figure img { display: block; max-width: 100%; }
            figcaption { margin: 0.3em 0; }
            audio { width: 100%; }
            .player small { display: block; color: #555; margin-top: 0.3em; }
            table { border-collapse: collapse; background: white; }
            td, th { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: right; }
            pre { background: white; border: 1px solid #ddd; padding: 0.5em; }
            </style></head><body>
            <h1>\(entries.count) clips from \(escape(configuration.model.rawValue.uppercased()))</h1>
            \(about)
            <div class="clips">
            \(cards)
            </div>
            <h2>Model</h2><pre>\(escape(config))</pre>
            \(metrics)
            </body></html>

            """
        try AtomicFile.write(Array(html.utf8), to: path)
    }

    /// Before and after steering side by side, from the policy's metadata (JSON objects of
    /// numbers).
    static func comparison(before: String?, after: String?) -> String {
        func numbers(_ text: String?) -> [String: Double] {
            guard let text, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
            return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
        let (a, b) = (numbers(before), numbers(after))
        let rows: [(key: String, name: String, format: String)] = [
            ("mean_reward", "mean reward", "%.3f"), ("target_fraction", "share of the target label", "%.1f%%"),
            ("mean_measure", "mean measure", "%.1f"), ("d_self", "|D|self (variety)", "%.3f"),
            ("entropy", "policy entropy (nats)", "%.1f"),
        ]
        let body = rows.compactMap { row -> String? in
            guard a[row.key] != nil || b[row.key] != nil else { return nil }
            func cell(_ value: Double?) -> String {
                guard let value else { return "-" }
                return String(format: row.format, row.format.hasSuffix("%%") ? 100 * value : value)
            }
            return "<tr><th>\(row.name)</th><td>\(cell(a[row.key]))</td><td>\(cell(b[row.key]))</td></tr>"
        }
        guard !body.isEmpty else { return "" }
        return "<table><tr><th></th><th>before</th><th>after</th></tr>" + body.joined() + "</table>"
    }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

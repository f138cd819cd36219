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
        public var label: String?
        /// Spectral convergence against the vocoder's target, when it measured one.
        public var convergence: Float?

        public init(name: String, label: String?, convergence: Float?) {
            self.name = name
            self.label = label
            self.convergence = convergence
        }
    }

    public var entries: [Entry]
    public var configuration: TrainingConfiguration
    public var checkpoint: String
    public var runFolder: String?
    /// When the latents came from a policy of `melforge steer`: its file, its metadata and its
    /// reward curve (the SVG beside it).
    public var policy: (path: String, metadata: [String: String])? = nil

    public init(entries: [Entry], configuration: TrainingConfiguration, checkpoint: String, runFolder: String?,
                policy: (path: String, metadata: [String: String])? = nil) {
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
            for (name, key) in [("Before", "before"), ("After", "after")] {
                if let text = policy.metadata[key] { metrics += "<p>\(name): <code>\(escape(text))</code></p>" }
            }
            let stem = policy.path.hasSuffix(".safetensors") ? String(policy.path.dropLast(".safetensors".count)) : policy.path
            if let svg = try? String(contentsOfFile: stem + ".svg", encoding: .utf8) { metrics += svg }
        }
        let cards = entries.map { entry in
            """
            <figure><img src="\(entry.name).png" alt="spectrogram of \(entry.name)">
            <figcaption>\(entry.name)\(entry.label.map { " &middot; " + escape($0) } ?? "")\(entry.convergence.map { " &middot; SC " + String(format: "%.3f", $0) } ?? "")</figcaption>
            <audio controls preload="metadata" src="\(entry.name).wav"></audio></figure>
            """
        }.joined(separator: "\n")
        let html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>MelForge samples</title>
            <style>
            body { font-family: sans-serif; margin: 2em; background: #fafafa; color: #222; }
            .clips { display: flex; flex-wrap: wrap; gap: 1em; }
            figure { margin: 0; padding: 0.5em; background: white; border: 1px solid #ddd; }
            figure img { display: block; width: 256px; image-rendering: pixelated; }
            audio { width: 256px; }
            pre { background: white; border: 1px solid #ddd; padding: 0.5em; }
            </style></head><body>
            <h1>\(entries.count) clips from \(escape(configuration.model.rawValue.uppercased()))</h1>
            <p>Checkpoint: <code>\(escape(checkpoint))</code></p>
            <div class="clips">
            \(cards)
            </div>
            <h2>Model</h2><pre>\(escape(config))</pre>
            \(metrics)
            </body></html>

            """
        try AtomicFile.write(Array(html.utf8), to: path)
    }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

import Foundation

/// How a corpus names its clips' labels and speakers: from the folders (MelForge's own layout:
/// one folder per class), from the file names by a public corpus's convention, or by regular
/// expressions over each file's path relative to the data folder. A file the naming does not
/// match is reported and skipped, never given a wrong label.
public struct ClipNaming: Sendable {
    /// The common public layouts (`--layout`).
    public enum Layout: String, CaseIterable, Sendable {
        /// `{label}/{anything}`: the parent folder is the label; no speakers.
        case folders
        /// Speech Commands: `{word}/{speaker}_nohash_{n}.wav`.
        case speechCommands = "speech-commands"
        /// The Free Spoken Digit Dataset: `{digit}_{speaker}_{n}.wav` in one flat folder.
        case fsdd
        /// VCTK: `{speaker}/{speaker}_{n}.wav` (speakers, no class labels).
        case vctk
    }

    let label: Pattern?
    let speaker: Pattern?
    /// The parent folder as the label (the `folders` layout, and when no label pattern is given).
    let folderLabels: Bool
    /// What the naming is, for messages ("--layout fsdd", "--label-pattern '...'").
    public let description: String

    /// A regular expression with its flag, for errors.
    struct Pattern: @unchecked Sendable {
        let expression: NSRegularExpression
        let text: String
        let group: String

        /// The named group `group` if the expression has one, else its first group, else the whole match.
        func value(in path: String) -> String? {
            let range = NSRange(path.startIndex..., in: path)
            guard let match = expression.firstMatch(in: path, range: range) else { return nil }
            var found = match.range(withName: group)
            if found.location == NSNotFound { found = match.numberOfRanges > 1 ? match.range(at: 1) : match.range }
            guard found.location != NSNotFound, let bounds = Range(found, in: path), !bounds.isEmpty else { return nil }
            return String(path[bounds])
        }
    }

    /// The folders' labels, no speakers: what MelForge always did.
    public static let folders = ClipNaming(label: nil, speaker: nil, folderLabels: true, description: "one folder per class")

    /// `layout`'s naming, with `labelPattern` and `speakerPattern` (regular expressions over the
    /// relative path: the named group `label` or `speaker`, else the first group) replacing its
    /// parts where given. Throws naming the flag and the bad expression.
    public init(layout: Layout?, labelPattern: String? = nil, speakerPattern: String? = nil) throws {
        let (presetLabel, presetSpeaker): (String?, String?) = switch layout {
        case nil, .folders?: (nil, nil)
        case .speechCommands?: (#"^(?:.*/)?(?<label>[^/]+)/[^/]+_nohash_[^/]*$"#, #"(?<speaker>[^/]+)_nohash_[^/]*$"#)
        case .fsdd?: (#"(?:^|/)(?<label>[^/_]+)_[^/_]+_[^/]+$"#, #"(?:^|/)[^/_]+_(?<speaker>[^/_]+)_[^/]+$"#)
        case .vctk?: (nil, #"(?:^|/)(?<speaker>[^/]+)/[^/]+$"#)
        }
        func compile(_ text: String?, flag: String, group: String) throws -> Pattern? {
            guard let text else { return nil }
            do {
                return Pattern(expression: try NSRegularExpression(pattern: text), text: text, group: group)
            } catch {
                throw UsageError("\(flag) '\(text)' is not accepted; expected a regular expression (ICU syntax) whose first group, or group named '\(group)', is the \(group)")
            }
        }
        label = try compile(labelPattern ?? presetLabel, flag: labelPattern != nil ? "--label-pattern" : "--layout", group: "label")
        speaker = try compile(speakerPattern ?? presetSpeaker, flag: speakerPattern != nil ? "--speaker-pattern" : "--layout",
                              group: "speaker")
        folderLabels = label == nil && layout != .vctk
        var parts = [layout.map { "--layout \($0.rawValue)" } ?? "one folder per class"]
        if let labelPattern { parts.append("--label-pattern '\(labelPattern)'") }
        if let speakerPattern { parts.append("--speaker-pattern '\(speakerPattern)'") }
        description = parts.joined(separator: ", ")
    }

    private init(label: Pattern?, speaker: Pattern?, folderLabels: Bool, description: String) {
        (self.label, self.speaker, self.folderLabels, self.description) = (label, speaker, folderLabels, description)
    }

    /// The flags' help texts.
    public static let help = (
        layout: "Where labels and speakers are: folders (one folder per class; the default), speech-commands ({word}/{speaker}_nohash_{n}.wav), fsdd ({digit}_{speaker}_{n}.wav), vctk ({speaker}/{speaker}_{n}.wav, no labels). Files that do not match are reported and skipped.",
        label: "A regular expression over each file's path inside the data folder: its group named 'label', or its first group, is the file's class (replaces the layout's).",
        speaker: "A regular expression over each file's path inside the data folder: its group named 'speaker', or its first group, is the file's speaker (replaces the layout's).")

    /// Whether this is the folders' naming without patterns (MelForge's own layout).
    public var isFolders: Bool { label == nil && speaker == nil && folderLabels }
    /// Whether the naming gives speakers.
    public var hasSpeakers: Bool { speaker != nil }
    /// Whether the naming gives class labels.
    public var hasLabels: Bool { label != nil || folderLabels }

    /// A clip's label ("" when the naming gives none, or a file directly in the data folder
    /// by folders) and speaker (nil without a speaker pattern), from its path relative to the
    /// data folder; nil when a pattern the naming has does not match: such a file is skipped.
    public func describe(_ relativePath: String) -> (label: String, speaker: String?)? {
        var label = ""
        if let pattern = self.label {
            guard let value = pattern.value(in: relativePath) else { return nil }
            label = value
        } else if folderLabels {
            label = parentFolderLabel(relativePath)
        }
        guard let pattern = speaker else { return (label, nil) }
        guard let value = pattern.value(in: relativePath) else { return nil }
        return (label, value)
    }

    /// Why `relativePath` is skipped: which pattern it does not match.
    public func mismatch(_ relativePath: String) -> String {
        if let label, label.value(in: relativePath) == nil {
            return "'\(relativePath)' does not match the label pattern '\(label.text)' (\(description)); skipped"
        }
        return "'\(relativePath)' does not match the speaker pattern '\(speaker?.text ?? "")' (\(description)); skipped"
    }
}

/// Speakers split between training and held-out sets, whole: no speaker on both sides.
public enum SpeakerSplit {
    /// The held-out speakers: drawn in an order fixed by `seed` (a hash of each name, so the
    /// same corpus gives the same split on every machine) until their clips reach `fraction`
    /// of all clips (at least one speaker, and never every speaker).
    public static func heldOut(speakers: [String], fraction: Double, seed: UInt64) -> Set<String> {
        var counts: [String: Int] = [:]
        for speaker in speakers { counts[speaker, default: 0] += 1 }
        guard fraction > 0, counts.count >= 2 else { return [] }
        func order(_ name: String) -> UInt64 {
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
            for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
            return hash
        }
        let ranked = counts.keys.sorted { (order($0), $0) < (order($1), $1) }
        var (chosen, clips) = (Set<String>(), 0)
        for name in ranked.dropLast() where Double(clips) < fraction * Double(speakers.count) {
            chosen.insert(name)
            clips += counts[name]!
        }
        return chosen
    }
}

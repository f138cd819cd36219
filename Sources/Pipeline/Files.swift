import FileFormats
import Foundation

/// The extensions of the audio formats libsndfile reads.
public let audioFileExtensions: Set<String> = ["wav", "wave", "flac", "ogg", "oga", "aiff", "aif", "aifc", "au", "snd",
                                               "caf", "w64", "rf64", "mp3"]

/// The files under `folder` (recursively) with one of `extensions` (lower case), relative to
/// it and sorted, without the temporary files of an interrupted atomic write.
public func listFiles(_ folder: String, extensions: Set<String>) -> [String] {
    (FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? [])
        .filter {
            extensions.contains(($0 as NSString).pathExtension.lowercased())
                && !AtomicFile.isLeftover(fileName: ($0 as NSString).lastPathComponent)
        }
        .sorted()
}

/// The class name of a file at `relativePath`: its parent folder's name ("" at the top).
func parentFolderLabel(_ relativePath: String) -> String {
    let parts = relativePath.split(separator: "/")
    return parts.count > 1 ? String(parts[parts.count - 2]) : ""
}

/// Resolves a run folder to its checkpoint file; a file stays as it is.
public func checkpointPath(_ argument: String) -> String {
    isDirectory(argument) ? argument + "/checkpoint.safetensors" : argument
}

/// Creates `folder`, refusing one that holds files unless `overwrite`.
public func prepareOutputFolder(_ folder: String, overwrite: Bool) throws {
    if FileManager.default.fileExists(atPath: folder) && !isDirectory(folder) {
        throw UsageError("--output '\(folder)' is a file, not a folder")
    }
    let existing = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    if !existing.isEmpty && !overwrite {
        throw UsageError("--output '\(folder)' already holds \(existing.count) files; choose an empty folder or pass --overwrite")
    }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
}

/// The lines of a text file; none when it cannot be read.
func readLines(_ path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

import ArgumentParser
import Pipeline
import Spectral

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score generated clips (or images) with a classifier, or resynthesized audio against the originals.",
        discussion: EvaluationReport.help)

    @Option(help: "A classifier from 'melforge classifier train'.")
    var classifier: String?

    @Option(help: "A folder of generated clips (or PNG images, for an image classifier).")
    var generated: String?

    @Option(help: "A folder of real clips or images: the training data (with --generated) or the originals (with --resynthesized).")
    var reference: String?

    @Option(help: ArgumentHelp(ReferenceSpeakers.help)) var speakers = "all"

    @OptionGroup(title: "Speakers (--reference)") var naming: NamingOptions

    @Flag(help: "Each generated clip's folder names the class it was asked for (a conditional model's clips): report how often the classifier hears it.")
    var requestedByFolder = false

    @Option(help: "A folder of resynthesized clips, paired by name with --reference.")
    var resynthesized: String?

    @Option(help: "Where to write the scores as JSON.")
    var json = "evaluation.json"

    @Option(help: "Parts the Inception score is computed over.")
    var splits = 10

    @Option(help: "With --resynthesized: the STFT's FFT size.")
    var nFFT = 1_024

    @Option(help: "With --resynthesized: the STFT's hop.")
    var hopLength = 256

    func validate() throws {
        switch (classifier, generated, resynthesized) {
        case (.some, .some, nil): break
        case (nil, nil, .some):
            guard reference != nil else { throw ValidationError("--resynthesized needs --reference DIR (the originals)") }
        default:
            throw ValidationError("give --classifier C --generated DIR [--reference DIR], or --resynthesized DIR --reference DIR")
        }
        _ = try ReferenceSpeakers(speakers)
        guard splits >= 1 else { throw ValidationError("--splits \(splits) is not accepted; expected 1 or more") }
        guard nFFT >= 2 else { throw ValidationError("--n-fft \(nFFT) is not accepted; expected 2 or more (1024 is usual)") }
        guard (1...nFFT).contains(hopLength) else {
            throw ValidationError("--hop-length \(hopLength) is not accepted; expected 1...\(nFFT) (--n-fft)")
        }
    }

    func run() throws {
        if let resynthesized {
            let report = try ResynthesisReport.measure(resynthesized: resynthesized, reference: reference!,
                                                       stft: try STFT(nFFT: nFFT, hopLength: hopLength))
            try writeReport(report, to: json)
            print(String(format: "%d pairs: spectral convergence %.4f, log-spectral distance %.2f dB", report.pairs,
                         report.spectralConvergence, report.logSpectralDistanceDB))
            if !report.withoutCopy.isEmpty || !report.withoutOriginal.isEmpty || !report.skipped.isEmpty {
                print("unpaired: \(report.withoutCopy.count) originals without a copy, \(report.withoutOriginal.count) copies without an original; \(report.skipped.count) unreadable (listed in \(json))")
            }
        } else {
            let report = try EvaluationReport.measure(classifier: classifier!, generated: generated!, reference: reference,
                                                      splits: splits, speakers: try ReferenceSpeakers(speakers), naming: naming.naming,
                                                      requestedByFolder: requestedByFolder)
            try writeReport(report, to: json)
            print(report.table)
        }
        print("scores written to \(json)")
    }
}

import FileFormats
import Foundation
import Pictures
import Pipeline
import Spectral
import TestSupport
import XCTest

/// Spectrogram pictures: axes where the front end puts time and frequency.
final class SpectrogramPictureTests: XCTestCase {
    /// A frequency tick sits where the mel bands put that frequency: between the two bands
    /// whose centres (librosa's mel_frequencies, n + 2 points) surround it, in proportion on
    /// the mel scale; a time tick of t seconds sits on frame t x rate / hop.
    func testTicksSitAtTheBandsTruePositions() {
        for scale in MelScale.allCases {
            var c = FrontEndConfiguration()
            c.melScale = scale
            let picture = SpectrogramPicture(frontEnd: c, title: "t")
            let ticks = picture.frequencyTicks(bins: 80, cellHeight: 4)
            let centres = Array(MelFilterbank.melPoints(count: 82, fMin: 0, fMax: 8_000, scale: scale).dropFirst().dropLast())
            // Ticks closer than a label's height (14 px) are thinned: on the Slaney scale 125 and
            // 250 Hz are 3.4 bands (13 px) apart, on the HTK scale 4.5 (18 px).
            XCTAssertEqual(ticks.map(\.label), scale == .slaney ? ["125", "500", "1000", "2000", "4000"]
                                                               : ["125", "250", "500", "1000", "2000", "4000"], "\(scale)")
            for tick in ticks {
                let hz = Double(tick.label)!
                let below = Int(tick.position.rounded(.down))
                let fraction = (scale.mel(fromHz: hz) - scale.mel(fromHz: centres[below]))
                    / (scale.mel(fromHz: centres[below + 1]) - scale.mel(fromHz: centres[below]))
                XCTAssertEqual(tick.position, Double(below) + fraction, accuracy: 1e-9, "\(scale) \(hz) Hz")
            }
        }
        let times = SpectrogramPicture(frontEnd: FrontEndConfiguration(), title: "t").timeTicks(frames: 63)
        XCTAssertEqual(times.map(\.label), ["0.0", "0.2", "0.4", "0.6", "0.8"])
        XCTAssertEqual(times[2].position, 0.4 * 16_000 / 256, accuracy: 1e-9)
    }

    /// The bare style is the heat map alone; the axes style puts it in a figure around it.
    func testBareIsTheHeatmapAndAxesSurroundIt() throws {
        let values = (0..<(32 * 20)).map { Float($0 % 37) - 40 }
        var picture = SpectrogramPicture(frontEnd: FrontEndConfiguration(), title: "clip")
        picture.style = .bare
        let bare = try picture.render(values, bins: 32, frames: 20, range: -40...0)
        let cell = Heatmap.cellSize(rows: 32, columns: 20)
        XCTAssertEqual(bare, Heatmap.render(values, rows: 32, columns: 20, range: -40...0, cellSize: cell))
        picture.style = .axes
        let figure = try picture.render(values, bins: 32, frames: 20, range: -40...0)
        XCTAssertGreaterThan(figure.width, bare.width + 60)
        XCTAssertGreaterThan(figure.height, bare.height + 40)
    }
}

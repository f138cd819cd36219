@testable import Layers
import Tensors
import TestSupport
import XCTest

final class Im2ColTests: XCTestCase {
    /// col2im is im2col's adjoint: <im2col(x), y> = <x, col2im(y)> for any x and y, which is
    /// what makes the convolution's backward the true gradient. Checked in Double sums.
    func testCol2ImIsTheAdjointOfIm2Col() {
        var random = RandomNumbers(seed: 9)
        for g in [ConvGeometry(channels: 2, height: 7, width: 5, kernel: 3, stride: 1, padding: 1),
                  ConvGeometry(channels: 3, height: 8, width: 8, kernel: 5, stride: 2, padding: 2),
                  ConvGeometry(channels: 1, height: 6, width: 9, kernel: 4, stride: 3, padding: 0)] {
            let batch = 2
            let x = random.normal([batch, g.channels, g.height, g.width])
            let y = random.normal([g.patchSize, batch * g.outHeight * g.outWidth])
            var cols = [Float](repeating: 0, count: y.count)
            im2col(x.values, batch: batch, g, into: &cols)
            var back = [Float](repeating: 0, count: x.count)
            col2im(y.values, batch: batch, g, into: &back)
            let left = zip(cols, y.values).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let right = zip(x.values, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(left, right, accuracy: 1e-4 * max(1, abs(left)), "\(g)")
        }
    }

    /// Against the definition, on geometries wide enough for the eight-column stride-2 blocks
    /// and their tails (odd widths, padding 0 to 3, kernel 5 and 4).
    func testIm2ColAndCol2ImMatchTheDefinition() {
        var random = RandomNumbers(seed: 10)
        for g in [ConvGeometry(channels: 2, height: 6, width: 40, kernel: 5, stride: 2, padding: 2),
                  ConvGeometry(channels: 1, height: 5, width: 37, kernel: 4, stride: 2, padding: 1),
                  ConvGeometry(channels: 1, height: 9, width: 33, kernel: 5, stride: 2, padding: 0),
                  ConvGeometry(channels: 2, height: 4, width: 35, kernel: 3, stride: 2, padding: 3),
                  ConvGeometry(channels: 1, height: 4, width: 21, kernel: 3, stride: 1, padding: 1)] {
            let batch = 2
            let (p, q) = (g.outHeight, g.outWidth)
            let x = random.normal([batch, g.channels, g.height, g.width])
            var expected = [Float](repeating: 0, count: g.patchSize * batch * p * q)
            let y = random.normal([g.patchSize, batch * p * q])
            var expectedBack = [Float](repeating: 0, count: x.count)
            for c in 0..<g.channels { for i in 0..<g.kernel { for j in 0..<g.kernel {
                for n in 0..<batch { for oh in 0..<p { for ow in 0..<q {
                    let (h, w) = (oh * g.stride - g.padding + i, ow * g.stride - g.padding + j)
                    let column = ((c * g.kernel + i) * g.kernel + j) * batch * p * q + (n * p + oh) * q + ow
                    guard (0..<g.height).contains(h), (0..<g.width).contains(w) else { continue }
                    let pixel = ((n * g.channels + c) * g.height + h) * g.width + w
                    expected[column] = x.values[pixel]
                    expectedBack[pixel] += y.values[column]
                } } }
            } } }
            var cols = [Float](repeating: .nan, count: expected.count)
            im2col(x.values, batch: batch, g, into: &cols)
            XCTAssertEqual(cols, expected, "\(g)")
            var back = [Float](repeating: 0, count: x.count)
            col2im(y.values, batch: batch, g, into: &back)
            assertClose(back, expectedBack, absolute: 1e-5, "\(g)")
        }
    }

    func testIm2ColPicksTheRightPixels() {
        // A 1x3x3 image, kernel 2, stride 1, no padding: 4 patches of 4 pixels.
        let g = ConvGeometry(channels: 1, height: 3, width: 3, kernel: 2, stride: 1, padding: 0)
        var cols = [Float](repeating: 0, count: 16)
        im2col([1, 2, 3, 4, 5, 6, 7, 8, 9], batch: 1, g, into: &cols)
        XCTAssertEqual(cols, [1, 2, 4, 5,   // kernel (0, 0) over the 4 output positions
                              2, 3, 5, 6,   // (0, 1)
                              4, 5, 7, 8,   // (1, 0)
                              5, 6, 8, 9])  // (1, 1)
    }
}

/// Perceptually uniform colour maps for pictures of spectrograms.
///
/// Each map is given by 33 evenly spaced anchor colours (matplotlib's `magma` and
/// `viridis`, sampled at 0, 1/32, ..., 1 and rounded to 8 bits) and interpolated
/// linearly between them; the largest difference from the 256-entry originals is
/// about one 8-bit step.
public enum ColorMap: String, CaseIterable, Sendable {
    case magma
    case viridis
    case gray

    /// The colour for `t` in [0, 1] (clamped; NaN maps to 0).
    public func rgb(_ t: Float) -> (UInt8, UInt8, UInt8) {
        let clamped = t.isNaN ? 0 : min(max(t, 0), 1)
        if self == .gray {
            let level = UInt8((clamped * 255).rounded())
            return (level, level, level)
        }
        let anchors = self == .magma ? Self.magmaAnchors : Self.viridisAnchors
        let position = clamped * Float(anchors.count - 1)
        let lower = min(Int(position), anchors.count - 2)
        let fraction = position - Float(lower)
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 {
            UInt8((Float(a) + (Float(b) - Float(a)) * fraction).rounded())
        }
        let (a, b) = (anchors[lower], anchors[lower + 1])
        return (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    static let magmaAnchors: [(UInt8, UInt8, UInt8)] = [
        (0, 0, 4), (3, 3, 18), (10, 8, 34), (19, 13, 52), (29, 17, 71), (41, 17, 90),
        (54, 16, 107), (68, 15, 118), (81, 18, 124), (93, 23, 127), (106, 28, 129), (118, 33, 129),
        (131, 38, 129), (144, 42, 129), (156, 46, 127), (170, 51, 125), (183, 55, 121), (196, 60, 117),
        (208, 65, 111), (220, 72, 105), (231, 82, 99), (239, 93, 94), (245, 107, 92), (249, 121, 93),
        (252, 137, 97), (253, 152, 105), (254, 167, 114), (254, 182, 124), (254, 196, 136), (254, 211, 149),
        (253, 226, 163), (252, 240, 178), (252, 253, 191),
    ]

    static let viridisAnchors: [(UInt8, UInt8, UInt8)] = [
        (68, 1, 84), (71, 13, 96), (72, 24, 106), (72, 35, 116), (71, 45, 123), (69, 55, 129),
        (66, 64, 134), (62, 73, 137), (59, 82, 139), (55, 91, 141), (51, 99, 141), (47, 107, 142),
        (44, 114, 142), (41, 122, 142), (38, 130, 142), (35, 137, 142), (33, 145, 140), (31, 152, 139),
        (31, 160, 136), (34, 167, 133), (40, 174, 128), (50, 182, 122), (63, 188, 115), (78, 195, 107),
        (94, 201, 98), (112, 207, 87), (132, 212, 75), (152, 216, 62), (173, 220, 48), (194, 223, 35),
        (216, 226, 25), (236, 229, 27), (253, 231, 37),
    ]
}

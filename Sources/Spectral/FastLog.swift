/// log10(x) without a libm call, for the dB conversion of every mel value.
///
/// x = m * 2^e with m in [sqrt(1/2), sqrt(2)); then ln(m) = 2 atanh(s) with
/// s = (m - 1) / (m + 1), |s| <= 0.1716, summed to s^9 (the next term is below
/// 4e-10), and log10(x) = (e ln 2 + ln m) log10(e). The result is within 2e-7 of
/// Foundation's `log10` over the positive normal floats (checked in SpectralTests),
/// relative to max(1, |log10 x|), a few float32 ulps (2e-6 dB near 0 dB), and the loop it sits in vectorises, which a libm call prevents.
/// Subnormals, infinities and NaN take the libm path.
@inline(__always)
func fastLog10(_ x: Float) -> Float {
    guard x >= .leastNormalMagnitude && x < .infinity else { return log10(x) }
    return fastLog10Normal(x)
}

/// `fastLog10` for x known to be a positive, normal, finite float: no branch at all.
@inline(__always)
func fastLog10Normal(_ x: Float) -> Float {
    var exponent = Float(Int32(truncatingIfNeeded: x.bitPattern >> 23) - 127)
    var m = Float(bitPattern: (x.bitPattern & 0x007F_FFFF) | 0x3F80_0000)  // [1, 2)
    let high = m > 1.414_213_5  // fold [sqrt 2, 2) onto [sqrt(1/2), 1)
    m = high ? m * 0.5 : m
    exponent = high ? exponent + 1 : exponent
    let s = (m - 1) / (m + 1)
    let s2 = s * s
    let lnM = 2 * s * (1 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9)))))
    return (exponent * 0.693_147_18 + lnM) * 0.434_294_48
}

import Foundation

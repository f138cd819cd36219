import Layers
import Tensors
import XCTest

/// Checks a layer's backward against central finite differences.
///
/// The loss is L = sum(y * r) for a fixed random r, so dL/dy = r and the backward is fed r.
/// Every input and parameter coordinate is checked (up to `limit` per tensor, spread evenly).
/// The layers compute in Float32, so the differences use h = 1e-2 on inputs of order 1 and
/// compare with |analytic - numeric| <= 2e-3 + 2e-2 |numeric|: central differences are exact
/// to O(h^2) for smooth pieces, and the float32 loss carries a rounding error of about
/// 1e-6 |L| / h. Where a ReLU-like kink lies within h of the point, the difference quotient
/// means nothing; such coordinates show as a disagreement between h and h / 4 and are skipped
/// (`kinks`; a test of a composite model asserts that few are). The report gives `maxdiff`.
public func assertGradients(
    _ label: String, input: Tensor, parameters: [Parameter], seed: UInt64 = 1, limit: Int = 60,
    allowedKinks: Int = 0, file: StaticString = #filePath, line: UInt = #line,
    _ run: (Tensor) -> (output: Tensor, backward: (Tensor) -> Tensor)
) {
    var random = RandomNumbers(seed: seed)
    let first = run(input)
    let r = random.uniform(first.output.shape, low: -1, high: 1)
    for parameter in parameters { parameter.gradient.zero() }
    let dx = first.backward(r)
    let analytic = parameters.map(\.gradient)

    func loss(_ x: Tensor) -> Double {
        zip(run(x).output.values, r.values).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    let h: Float = 1e-2
    var maxDiff: Float = 0
    var x = input
    /// Compares analytic(i) with (L(+h) - L(-h)) / 2h for every `limit`-th coordinate, where
    /// `perturb(i, delta)` moves coordinate i of whatever is being differentiated.
    var kinks = 0
    func difference(_ i: Int, _ step: Float, _ perturb: (Int, Float) -> Void) -> Float {
        perturb(i, step)
        let plus = loss(x)
        perturb(i, -2 * step)
        let minus = loss(x)
        perturb(i, step)
        return Float((plus - minus) / Double(2 * step))
    }
    func check(_ what: String, count: Int, analytic: (Int) -> Float, perturb: (Int, Float) -> Void) {
        for i in stride(from: 0, to: count, by: max(1, count / limit)) {
            let numeric = difference(i, h, perturb)
            let diff = abs(analytic(i) - numeric)
            if diff > 2e-3 + 2e-2 * abs(numeric) {
                // A kink within h changes the quotient with the step; a wrong gradient does not.
                let finer = difference(i, h / 4, perturb)
                if abs(finer - numeric) > 1e-3 + 1e-2 * abs(numeric), kinks < allowedKinks {
                    kinks += 1
                    continue
                }
            }
            maxDiff = max(maxDiff, diff)
            if diff > 2e-3 + 2e-2 * abs(numeric) {
                XCTFail("\(label): d\(what)[\(i)] analytic \(analytic(i)) vs numeric \(numeric)", file: file, line: line)
                return
            }
        }
    }
    check("x", count: x.count, analytic: { dx.values[$0] }, perturb: { x.values[$0] += $1 })
    for (index, parameter) in parameters.enumerated() {
        check(parameter.name, count: parameter.value.count, analytic: { analytic[index].values[$0] },
              perturb: { parameter.value.values[$0] += $1 })
    }
    print("\(label): gradients match finite differences, maxdiff \(maxDiff)\(kinks > 0 ? ", \(kinks) coordinates at kinks skipped" : "")")
}

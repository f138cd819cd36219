import Layers
import Tensors
import TestSupport
import XCTest

/// Checks a layer's backward against central finite differences.
///
/// The loss is L = sum(y * r) for a fixed random r, so dL/dy = r and the backward is fed r.
/// Every input and parameter coordinate is checked (up to `limit` per tensor, spread evenly).
/// The layers compute in Float32, so the differences use h = 1e-2 on inputs of order 1 and
/// compare with |analytic - numeric| <= 2e-3 + 2e-2 |numeric|: central differences are exact
/// to O(h^2) for these smooth pieces (ReLU kinks are avoided by the inputs chosen), and the
/// float32 loss carries a rounding error of about 1e-6 |L| / h. The report gives `maxdiff`.
func assertGradients(
    _ label: String, input: Tensor, parameters: [Parameter], seed: UInt64 = 1, limit: Int = 60,
    file: StaticString = #filePath, line: UInt = #line,
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
    func check(_ what: String, count: Int, analytic: (Int) -> Float, perturb: (Int, Float) -> Void) {
        for i in stride(from: 0, to: count, by: max(1, count / limit)) {
            perturb(i, h)
            let plus = loss(x)
            perturb(i, -2 * h)
            let minus = loss(x)
            perturb(i, h)
            let numeric = Float((plus - minus) / Double(2 * h))
            let diff = abs(analytic(i) - numeric)
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
    print("\(label): gradients match finite differences, maxdiff \(maxDiff)")
}

import Foundation

/// The eigen-decomposition A = V diag(values) V^T of a real symmetric matrix `[D, D]` by
/// cyclic Jacobi rotations (Golub & Van Loan, section 8.5), in Double. Quadratic convergence:
/// a few sweeps of D^2 / 2 rotations for the covariance matrices of evaluation (D ~ 128).
struct SymmetricEigen {
    let dimension: Int
    /// Eigenvalues, in no particular order.
    let values: [Double]
    /// Eigenvectors as columns: `vectors[i * D + k]` is component i of eigenvector k.
    let vectors: [Double]

    init(_ matrix: [Double], dimension d: Int, maxSweeps: Int = 50) {
        precondition(matrix.count == d * d, "SymmetricEigen: \(matrix.count) values for [\(d), \(d)]")
        var a = matrix
        var v = [Double](repeating: 0, count: d * d)
        for i in 0..<d { v[i * d + i] = 1 }
        let scale = max(1e-300, a.reduce(0) { $0 + $1 * $1 }.squareRoot())
        for _ in 0..<maxSweeps {
            var offDiagonal = 0.0
            for p in 0..<d { for q in (p + 1)..<d { offDiagonal += a[p * d + q] * a[p * d + q] } }
            if offDiagonal.squareRoot() <= 1e-14 * scale { break }
            for p in 0..<d {
                for q in (p + 1)..<d where a[p * d + q] != 0 {
                    // The rotation that zeroes a[p][q]: t = tan(theta), the smaller root.
                    let theta = (a[q * d + q] - a[p * d + p]) / (2 * a[p * d + q])
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<d {  // A <- A J (columns p, q)
                        let (akp, akq) = (a[k * d + p], a[k * d + q])
                        a[k * d + p] = c * akp - s * akq
                        a[k * d + q] = s * akp + c * akq
                    }
                    for k in 0..<d {  // A <- J^T A (rows p, q)
                        let (apk, aqk) = (a[p * d + k], a[q * d + k])
                        a[p * d + k] = c * apk - s * aqk
                        a[q * d + k] = s * apk + c * aqk
                    }
                    for k in 0..<d {  // V <- V J
                        let (vkp, vkq) = (v[k * d + p], v[k * d + q])
                        v[k * d + p] = c * vkp - s * vkq
                        v[k * d + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        dimension = d
        values = (0..<d).map { a[$0 * d + $0] }
        vectors = v
    }

    /// f(A) = V diag(f(values)) V^T, e.g. the square root of a positive semi-definite matrix.
    func function(_ f: (Double) -> Double) -> [Double] {
        let d = dimension
        let mapped = values.map(f)
        var result = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in i..<d {
                var sum = 0.0
                for k in 0..<d { sum += vectors[i * d + k] * mapped[k] * vectors[j * d + k] }
                result[i * d + j] = sum
                result[j * d + i] = sum
            }
        }
        return result
    }
}

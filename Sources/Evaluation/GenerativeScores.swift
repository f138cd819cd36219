import BLAS
import Foundation

// Scores of a set of generated examples, from a classifier's view of them (its class
// probabilities and embeddings) and from the examples themselves. Matrices are row-major
// `[N, D]` in flat arrays: one row per example.

/// The Inception score (Salimans et al. 2016) over `splits` equal parts, as in Donahue et al.
/// 2019's SC09 evaluation: for each part exp(mean over x of KL(p(y|x) || p(y))) with p(y) the
/// part's mean prediction; returns the mean and the (population) standard deviation over parts.
/// Between 1 (every example judged alike, or every judgement uncertain) and K (confident,
/// and spread evenly over the K classes).
public func inceptionScore(probabilities p: [Float], classes k: Int, splits: Int = 10) -> (mean: Double, std: Double) {
    let n = p.count / k
    precondition(k >= 1 && n * k == p.count && splits >= 1 && n >= splits,
                 "inceptionScore: \(n) examples cannot make \(splits) splits")
    var scores: [Double] = []
    for part in 0..<splits {
        let rows = (n * part / splits)..<(n * (part + 1) / splits)
        var marginal = [Double](repeating: 0, count: k)
        for row in rows { for j in 0..<k { marginal[j] += Double(p[row * k + j]) / Double(rows.count) } }
        var divergence = 0.0
        for row in rows {
            for j in 0..<k where p[row * k + j] > 0 {
                let q = Double(p[row * k + j])
                divergence += q * (log(q) - log(marginal[j]))
            }
        }
        scores.append(exp(divergence / Double(rows.count)))
    }
    let mean = scores.reduce(0, +) / Double(splits)
    let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(splits)
    return (mean, variance.squareRoot())
}

/// Each row's most probable class (the first of equals), for probabilities `[N, K]` in rows.
public func mostProbableClasses(probabilities p: [Float], classes k: Int) -> [Int] {
    (0..<(p.count / k)).map { row in
        let slice = p[(row * k)..<((row + 1) * k)]
        return slice.indices.max { slice[$0] < slice[$1] }! - row * k
    }
}

/// How the examples' predicted labels (each row's most probable class) spread over the K
/// classes: the count per class and the distribution's entropy in bits (log2 K when even,
/// 0 when every example gets the same label).
public func labelDistribution(probabilities p: [Float], classes k: Int) -> (counts: [Int], entropyBits: Double) {
    let n = p.count / k
    var counts = [Int](repeating: 0, count: k)
    for label in mostProbableClasses(probabilities: p, classes: k) { counts[label] += 1 }
    let entropy = counts.reduce(0.0) { total, count in
        guard count > 0 else { return total }
        let q = Double(count) / Double(n)
        return total - q * log2(q)
    }
    return (counts, entropy)
}

/// The Frechet distance between Gaussians fitted to two sets of embeddings `[N, D]` and
/// `[M, D]` (Heusel et al. 2017's FID, on the given embeddings):
/// |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)).
/// tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of
/// S_a^(1/2) S_b S_a^(1/2), a symmetric matrix with the same eigenvalues; both square roots
/// come from symmetric eigen-decompositions, so no non-symmetric matrix square root is needed.
public func frechetDistance(_ a: [Float], _ b: [Float], dimension d: Int) -> Double {
    let (meanA, covarianceA) = gaussian(a, dimension: d)
    let (meanB, covarianceB) = gaussian(b, dimension: d)
    var distance = zip(meanA, meanB).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    for i in 0..<d { distance += covarianceA[i * d + i] + covarianceB[i * d + i] }
    let rootA = SymmetricEigen(covarianceA, dimension: d).function { $0 > 0 ? $0.squareRoot() : 0 }
    let product = multiply(multiply(rootA, covarianceB, d), rootA, d)
    let crossTrace = SymmetricEigen(product, dimension: d).values.reduce(0) { $0 + ($1 > 0 ? $1.squareRoot() : 0) }
    return max(0, distance - 2 * crossTrace)
}

/// Mean and covariance (divided by N - 1, as numpy.cov) of the rows of `[N, D]`.
func gaussian(_ x: [Float], dimension d: Int) -> (mean: [Double], covariance: [Double]) {
    let n = x.count / d
    precondition(n >= 2 && n * d == x.count, "gaussian: \(n) rows; need at least 2 of \(d) values")
    var mean = [Double](repeating: 0, count: d)
    for row in 0..<n { for j in 0..<d { mean[j] += Double(x[row * d + j]) } }
    for j in 0..<d { mean[j] /= Double(n) }
    var covariance = [Double](repeating: 0, count: d * d)
    var centred = [Double](repeating: 0, count: d)
    for row in 0..<n {
        for j in 0..<d { centred[j] = Double(x[row * d + j]) - mean[j] }
        for i in 0..<d where centred[i] != 0 {
            for j in i..<d { covariance[i * d + j] += centred[i] * centred[j] }
        }
    }
    for i in 0..<d {
        for j in i..<d {
            covariance[i * d + j] /= Double(n - 1)
            covariance[j * d + i] = covariance[i * d + j]
        }
    }
    return (mean, covariance)
}

func multiply(_ a: [Double], _ b: [Double], _ d: Int) -> [Double] {
    var c = [Double](repeating: 0, count: d * d)
    for i in 0..<d {
        for l in 0..<d where a[i * d + l] != 0 {
            let x = a[i * d + l]
            for j in 0..<d { c[i * d + j] += x * b[l * d + j] }
        }
    }
    return c
}

/// |queries[i] - references[j]| for rows of `d` values, in Double.
func exactDistance(_ queries: [Float], _ i: Int, _ references: [Float], _ j: Int, _ d: Int) -> Double {
    var sum = 0.0
    for k in 0..<d {
        let difference = Double(queries[i * d + k]) - Double(references[j * d + k])
        sum += difference * difference
    }
    return sum.squareRoot()
}

/// For each row of `queries` `[N, D]`, the Euclidean distance to its nearest row of
/// `references` `[M, D]`; with `excludingSelf` (queries and references the same set) a row
/// is not its own neighbour. Candidates come from |q|^2 + |r|^2 - 2 q.r with the products in
/// one sgemm per block of queries (memory stays at a block x M); the nearest four are measured
/// exactly.
public func nearestNeighbourDistances(_ queries: [Float], _ references: [Float], dimension d: Int,
                                      excludingSelf: Bool = false) -> [Float] {
    let (n, m) = (queries.count / d, references.count / d)
    precondition(m >= (excludingSelf ? 2 : 1), "nearestNeighbourDistances: \(m) references are too few")
    func squaredNorms(_ x: [Float], _ rows: Int) -> [Double] {
        (0..<rows).map { row in (0..<d).reduce(0.0) { $0 + Double(x[row * d + $1]) * Double(x[row * d + $1]) } }
    }
    let (queryNorms, referenceNorms) = (squaredNorms(queries, n), squaredNorms(references, m))
    var result = [Float](repeating: 0, count: n)
    let block = 256
    var products = [Float](repeating: 0, count: block * m)
    for start in stride(from: 0, to: n, by: block) {
        let rows = min(block, n - start)
        queries.withUnsafeBufferPointer { q in
            BLAS.sgemm(transposeB: true, m: rows, n: m, k: d, a: q.baseAddress! + start * d, b: references,
                       c: &products)
        }
        for r in 0..<rows {
            // The expansion loses precision when |q|^2 and |r|^2 are large next to their difference
            // (float products): it only picks the nearest few, whose distances are then exact.
            var candidates: [(estimate: Double, index: Int)] = []
            for j in 0..<m where !(excludingSelf && j == start + r) {
                let estimate = queryNorms[start + r] + referenceNorms[j] - 2 * Double(products[r * m + j])
                if candidates.count < 4 || estimate < candidates[candidates.count - 1].estimate {
                    if candidates.count == 4 { candidates.removeLast() }
                    let at = candidates.firstIndex { $0.estimate > estimate } ?? candidates.count
                    candidates.insert((estimate, j), at: at)
                }
            }
            result[start + r] = Float(candidates.map { exactDistance(queries, start + r, references, $0.index, d) }.min()!)
        }
    }
    return result
}

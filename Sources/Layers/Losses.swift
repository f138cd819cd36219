import Foundation
import Tensors

/// Losses: each returns the value and its gradient with respect to the prediction, for
/// the mean reduction stated (so a training step starts its backward from that gradient).
public enum Loss {
    /// Binary cross-entropy of logits x against targets t in [0, 1], mean over elements:
    /// max(x, 0) - x t + log(1 + e^-|x|), which never overflows; gradient (sigmoid(x) - t) / n.
    public static func binaryCrossEntropyWithLogits(_ logits: Tensor, targets: Tensor) -> (value: Float, gradient: Tensor) {
        precondition(logits.shape == targets.shape)
        let n = Float(logits.count)
        var total = 0.0
        var gradient = Tensor.zeros(like: logits)
        for i in 0..<logits.count {
            let (x, t) = (logits.values[i], targets.values[i])
            total += Double(max(x, 0) - x * t + log1p(exp(-abs(x))))
            gradient.values[i] = (stableSigmoid(x) - t) / n
        }
        return (Float(total / Double(n)), gradient)
    }

    /// Binary cross-entropy of logits against one target for every element.
    public static func binaryCrossEntropyWithLogits(_ logits: Tensor, target: Float) -> (value: Float, gradient: Tensor) {
        binaryCrossEntropyWithLogits(logits, targets: Tensor(shape: logits.shape, repeating: target))
    }

    /// Squared error summed over each sample's elements and averaged over the batch (the VAE's
    /// reconstruction term, as the reference benchmark); gradient 2 (y - t) / N.
    public static func squaredError(_ prediction: Tensor, _ target: Tensor) -> (value: Float, gradient: Tensor) {
        precondition(prediction.shape == target.shape)
        let batch = Float(prediction.shape.first ?? 1)
        var total = 0.0
        var gradient = Tensor.zeros(like: prediction)
        for i in 0..<prediction.count {
            let d = prediction.values[i] - target.values[i]
            total += Double(d * d)
            gradient.values[i] = 2 * d / batch
        }
        return (Float(total / Double(batch)), gradient)
    }

    /// Mean squared error over all elements; gradient 2 (y - t) / n.
    public static func meanSquaredError(_ prediction: Tensor, _ target: Tensor) -> (value: Float, gradient: Tensor) {
        let (sum, gradient) = squaredError(prediction, target)
        let perSample = Float(prediction.count) / Float(prediction.shape.first ?? 1)
        return (sum / perSample, Tensor(shape: gradient.shape, values: gradient.values.map { $0 / perSample }))
    }

    /// Mean absolute error over all elements; gradient sign(y - t) / n (0 where equal).
    public static func meanAbsoluteError(_ prediction: Tensor, _ target: Tensor) -> (value: Float, gradient: Tensor) {
        precondition(prediction.shape == target.shape)
        let n = Float(prediction.count)
        var total = 0.0
        var gradient = Tensor.zeros(like: prediction)
        for i in 0..<prediction.count {
            let d = prediction.values[i] - target.values[i]
            total += Double(abs(d))
            gradient.values[i] = d > 0 ? 1 / n : d < 0 ? -1 / n : 0
        }
        return (Float(total / Double(n)), gradient)
    }

    /// KL(N(mu, e^logvar) || N(0, 1)) summed over latent dimensions, averaged over the batch:
    /// -1/2 sum(1 + logvar - mu^2 - e^logvar) / N (Kingma & Welling 2014, appendix B).
    public static func gaussianKL(mean mu: Tensor, logVariance: Tensor) -> (value: Float, dMean: Tensor, dLogVariance: Tensor) {
        precondition(mu.shape == logVariance.shape)
        let batch = Float(mu.shape.first ?? 1)
        var total = 0.0
        var dMean = Tensor.zeros(like: mu), dLogVariance = Tensor.zeros(like: mu)
        for i in 0..<mu.count {
            let (m, l) = (mu.values[i], logVariance.values[i])
            total += Double(-0.5 * (1 + l - m * m - exp(l)))
            dMean.values[i] = m / batch
            dLogVariance.values[i] = 0.5 * (exp(l) - 1) / batch
        }
        return (Float(total / Double(batch)), dMean, dLogVariance)
    }

    /// Hinge loss for a discriminator (Lim & Ye 2017; Miyato et al. 2018):
    /// mean(relu(1 - D(real))) + mean(relu(1 + D(fake))).
    public static func hingeDiscriminator(real: Tensor, fake: Tensor) -> (value: Float, dReal: Tensor, dFake: Tensor) {
        let (nr, nf) = (Float(real.count), Float(fake.count))
        var total = 0.0
        var dReal = Tensor.zeros(like: real), dFake = Tensor.zeros(like: fake)
        for i in 0..<real.count where real.values[i] < 1 {
            total += Double(1 - real.values[i]) / Double(nr)
            dReal.values[i] = -1 / nr
        }
        for i in 0..<fake.count where fake.values[i] > -1 {
            total += Double(1 + fake.values[i]) / Double(nf)
            dFake.values[i] = 1 / nf
        }
        return (Float(total), dReal, dFake)
    }

    /// Softmax cross-entropy of logits `[N, K]` against class indices, mean over the batch:
    /// -log softmax(x_n)[y_n], computed as logsumexp(x_n) - x_n[y_n] with the row's maximum
    /// subtracted first (no overflow); gradient (softmax(x_n) - onehot(y_n)) / N.
    public static func softmaxCrossEntropy(_ logits: Tensor, labels: [Int]) -> (value: Float, gradient: Tensor) {
        precondition(logits.rank == 2 && logits.shape[0] == labels.count, "softmaxCrossEntropy: \(labels.count) labels for \(logits.shape)")
        let (n, k) = (logits.shape[0], logits.shape[1])
        var gradient = softmax(logits)
        var total = 0.0
        for row in 0..<n {
            let label = labels[row]
            precondition((0..<k).contains(label), "softmaxCrossEntropy: label \(label) outside 0..<\(k)")
            let rowLogits = logits.values[(row * k)..<((row + 1) * k)]
            let top = rowLogits.max()!
            total += log(rowLogits.reduce(0.0) { $0 + exp(Double($1 - top)) }) + Double(top) - Double(rowLogits[row * k + label])
            for j in 0..<k { gradient.values[row * k + j] /= Float(n) }
            gradient.values[row * k + label] -= 1 / Float(n)
        }
        return (Float(total / Double(n)), gradient)
    }

    /// Each row of `[N, K]` logits as probabilities (max subtracted before exp).
    public static func softmax(_ logits: Tensor) -> Tensor {
        precondition(logits.rank == 2, "softmax: logits \(logits.shape), expected [N, K]")
        let (n, k) = (logits.shape[0], logits.shape[1])
        var p = logits
        for row in 0..<n {
            let range = (row * k)..<((row + 1) * k)
            let top = p.values[range].max() ?? 0
            var sum: Float = 0
            for i in range { p.values[i] = exp(p.values[i] - top); sum += p.values[i] }
            for i in range { p.values[i] /= sum }
        }
        return p
    }

    /// Hinge loss for a generator: -mean(D(fake)).
    public static func hingeGenerator(fake: Tensor) -> (value: Float, gradient: Tensor) {
        let n = Float(fake.count)
        return (-fake.values.reduce(0, +) / n, Tensor(shape: fake.shape, repeating: -1 / n))
    }
}

/// The reparameterisation trick (Kingma & Welling 2014): z = mu + e^(logvar / 2) eps with
/// eps ~ N(0, 1), so that z is differentiable in mu and logvar.
public enum Reparameterization {
    public static func sample(mean mu: Tensor, logVariance: Tensor, noise eps: Tensor) -> Tensor {
        precondition(mu.shape == logVariance.shape && mu.shape == eps.shape)
        return Tensor(shape: mu.shape, values: (0..<mu.count).map { i in
            mu.values[i] + exp(0.5 * logVariance.values[i]) * eps.values[i]
        })
    }

    /// dL/dmu = dz;  dL/dlogvar = dz eps e^(logvar / 2) / 2.
    public static func backward(_ dz: Tensor, logVariance: Tensor, noise eps: Tensor) -> (dMean: Tensor, dLogVariance: Tensor) {
        (dz, Tensor(shape: dz.shape, values: (0..<dz.count).map { i in
            dz.values[i] * eps.values[i] * 0.5 * exp(0.5 * logVariance.values[i])
        }))
    }
}

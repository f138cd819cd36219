import Layers
import Optimizers
import Tensors

/// The loss a GAN trains with.
public enum GANLoss: String, Codable, CaseIterable, Sendable {
    /// Non-saturating binary cross-entropy (Goodfellow et al. 2014; DCGAN's).
    case bce
    /// Hinge (Lim & Ye 2017), used with spectral normalisation in the discriminator
    /// (Miyato et al. 2018): the stable choice for spectrograms.
    case hinge
}

/// One DCGAN training step: a discriminator update (real images against generated ones, the
/// generator's output taken as data) then a generator update (the gradient flowing through D
/// without changing it). With `.bce` it is the reference benchmark's step.
public final class GANTrainer {
    public let generator: Generator
    public let discriminator: Discriminator
    public let generatorOptimizer: Adam
    public let discriminatorOptimizer: Adam
    public let loss: GANLoss
    /// Differentiable augmentation of every image the discriminator sees (none: nil).
    public let augmentation: SpectrogramAugmentation?

    /// `discriminatorLearningRate`: the discriminator's own (the two time-scale update rule,
    /// Heusel et al. 2017); nil for `learningRate`.
    public init(generator: Generator, discriminator: Discriminator, loss: GANLoss = .bce, learningRate: Float = 2e-4,
                discriminatorLearningRate: Float? = nil, beta1: Float = 0.5, beta2: Float = 0.999,
                augmentation: SpectrogramAugmentation? = nil) {
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.augmentation = augmentation
        generatorOptimizer = Adam(parameters: generator.parameters, learningRate: learningRate, beta1: beta1, beta2: beta2)
        discriminatorOptimizer = Adam(parameters: discriminator.parameters, learningRate: discriminatorLearningRate ?? learningRate,
                                      beta1: beta1, beta2: beta2)
    }

    /// `images` as the discriminator sees them, and the draws that made them (nil: not
    /// augmented); the draws are made for the whole batch and this share's kept.
    func augmented(_ images: Tensor, share: BatchShare, random: inout RandomNumbers)
        -> (Tensor, [SpectrogramAugmentation.Draw]?) {
        guard let augmentation else { return (images, nil) }
        let draws = Array(augmentation.draw(count: share.total, bands: images.shape[2], frames: images.shape[3],
                                            random: &random)[share.rows])
        return (augmentation.apply(images, draws: draws), draws)
    }

    /// Returns the discriminator's and the generator's loss. A conditional pair takes the real
    /// images' `labels` (`classes` of them); its fakes get random labels.
    ///
    /// In a data-parallel job (`Replicas`) `real` and `labels` are this process's `share` of
    /// the batch: the latents and fake labels are drawn for the whole batch and this share
    /// kept, every mean is weighed by the share's size, and the gradients are summed over the
    /// processes before each update; the losses returned are the whole batch's.
    public func step(real: Tensor, labels: [Int]? = nil, classes: Int = 0, share: BatchShare? = nil,
                     random: inout RandomNumbers) -> (discriminator: Float, generator: Float) {
        let share = share ?? .whole(real.shape[0])
        precondition(share.rows.count == real.shape[0], "GANTrainer: \(real.shape[0]) real images for rows \(share.rows)")
        func fakeLabels() -> [Int]? {
            labels == nil ? nil : share.rows(of: (0..<share.total).map { _ in Int(random.next() % UInt64(max(1, classes))) })
        }
        func latents() -> Tensor { share.rows(of: random.normal([share.total, generator.latentSize])) }
        // 1. Discriminator: BCE(D(real), 1) + BCE(D(G(z1)), 0), or the hinge loss.
        let labels1 = fakeLabels()
        let (fake, _) = generator.forward(latents(), labels: labels1, training: true)
        discriminator.zeroGradients()
        let (realSeen, _) = augmented(real, share: share, random: &random)
        let (fakeSeen, _) = augmented(fake, share: share, random: &random)
        let (realLogits, realCache) = discriminator.forward(realSeen, labels: labels)
        let (fakeLogits, fakeCache) = discriminator.forward(fakeSeen, labels: labels1)
        var discriminatorLoss: Float
        switch loss {
        case .bce:
            let realLoss = Loss.binaryCrossEntropyWithLogits(realLogits, target: 1)
            let fakeLoss = Loss.binaryCrossEntropyWithLogits(fakeLogits, target: 0)
            _ = discriminator.backward(realLoss.gradient.scaled(by: share.weight), cache: realCache, parameterGradients: true,
                                       inputGradient: false)
            _ = discriminator.backward(fakeLoss.gradient.scaled(by: share.weight), cache: fakeCache, parameterGradients: true,
                                       inputGradient: false)
            discriminatorLoss = realLoss.value + fakeLoss.value
        case .hinge:
            let hinge = Loss.hingeDiscriminator(real: realLogits, fake: fakeLogits)
            _ = discriminator.backward(hinge.dReal.scaled(by: share.weight), cache: realCache, parameterGradients: true,
                                       inputGradient: false)
            _ = discriminator.backward(hinge.dFake.scaled(by: share.weight), cache: fakeCache, parameterGradients: true,
                                       inputGradient: false)
            discriminatorLoss = hinge.value
        }
        Replicas.sumGradients(discriminator.parameters)
        discriminatorOptimizer.update()

        // 2. Generator: BCE(D(G(z2)), 1) or -mean(D(G(z2))); only G changes.
        generator.zeroGradients()
        let labels2 = fakeLabels()
        let (images, generatorCache) = generator.forward(latents(), labels: labels2, training: true)
        let (seen, draws) = augmented(images, share: share, random: &random)
        let (logits, cache) = discriminator.forward(seen, labels: labels2, training: false)
        let generatorLoss = loss == .bce ? Loss.binaryCrossEntropyWithLogits(logits, target: 1) : Loss.hingeGenerator(fake: logits)
        let dSeen = discriminator.backward(generatorLoss.gradient.scaled(by: share.weight), cache: cache,
                                           parameterGradients: false)
        generator.backward(draws.map { augmentation!.backward(dSeen, draws: $0) } ?? dSeen, cache: generatorCache)
        Replicas.sumGradients(generator.parameters)
        generatorOptimizer.update()
        guard Replicas.reducer != nil else { return (discriminatorLoss, generatorLoss.value) }
        let losses = Replicas.sum([Double(discriminatorLoss * share.weight), Double(generatorLoss.value * share.weight)])
        discriminatorLoss = Float(losses[0])
        return (discriminatorLoss, Float(losses[1]))
    }
}

/// One VAE training step: squared error summed over pixels and averaged over the batch,
/// plus beta times the KL term (averaged over the batch).
public final class VAETrainer {
    public let model: ConvVAE
    public let optimizer: Adam
    public var beta: Float

    public init(model: ConvVAE, learningRate: Float = 2e-4, beta1: Float = 0.5, beta2: Float = 0.999, beta: Float = 1) {
        self.model = model
        self.beta = beta
        optimizer = Adam(parameters: model.parameters, learningRate: learningRate, beta1: beta1, beta2: beta2)
    }

    /// Returns the reconstruction and the KL term. In a data-parallel job `images` and
    /// `labels` are this process's `share` of the batch (as `GANTrainer.step`).
    public func step(images: Tensor, labels: [Int]? = nil, share: BatchShare? = nil,
                     random: inout RandomNumbers) -> (reconstruction: Float, kl: Float) {
        let share = share ?? .whole(images.shape[0])
        precondition(share.rows.count == images.shape[0], "VAETrainer: \(images.shape[0]) images for rows \(share.rows)")
        model.zeroGradients()
        let (mu, logVariance, encoderCache) = model.encode(images, labels: labels)
        let noise = share.rows(of: random.normal([share.total] + Array(mu.shape.dropFirst())))
        let z = Reparameterization.sample(mean: mu, logVariance: logVariance, noise: noise)
        let (reconstruction, decoderCache) = model.decode(z, labels: labels)
        let error = Loss.squaredError(reconstruction, images)
        let dz = model.decoderBackward(error.gradient.scaled(by: share.weight), cache: decoderCache)
        var (dMean, dLogVariance) = Reparameterization.backward(dz, logVariance: logVariance, noise: noise)
        let kl = Loss.gaussianKL(mean: mu, logVariance: logVariance)
        let klWeight = beta * share.weight
        for i in 0..<dMean.count {
            dMean.values[i] += klWeight * kl.dMean.values[i]
            dLogVariance.values[i] += klWeight * kl.dLogVariance.values[i]
        }
        model.encoderBackward(dMean: dMean, dLogVariance: dLogVariance, cache: encoderCache, inputGradient: false)
        Replicas.sumGradients(model.parameters)
        optimizer.update()
        guard Replicas.reducer != nil else { return (error.value, kl.value) }
        let losses = Replicas.sum([Double(error.value * share.weight), Double(kl.value * share.weight)])
        return (Float(losses[0]), Float(losses[1]))
    }
}

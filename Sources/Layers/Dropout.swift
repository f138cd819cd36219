import Tensors

/// Inverted dropout (Srivastava et al. 2014): in training each value is kept with
/// probability 1 - rate and scaled by 1 / (1 - rate), else zeroed, so evaluation needs no
/// rescaling; in evaluation it is the identity. The cache is the mask (0 or the scale).
public struct Dropout: Sendable {
    public let rate: Float

    public init(rate: Float) {
        precondition(rate >= 0 && rate < 1, "Dropout: rate \(rate) outside [0, 1)")
        self.rate = rate
    }

    /// In a data-parallel job `x` is this process's `share` of the batch: the mask is drawn
    /// for the whole batch (the same on every process) and this share kept.
    public func forward(_ x: Tensor, training: Bool, share: BatchShare? = nil,
                        random: inout RandomNumbers) -> (output: Tensor, cache: Tensor?) {
        guard training && rate > 0 else { return (x, nil) }
        let scale = 1 / (1 - rate)
        let share = share ?? .whole(x.shape[0])
        let whole = [share.total] + Array(x.shape.dropFirst())
        let mask = share.rows(of: Tensor(shape: whole, values: (0..<(x.count / max(1, x.shape[0]) * share.total)).map { _ in
            random.uniform() < rate ? 0 : scale
        }))
        return (Tensor(shape: x.shape, values: zip(x.values, mask.values).map(*)), mask)
    }

    public func backward(_ dy: Tensor, cache mask: Tensor?) -> Tensor {
        guard let mask else { return dy }
        return Tensor(shape: dy.shape, values: zip(dy.values, mask.values).map(*))
    }
}

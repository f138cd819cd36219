import Tensors

/// A layer of one weight and an optional bias, named "weight" and "bias" (PyTorch's names).
public protocol WeightAndBias: Module {
    var weight: Parameter { get }
    var bias: Parameter? { get }
}

extension WeightAndBias {
    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }
}

/// A weight of `weightShape` and (with `biasCount`) a bias, uniform in +-1/sqrt(fanIn) (PyTorch's
/// default), drawn in that order.
func uniformParameters(weightShape: [Int], fanIn: Int, biasCount: Int?,
                       random: inout RandomNumbers) -> (weight: Parameter, bias: Parameter?) {
    let bound = 1 / Float(fanIn).squareRoot()
    let weight = Parameter("weight", random.uniform(weightShape, low: -bound, high: bound))
    return (weight, biasCount.map { Parameter("bias", random.uniform([$0], low: -bound, high: bound)) })
}

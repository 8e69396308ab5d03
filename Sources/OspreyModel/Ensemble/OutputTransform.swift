#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How raw margins become the library's default prediction.
public enum OutputTransform: Sendable, Equatable {
    /// The margin itself (regression, ranking, `binary:logitraw`).
    case identity
    /// `1 / (1 + exp(-scale·x))` (binary classification, cross-entropy).
    case sigmoid(scale: Double)
    /// `exp(x)` (Poisson, gamma, Tweedie, Cox).
    case exponential
    /// `exp(x)` computed in `Double` even where the library otherwise works in
    /// `Float` (XGBoost `survival:aft`), then rounded to the library's precision.
    case exponentialInDouble
    /// Softmax across the outputs (multiclass probabilities).
    case softmax
    /// The index of the largest margin (XGBoost `multi:softmax`).
    case argmax
    /// A sigmoid per output (LightGBM `multiclassova`).
    case sigmoidPerOutput(scale: Double)
    /// `x > 0 ? 1 : 0` (XGBoost `binary:hinge`).
    case hinge
    /// `log(1 + exp(x))` (LightGBM `cross_entropy_lambda`).
    case softplus
    /// `sign(x)·x²` (LightGBM regression trained with `reg_sqrt`).
    case signedSquare

    /// How many values the transform writes for `outputs` margins.
    public func predictionCount(outputs: Int) -> Int {
        self == .argmax ? 1 : outputs
    }
}

/// The arithmetic a library uses for margins and transforms.
enum MarginPrecision: Sendable {
    /// XGBoost accumulates and transforms in `Float`.
    case float32
    /// LightGBM works in `Double`.
    case float64
}

extension OutputTransform {
    /// Writes the prediction for `margins` into `out`, in the library's own precision.
    func apply(_ margins: UnsafeBufferPointer<Double>, into out: UnsafeMutableBufferPointer<Double>, precision: MarginPrecision) {
        switch precision {
        case .float64: applyDouble(margins, into: out)
        case .float32: applyFloat(margins, into: out)
        }
    }

    private func applyDouble(_ m: UnsafeBufferPointer<Double>, into out: UnsafeMutableBufferPointer<Double>) {
        switch self {
        case .identity:
            for i in m.indices { out[i] = m[i] }
        case .sigmoid(let scale), .sigmoidPerOutput(let scale):
            for i in m.indices { out[i] = 1.0 / (1.0 + exp(-scale * m[i])) }
        case .exponential, .exponentialInDouble:
            for i in m.indices { out[i] = exp(m[i]) }
        case .softmax:
            var top = -Double.infinity
            for x in m { top = max(top, x) }
            var sum = 0.0
            for i in m.indices { let e = exp(m[i] - top); out[i] = e; sum += e }
            for i in m.indices { out[i] /= sum }
        case .argmax:
            var best = 0
            for i in m.indices where m[i] > m[best] { best = i }
            out[0] = Double(best)
        case .hinge:
            for i in m.indices { out[i] = m[i] > 0 ? 1 : 0 }
        case .softplus:
            for i in m.indices { out[i] = log1p(exp(m[i])) }
        case .signedSquare:
            for i in m.indices { let x = m[i]; out[i] = (x > 0 ? 1 : (x < 0 ? -1 : 0)) * x * x }
        }
    }

    private func applyFloat(_ m: UnsafeBufferPointer<Double>, into out: UnsafeMutableBufferPointer<Double>) {
        switch self {
        case .identity:
            for i in m.indices { out[i] = Double(Float(m[i])) }
        case .sigmoid(let scale), .sigmoidPerOutput(let scale):
            let s = Float(scale)
            for i in m.indices { out[i] = Double(1.0 / (1.0 + expf(-s * Float(m[i])))) }
        case .exponential:
            for i in m.indices { out[i] = Double(expf(Float(m[i]))) }
        case .exponentialInDouble:
            for i in m.indices { out[i] = Double(Float(exp(Double(Float(m[i]))))) }
        case .softmax:
            var top = -Float.infinity
            for x in m { top = max(top, Float(x)) }
            // XGBoost (common::Softmax) adds the Float exponentials in a double, then divides by it rounded to Float.
            var sum: Double = 0
            // `out` holds the Float exponentials until the sum is known: no allocation per row.
            for i in m.indices { let e = expf(Float(m[i]) - top); out[i] = Double(e); sum += Double(e) }
            let total = Float(sum)
            for i in m.indices { out[i] = Double(Float(out[i]) / total) }
        case .argmax:
            var best = 0
            for i in m.indices where Float(m[i]) > Float(m[best]) { best = i }
            out[0] = Double(best)
        case .hinge:
            for i in m.indices { out[i] = Float(m[i]) > 0 ? 1 : 0 }
        case .softplus:
            for i in m.indices { out[i] = Double(log1pf(expf(Float(m[i])))) }
        case .signedSquare:
            for i in m.indices { let x = Float(m[i]); out[i] = Double((x > 0 ? 1 : (x < 0 ? -1 : 0)) * x * x) }
        }
    }
}

import OspreyFeatures
import OspreyModel

/// Checks that a model can score an event type's feature vectors.
public enum ModelCheck {
    /// The problems, empty when the model fits: one output, and the feature
    /// names (or, for a model without names, the count) equal to the spec's, in order.
    public static func problems(model: GradientBoostedModel, eventType: EventTypeSpec) -> [String] {
        var problems: [String] = []
        if model.predictionCount != 1 {
            problems.append("the model gives \(model.predictionCount) values per row; osprey run needs one score (binary or regression)")
        }
        let expected = eventType.featureNames
        let names = model.featureNames
        if names.isEmpty || names.allSatisfy({ $0.isEmpty }) {
            if model.featureCount != expected.count {
                problems.append("the model has \(model.featureCount) unnamed features; the spec of '\(eventType.name)' has \(expected.count)")
            }
        } else if names != expected {
            let missing = expected.filter { !names.contains($0) }
            let extra = names.filter { !expected.contains($0) }
            var detail: [String] = []
            if !missing.isEmpty { detail.append("missing from the model: \(missing.joined(separator: ", "))") }
            if !extra.isEmpty { detail.append("not in the spec: \(extra.joined(separator: ", "))") }
            if missing.isEmpty && extra.isEmpty {
                let first = zip(names, expected).enumerated().first { $1.0 != $1.1 }!
                detail.append("same names in another order (position \(first.offset): model '\(first.element.0)', spec '\(first.element.1)')")
            }
            problems.append("the model's features do not match the spec of '\(eventType.name)': \(detail.joined(separator: "; "))")
        }
        return problems
    }
}

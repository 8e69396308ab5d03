import OspreyFeatures
import OspreyModel

/// Writes the decision record of one event, as described by
/// `Topics/decisions.schema.json`.
///
/// The parts that are the same in every record of the type (its name, the
/// entity field, each feature's key) are encoded once, here, and copied into
/// each record; a class, so the stream hands it over without copying them.
final class DecisionRecordWriter {
    let includeFeatures: Bool
    /// `,"event_type":…,"entity_field":…,"entity":`
    let typeAndEntityKey: [UInt8]
    /// Per feature, its key in the `features` object (`"name":`, after a comma
    /// for all but the first).
    let featureKeys: [[UInt8]]

    init(eventType: String, entityField: String, featureNames: [String], includeFeatures: Bool) {
        self.includeFeatures = includeFeatures
        var json = JSONText(capacity: 64)
        json.raw(",\"event_type\":")
        json.string(eventType)
        json.raw(",\"entity_field\":")
        json.string(entityField)
        json.raw(",\"entity\":")
        typeAndEntityKey = json.bytes
        featureKeys = featureNames.enumerated().map { i, name in
            var key = JSONText(capacity: name.utf8.count + 4)
            if i > 0 { key.raw(",") }
            key.string(name)
            key.raw(":")
            return key.bytes
        }
    }

    struct Source {
        var topic: String
        var partition: Int32
        var offset: Int64
    }

    /// Writes the record; `verdict` says who decided (`decidedBy` is its
    /// text: "model", "rule:NAME" or "fallback") and what a shadow model said.
    func write(
        into json: inout JSONText, eventID: String, entity: String, verdict: Verdict, decision: String, decidedBy: String,
        shadowDecision: String?, reasons: ArraySlice<ReasonCode>, vector: FeatureVector, processedAt: Int64, latencyMicros: Int64, source: Source
    ) {
        json.bytes.removeAll(keepingCapacity: true)
        json.raw("{\"event_id\":")
        json.string(eventID)
        json.bytes.append(contentsOf: typeAndEntityKey)
        json.string(entity)
        json.raw(",\"score\":")
        if let decider = verdict.decider {
            json.number(verdict.score)
            json.raw(",\"decision\":")
            json.string(decision)
            json.raw(",\"model_version\":")
            json.string(decider.version)
        } else {
            json.raw("null,\"decision\":")
            json.string(decision)
            json.raw(",\"model_version\":null")
        }
        json.raw(",\"decided_by\":")
        json.string(decidedBy)
        if verdict.canary { json.raw(",\"canary\":true") }
        if let shadow = verdict.shadow, let shadowDecision {
            json.raw(",\"shadow\":{\"model_version\":")
            json.string(shadow.version)
            json.raw(",\"score\":")
            json.number(verdict.shadowScore)
            json.raw(",\"decision\":")
            json.string(shadowDecision)
            json.raw("}")
        }
        json.raw(",\"reasons\":[")
        for (i, reason) in reasons.enumerated() {
            if i > 0 { json.raw(",") }
            json.raw("{\"feature\":")
            json.string(reason.feature)
            json.raw(",\"contribution\":")
            json.number(reason.contribution)
            json.raw(",\"value\":")
            json.number(vector.values[reason.featureIndex])
            json.raw("}")
        }
        json.raw("],\"event_time\":")
        json.integer(vector.eventTime)
        json.raw(",\"processed_at\":")
        json.integer(processedAt)
        json.raw(",\"processing_latency_us\":")
        json.integer(latencyMicros)
        json.raw(",\"late\":")
        json.bool(vector.late)
        json.raw(",\"lag_ms\":")
        json.integer(vector.lag)
        json.raw(",\"stream_time\":")
        json.integer(vector.streamTime)
        json.raw(",\"source\":{\"topic\":")
        json.string(source.topic)
        json.raw(",\"partition\":")
        json.integer(Int64(source.partition))
        json.raw(",\"offset\":")
        json.integer(source.offset)
        json.raw("}")
        if includeFeatures {
            json.raw(",\"features\":{")
            for i in featureKeys.indices {
                json.bytes.append(contentsOf: featureKeys[i])
                json.number(vector.values[i])
            }
            json.raw("}")
        }
        json.raw("}")
    }
}

/// What decided one event, and what a second model said about it.
struct Verdict {
    /// The model that scored for the decision (nil: none loaded).
    var decider: LoadedModel?
    /// Its score (NaN without a decider).
    var score: Double = .nan
    /// The outcome, by position in the policy's outcomes.
    var outcome = 0
    /// Who decided: ``Verdict/byModel``, ``Verdict/byFallback``, or a rule's index.
    var source = Verdict.byModel
    /// The challenger decided (canary).
    var canary = false
    /// The other model of the lineup, scored on the same vector.
    var shadow: LoadedModel?
    var shadowScore: Double = .nan
    /// The shadow score's outcome under the thresholds.
    var shadowOutcome = 0

    static let byModel = -1
    static let byFallback = -2
}

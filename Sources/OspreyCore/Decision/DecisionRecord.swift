import OspreyFeatures
import OspreyModel

/// Writes the decision record of one event, as described by
/// `Topics/decisions.schema.json`.
struct DecisionRecordWriter {
    let eventType: String
    let entityField: String
    let featureNames: [String]
    let modelVersion: String
    let includeFeatures: Bool

    struct Source {
        var topic: String
        var partition: Int32
        var offset: Int64
    }

    func write(
        into json: inout JSONText, eventID: String, entity: String, score: Double, decision: String,
        reasons: ArraySlice<ReasonCode>, vector: FeatureVector, processedAt: Int64, latencyMicros: Int64, source: Source
    ) {
        json.bytes.removeAll(keepingCapacity: true)
        json.raw("{\"event_id\":")
        json.string(eventID)
        json.raw(",\"event_type\":")
        json.string(eventType)
        json.raw(",\"entity_field\":")
        json.string(entityField)
        json.raw(",\"entity\":")
        json.string(entity)
        json.raw(",\"score\":")
        json.number(score)
        json.raw(",\"decision\":")
        json.string(decision)
        json.raw(",\"model_version\":")
        json.string(modelVersion)
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
            for (i, name) in featureNames.enumerated() {
                if i > 0 { json.raw(",") }
                json.string(name)
                json.raw(":")
                json.number(vector.values[i])
            }
            json.raw("}")
        }
        json.raw("}")
    }
}

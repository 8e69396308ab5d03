import Foundation
import OspreyCore

/// Renders the published status in the Prometheus text exposition format
/// (version 0.0.4): `osprey_` prefix, `_total` counters, base units.
enum PrometheusText {
    static func render(_ s: StreamStatus, requests: RequestMetrics.Snapshot) -> String {
        var out = ""
        func help(_ name: String, _ type: String, _ text: String) {
            out += "# HELP \(name) \(text)\n# TYPE \(name) \(type)\n"
        }
        func label(_ v: String) -> String {
            var e = ""
            for c in v { switch c { case "\\": e += "\\\\"; case "\"": e += "\\\""; case "\n": e += "\\n"; default: e.append(c) } }
            return e
        }
        func number(_ d: Double) -> String { d.isNaN ? "NaN" : d.isInfinite ? (d > 0 ? "+Inf" : "-Inf") : "\(d)" }
        func histogram(_ name: String, _ h: Histogram, labels: String = "") {
            var cumulative: UInt64 = 0
            let prefix = labels.isEmpty ? "" : labels + ","
            for (i, bound) in h.bounds.enumerated() {
                cumulative += h.counts[i]
                out += "\(name)_bucket{\(prefix)le=\"\(number(bound))\"} \(cumulative)\n"
            }
            out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(h.total)\n"
            let l = labels.isEmpty ? "" : "{\(labels)}"
            out += "\(name)_sum\(l) \(number(h.sum))\n\(name)_count\(l) \(h.total)\n"
        }

        help("osprey_up", "gauge", "1 while the stream loop runs.")
        out += "osprey_up \(s.running ? 1 : 0)\n"
        help("osprey_ready", "gauge", "1 when /readyz answers 200.")
        out += "osprey_ready \(s.isReady ? 1 : 0)\n"
        help("osprey_broker_reachable", "gauge", "0 while librdkafka reports the brokers unreachable (retrying with backoff).")
        out += "osprey_broker_reachable \(s.brokerTrouble == nil ? 1 : 0)\n"
        help("osprey_model_info", "gauge", "The serving models, by role (live, shadow, canary).")
        for m in s.models {
            out += "osprey_model_info{role=\"\(m.role)\",version=\"\(label(m.version))\",trees=\"\(m.trees)\"} 1\n"
        }
        help("osprey_model_loaded", "gauge", "1 when a live model is loaded (else rules and the fallback decide).")
        out += "osprey_model_loaded \(s.modelVersion.isEmpty ? 0 : 1)\n"
        help("osprey_canary_fraction", "gauge", "Share of entities the canary model decides for.")
        out += "osprey_canary_fraction \(number(s.canaryFraction))\n"
        help("osprey_model_changes_total", "counter", "Model lineups installed (start-up, reloads, deploys, promotes, rollbacks).")
        out += "osprey_model_changes_total \(s.modelChanges)\n"
        help("osprey_events_consumed_total", "counter", "Events consumed, per input partition.")
        for (tp, n) in s.consumed.sorted(by: { $0.key < $1.key }) {
            let (topic, partition) = split(tp)
            out += "osprey_events_consumed_total{topic=\"\(label(topic))\",partition=\"\(partition)\"} \(n)\n"
        }
        help("osprey_invalid_events_total", "counter", "Events sent to the dead-letter topic, per reason.")
        for (reason, n) in s.deadLetters.sorted(by: { $0.key < $1.key }) {
            out += "osprey_invalid_events_total{reason=\"\(label(reason))\"} \(n)\n"
        }
        func decisionCounts(_ name: String, _ counts: [StreamStatus.DecisionKey: UInt64]) {
            for (key, n) in counts.sorted(by: { ($0.key.version, $0.key.outcome) < ($1.key.version, $1.key.outcome) }) {
                out += "\(name){decision=\"\(label(key.outcome))\",model_version=\"\(label(key.version))\"} \(n)\n"
            }
        }
        help("osprey_decisions_total", "counter", "Decisions published, per outcome and deciding model version (none: fallback without a model).")
        decisionCounts("osprey_decisions_total", s.decisions)
        help("osprey_shadow_decisions_total", "counter", "Outcomes the non-deciding model of the lineup would have given, per its version.")
        decisionCounts("osprey_shadow_decisions_total", s.shadowDecisions)
        help("osprey_decision_source_total", "counter", "Decisions by what decided: model, rule:NAME, or fallback (no model could score).")
        for (source, n) in s.decisionSources.sorted(by: { $0.key < $1.key }) {
            out += "osprey_decision_source_total{source=\"\(label(source))\"} \(n)\n"
        }
        help("osprey_drift_psi", "gauge", "Population stability index of the live model's score and features against its training reference, over the drift window (> 0.2: significant shift).")
        for d in s.drift {
            out += "osprey_drift_psi{model_version=\"\(label(d.version))\",series=\"\(label(d.series))\"} \(number(d.psi))\n"
        }
        help("osprey_drift_window_events", "gauge", "Events in the drift window (PSI is published from 100).")
        out += "osprey_drift_window_events \(s.driftWindowEvents)\n"
        help("osprey_late_events_total", "counter", "Events later than the allowed lateness (scored, state unchanged).")
        out += "osprey_late_events_total \(s.lateEvents)\n"
        help("osprey_score", "histogram", "Scores of published decisions.")
        histogram("osprey_score", s.score)
        help("osprey_processing_latency_seconds", "histogram", "From consuming an event to enqueuing its decision.")
        histogram("osprey_processing_latency_seconds", s.processingSeconds)
        help("osprey_end_to_end_latency_seconds", "histogram", "From an event's time to its decision.")
        histogram("osprey_end_to_end_latency_seconds", s.endToEndSeconds)
        help("osprey_consumer_lag", "gauge", "Events behind the partition's end.")
        for (tp, lag) in s.lag.sorted(by: { $0.key < $1.key }) {
            let (topic, partition) = split(tp)
            out += "osprey_consumer_lag{topic=\"\(label(topic))\",partition=\"\(partition)\"} \(lag)\n"
        }
        help("osprey_assigned_partitions", "gauge", "Input partitions assigned to this instance.")
        out += "osprey_assigned_partitions \(s.assigned)\n"
        help("osprey_producer_queue_messages", "gauge", "Messages waiting for the broker's acknowledgement.")
        out += "osprey_producer_queue_messages \(s.producerQueue)\n"
        help("osprey_delivery_errors_total", "counter", "Messages the broker did not accept.")
        out += "osprey_delivery_errors_total \(s.deliveryFailures)\n"
        help("osprey_output_replays_total", "counter", "Times the stream replayed from its checkpoints because output was lost.")
        out += "osprey_output_replays_total \(s.outputReplays)\n"
        help("osprey_checkpoints_total", "counter", "Checkpoints written.")
        out += "osprey_checkpoints_total \(s.checkpoints)\n"
        help("osprey_checkpoint_duration_seconds", "histogram", "Time to encode, write and fsync one partition's checkpoint.")
        histogram("osprey_checkpoint_duration_seconds", s.checkpointSeconds)
        help("osprey_checkpoint_size_bytes", "gauge", "Size of the last checkpoint written.")
        out += "osprey_checkpoint_size_bytes \(s.lastCheckpointBytes)\n"
        help("osprey_checkpoint_age_seconds", "gauge", "Seconds since the last checkpoint was written (0: none yet).")
        let age = s.lastCheckpointAt == 0 ? 0 : max(0, Double(Int64(Date().timeIntervalSince1970 * 1000) - s.lastCheckpointAt) / 1000)
        out += "osprey_checkpoint_age_seconds \(age)\n"
        help("osprey_state_entities", "gauge", "Entities held in feature state.")
        out += "osprey_state_entities \(s.entities)\n"
        help("osprey_state_bytes", "gauge", "Estimated bytes of feature state.")
        out += "osprey_state_bytes \(s.stateBytes)\n"
        help("osprey_state_expired_entities_total", "counter", "Entities removed from feature state after idling beyond their TTL.")
        out += "osprey_state_expired_entities_total \(s.sweptEntities)\n"
        if let budget = s.memoryBudget {
            help("osprey_state_memory_budget_bytes", "gauge", "The configured state.memory_budget.")
            out += "osprey_state_memory_budget_bytes \(budget)\n"
            help("osprey_state_over_budget", "gauge", "1 while the feature state's estimated size is over state.memory_budget.")
            out += "osprey_state_over_budget \(s.overBudget ? 1 : 0)\n"
        }
        help("osprey_feature_missing_total", "counter", "Feature vectors with the feature missing.")
        for (name, n) in s.featureMissing.sorted(by: { $0.key < $1.key }) {
            out += "osprey_feature_missing_total{feature=\"\(label(name))\"} \(n)\n"
        }
        help("osprey_feature_vectors_total", "counter", "Feature vectors computed for decisions.")
        out += "osprey_feature_vectors_total \(s.vectors)\n"
        help("osprey_http_requests_total", "counter", "HTTP requests, per route and status.")
        for (route, statuses) in requests.counts.sorted(by: { $0.key < $1.key }) {
            for (status, n) in statuses.sorted(by: { $0.key < $1.key }) {
                out += "osprey_http_requests_total{route=\"\(label(route))\",status=\"\(status)\"} \(n)\n"
            }
        }
        help("osprey_http_request_duration_seconds", "histogram", "HTTP request latency, per route.")
        for (route, h) in requests.latency.sorted(by: { $0.key < $1.key }) {
            histogram("osprey_http_request_duration_seconds", h, labels: "route=\"\(label(route))\"")
        }
        return out
    }

    static func split(_ tp: String) -> (String, String) {
        guard let dash = tp.lastIndex(of: "-") else { return (tp, "") }
        return (String(tp[..<dash]), String(tp[tp.index(after: dash)...]))
    }
}

#!/usr/bin/env bash
# Creates the topics of Topics/topics.conf on a broker.
#
#   Topics/create-topics.sh BOOTSTRAP [NAME_FILTER]
#
# Uses Apache Kafka's kafka-topics.sh when it is on PATH, else Tansu's CLI
# ($OSPREY_TANSU, installed by Deploy/scripts/kafka-env.sh). Existing topics are left alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bootstrap="${1:?usage: create-topics.sh BOOTSTRAP [NAME_FILTER]}"
filter="${2:-}"
while read -r name partitions retention cleanup _schema; do
    case "$name" in ''|'#'*) continue ;; esac
    if [ -n "$filter" ] && [[ "$name" != *"$filter"* ]]; then continue; fi
    if command -v kafka-topics.sh >/dev/null 2>&1; then
        kafka-topics.sh --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$name" \
            --partitions "$partitions" --config "retention.ms=$retention" --config "cleanup.policy=$cleanup"
    else
        "${OSPREY_TANSU:?set OSPREY_TANSU (source Deploy/scripts/kafka-env.sh) or put kafka-topics.sh on PATH}" topic create "$name" \
            --partitions "$partitions" --broker "tcp://$bootstrap" \
            --config "retention.ms=$retention" --config "cleanup.policy=$cleanup" >/dev/null 2>&1 || echo "create-topics: $name exists or could not be created" >&2
    fi
    echo "topic $name: $partitions partitions, retention.ms=$retention, cleanup.policy=$cleanup"
done < "$here/topics.conf"

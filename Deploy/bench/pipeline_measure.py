#!/usr/bin/env python3
"""Measurements for pipeline-bench.sh (confluent-kafka, librdkafka 2.16).

    pipeline_measure.py ceiling BOOTSTRAP TOPIC N      broker consume ceiling: read N messages, print msg/s
    pipeline_measure.py throughput BOOTSTRAP TOPIC N   wait for N decisions, print decisions/s from their processed_at span
    pipeline_measure.py latency BOOTSTRAP TOPIC SECONDS  read decisions for SECONDS, print end-to-end latency percentiles
    pipeline_measure.py hop BOOTSTRAP TOPIC SECONDS      read raw events for SECONDS, print the broker's own
                                                         produce -> consume latency (one hop, no Osprey)
"""
import json
import sys
import time
import uuid

from confluent_kafka import Consumer


# On Tansu a consumer of a backlog with a short fetch.wait.max.ms keeps the
# broker busy answering fetches: with 10 ms the broker took 80-87% of its core
# and Osprey got 32-55k events/s where it made 71-76k with 100 ms. The backlog runs (ceiling, throughput) use 100 ms;
# the latency run keeps 10 ms.
BACKLOG_FETCH_WAIT_MS = 100


def consumer(bootstrap, topic, offset="earliest", fetch_wait_ms=BACKLOG_FETCH_WAIT_MS):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:8]}", "auto.offset.reset": offset,
                  "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                  "fetch.wait.max.ms": fetch_wait_ms, "queued.min.messages": 200000})
    c.subscribe([topic])
    return c


def ceiling(bootstrap, topic, n):
    c = consumer(bootstrap, topic)
    got, start = 0, None
    while got < n:
        batch = c.consume(10000, 1.0)
        if batch and start is None:
            start = time.time()
        got += sum(1 for m in batch if not m.error())
    elapsed = time.time() - start
    print(f"broker consume ceiling (librdkafka consumer, no processing): {got / elapsed:,.0f} msg/s ({got} in {elapsed:.2f} s)")


def throughput(bootstrap, topic, n):
    c = consumer(bootstrap, topic)
    first, last, got = None, None, 0
    deadline = time.time() + 600
    while got < n and time.time() < deadline:
        for m in c.consume(10000, 1.0):
            if m.error():
                continue
            t = json.loads(m.value())["processed_at"]
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
            got += 1
    span = (last - first) / 1000
    print(f"osprey end to end (consume, decode, features, score, produce): {got / span:,.0f} events/s ({got} decisions over {span:.2f} s)")


def percentile(xs, q):
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def read_for(c, seconds, on_message):
    """Polls one message at a time for `seconds`: a batch call would hold
    messages back until the batch fills or its timeout passes, adding its own
    latency."""
    end = time.time() + seconds
    while time.time() < end:
        m = c.poll(0.05)
        if m is not None and not m.error():
            on_message(time.time() * 1000, json.loads(m.value()))


def hop(bootstrap, topic, seconds):
    # The same reader settings as latency() below, on the generator's own
    # events: what one produce -> consume hop costs on this broker at this rate.
    c = consumer(bootstrap, topic, offset="latest", fetch_wait_ms=10)
    lat = []
    first_read = []

    def record(now, d):
        # Events produced before the reader's first second are left out: its
        # group join can finish after the generator started, and those events
        # wait for the join, not for the broker.
        if not first_read:
            first_read.append(now)
        if d["event_time"] >= first_read[0] + 1000:
            lat.append(now - d["event_time"])

    read_for(c, seconds, record)
    if not lat:
        print("no events read")
        return
    lat.sort()
    print(f"broker's own hop (event produced -> event read, no Osprey), {len(lat)} events: p50 {percentile(lat, 0.5):.1f} ms,"
          f" p99 {percentile(lat, 0.99):.1f} ms, max {lat[-1]:.1f} ms")


def latency(bootstrap, topic, seconds):
    c = consumer(bootstrap, topic, offset="latest", fetch_wait_ms=10)
    lat, to_osprey, osprey_us = [], [], []

    def record(now, d):
        lat.append(now - d["event_time"])
        to_osprey.append(d["processed_at"] - d["event_time"])
        osprey_us.append(d["processing_latency_us"])

    read_for(c, seconds, record)
    if not lat:
        print("no decisions read")
        return
    for xs in (lat, to_osprey, osprey_us):
        xs.sort()
    pct = percentile
    print(f"end-to-end latency (event produced -> decision read), {len(lat)} events: p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, max {lat[-1]:.1f} ms")
    print(f"  of which produced -> decided by osprey: p50 {pct(to_osprey, 0.5):.1f} ms, p99 {pct(to_osprey, 0.99):.1f} ms;"
          f" osprey's own processing: p50 {pct(osprey_us, 0.5)} us, p99 {pct(osprey_us, 0.99)} us")


if __name__ == "__main__":
    mode, bootstrap, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    {"ceiling": ceiling, "throughput": throughput, "latency": latency, "hop": hop}[mode](bootstrap, topic, n)

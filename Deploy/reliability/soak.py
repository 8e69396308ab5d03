#!/usr/bin/env python3
"""Soak: a steady stream with entity churn for a while; memory, descriptors,
threads and latency must stay flat.

    soak.py BOOTSTRAP OSPREY CONFIG WORKDIR [--seconds 600] [--rate 2000]

Event time runs 1,000 times faster than the wall clock (each event is 0.5 s of
event time at 2,000 events/s), and cards come and go: every card is active for
about two hours of event time, then never seen again, so the payments
example's TTL (its longest card window, 24 h, plus lateness) must expire them.
Every 30 s it samples Osprey's RSS, open descriptors and threads (/proc) and
its state size and processing-latency percentiles (/metrics), and prints a
table and a verdict: RSS in the last third within 25% of the middle third
(after the first 24 h of event time has filled the windows), no descriptor or
thread growth, and events consumed in every interval.

Tansu (this machine's broker) lists every stored batch of a partition on each
fetch; once that takes longer than the consumer's fetch.wait.max.ms it answers
every fetch empty and spins. At librdkafka's linger.ms=5 a steady stream
reaches that point after 2-3 minutes, so the soak's producers batch for
100 ms and Osprey waits up to 100 ms per fetch (Kafka property overrides);
the latencies below include that.
"""
import json
import random
import threading
import time

from confluent_kafka import Producer

import harness


def histogram(lines, name):
    buckets = []
    for line in lines:
        if line.startswith(name + "_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    return buckets


def quantile(before, after, q):
    deltas = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
    total = deltas[-1][1] if deltas else 0
    if total <= 0:
        return float("nan")
    for le, count in deltas:
        if count >= q * total:
            return le
    return float("inf")


def main():
    ap = harness.arguments(__doc__, rate=2_000, seed=1)
    ap.add_argument("--seconds", type=int, default=600)
    args = ap.parse_args()
    run, topics = harness.scenario_topics(args.bootstrap, "soak", input_partitions=3)
    env = harness.osprey_env(args.bootstrap, run, topics, args.workdir, 19000 + random.randrange(1000), OSPREY_OUTPUT_INCLUDE_FEATURES="false",
                             OSPREY_CHECKPOINT_INTERVAL="10s", OSPREY_KAFKA_PROPERTY_FETCH_WAIT_MAX_MS="100", OSPREY_KAFKA_PROPERTY_LINGER_MS="100")
    osprey = harness.Osprey(args.osprey, args.config, env, args.workdir).start()
    if osprey.wait_ready(60) is None and osprey.process.poll() is not None:
        raise SystemExit("Osprey exited at start-up; see its log")

    stop = threading.Event()
    event_ms_per_event = 1000 * 1000 // args.rate  # event time runs 1000x faster than the wall clock

    def produce():
        rng = random.Random(args.seed)
        p = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 100})
        t0, start, i = 1_795_380_000_000, time.time(), 0
        while not stop.is_set():
            et = t0 + i * event_ms_per_event
            hours = (et - t0) / 3_600_000
            # Cards live ~2 h of event time: 2,000 active at once, new ones all the time.
            card = f"c-{int(hours / 2 * 2000) + rng.randrange(2000):08d}"
            event = {"event_id": f"s-{i}", "event_time": et, "card_id": card, "merchant_id": f"m-{int(hours / 24 * 500) + rng.randrange(500):06d}",
                     "amount": round(rng.lognormvariate(3.2, 1.0), 2), "currency": "USD", "country": "US", "mcc": 5411, "channel": "web"}
            p.produce(topics["input"], json.dumps(event).encode(), key=card.encode())
            p.poll(0)
            i += 1
            ahead = i / args.rate - (time.time() - start)
            if ahead > 0:
                time.sleep(ahead)
        p.flush(30)

    thread = threading.Thread(target=produce)
    thread.start()
    samples = []
    stalls = 0
    consumed_before = 0
    previous = None
    began = time.time()
    print(f"{'t':>5} {'event time':>10} {'entities':>9} {'RSS MiB':>8} {'fds':>4} {'threads':>7} {'p50 µs':>7} {'p99 µs':>7}")
    while time.time() - began < args.seconds:
        time.sleep(30)
        rss, fds, threads = osprey.proc()
        lines = osprey.metrics()
        hist = histogram(lines, "osprey_processing_latency_seconds")
        consumed = osprey.metric("osprey_events_consumed_total")
        if consumed == consumed_before:
            stalls += 1
        consumed_before = consumed
        p50 = quantile(previous, hist, 0.5) if previous else float("nan")
        p99 = quantile(previous, hist, 0.99) if previous else float("nan")
        previous = hist
        elapsed = time.time() - began
        samples.append((elapsed, rss, fds, threads, p50, p99))
        print(f"{elapsed:5.0f} {elapsed * 1000 / 3600 / 24:9.1f}d {osprey.metric('osprey_state_entities'):9.0f} {rss:8.1f} {fds:4d} {threads:7d} "
              f"{p50 * 1e6:7.0f} {p99 * 1e6:7.0f}", flush=True)
    stop.set()
    thread.join()
    status, _ = osprey.stop()
    third = max(1, len(samples) // 3)
    middle = max(s[1] for s in samples[third:2 * third]) if len(samples) >= 3 else samples[0][1]
    last = max(s[1] for s in samples[2 * third:] or samples[-1:])
    fd_growth = samples[-1][2] - samples[1][2] if len(samples) > 1 else 0
    thread_growth = samples[-1][3] - samples[1][3] if len(samples) > 1 else 0
    ok = last <= middle * 1.25 and fd_growth <= 2 and thread_growth <= 2 and status == 0 and stalls == 0
    if stalls:
        print(f"{stalls} of {len(samples)} intervals consumed nothing: the stream stalled (check the broker: can another consumer read?)")
    print(f"RSS peak, middle third {middle:.1f} MiB, last third {last:.1f} MiB; descriptors {fd_growth:+d}, threads {thread_growth:+d}; exit {status}")
    print("soak: " + ("PASS" if ok else "FAIL"))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

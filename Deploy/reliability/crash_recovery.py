#!/usr/bin/env python3
"""Crash recovery under load, against the release binary and a real broker.

    crash_recovery.py BOOTSTRAP OSPREY CONFIG WORKDIR [--events N] [--rate R] [--kills K] [--seed S]

Generates N payments events (1% broken, ~1% late; Deploy/tools/generate_events.py),
produces them at R events/s to a 3-partition input topic while `osprey run`
processes them, and kills Osprey with SIGKILL K times at random moments,
restarting it at once and timing how long it takes to be ready again. Then it
lets the last run finish, stops it with SIGTERM, and checks from the topics:

- every valid event has at least one decision, every broken one a dead letter
  (matched by the osprey.source.* headers) with a reason;
- every copy of every decision carries exactly the features `osprey backfill`
  computes for that event from its partition's events (no double counting, no gap).

Prints the figures; exits 1 if a check fails. Called by crash-recovery.sh.
"""
import argparse
import csv
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_all(bootstrap, topic, timeout=30.0):
    """Every record of `topic` from the beginning: list of (partition, offset, key, value, headers)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 10})
    c.subscribe([topic])
    records, idle_since = [], time.time()
    while time.time() - idle_since < timeout:
        batch = c.consume(10000, 0.5)
        good = [m for m in batch if not m.error()]
        if good:
            idle_since = time.time() - timeout + 3  # after data, 3 s of silence ends the read
        records += [(m.partition(), m.offset(), m.key(), m.value(), dict(m.headers() or [])) for m in good]
    c.close()
    return records


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("osprey")
    ap.add_argument("config")
    ap.add_argument("workdir")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rate", type=int, default=5_000)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--static-membership", action="store_true", help="set group.instance.id, so a restart rejoins without waiting out the session")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    run = uuid.uuid4().hex[:6]
    topics = {"input": f"crash-payments-{run}", "output": f"crash-decisions-{run}", "dlq": f"crash-dlq-{run}"}
    tansu = os.environ["OSPREY_TANSU"]
    for name, partitions in [(topics["input"], 3), (topics["output"], 3), (topics["dlq"], 1)]:
        subprocess.run([tansu, "topic", "create", name, "--partitions", str(partitions), "--broker", f"tcp://{args.bootstrap}"],
                       check=True, stdout=subprocess.DEVNULL)
    events_file = os.path.join(args.workdir, "events.jsonl")
    subprocess.run([sys.executable, os.path.join(ROOT, "Deploy/tools/generate_events.py"), "payments", "--count", str(args.events),
                    "--entities", "20000", "--rate", "50", "--bad-rate", "0.01", "--seed", str(args.seed), "--out", events_file], check=True)
    lines = open(events_file).read().splitlines()

    port = 18000 + rng.randrange(1000)
    env = dict(os.environ, OSPREY_KAFKA_BOOTSTRAP=args.bootstrap, OSPREY_GROUP_ID=f"crash-{run}", OSPREY_INPUT_TOPICS=topics["input"],
               OSPREY_OUTPUT_TOPIC=topics["output"], OSPREY_DLQ_TOPIC=topics["dlq"], OSPREY_OUTPUT_INCLUDE_FEATURES="true",
               OSPREY_CHECKPOINT_DIR=os.path.join(args.workdir, "checkpoints"), OSPREY_CHECKPOINT_INTERVAL="2s", OSPREY_HTTP_PORT=str(port))
    if args.static_membership:
        env["OSPREY_GROUP_INSTANCE_ID"] = "crash-0"
    log = open(os.path.join(args.workdir, "osprey.log"), "ab")

    def start():
        return subprocess.Popen([args.osprey, "run", "--config", args.config], env=env, stdout=log, stderr=log)

    osprey = start()
    deadline = time.time() + 60
    while not ready(port) and time.time() < deadline:
        time.sleep(0.1)

    # Produce at the rate on a thread; kill and restart Osprey meanwhile.
    def produce():
        p = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5, "enable.idempotence": True})
        start_time = time.time()
        for i, line in enumerate(lines):
            try:
                key = json.loads(line)["card_id"].encode()
            except Exception:
                key = None
            while True:
                try:
                    p.produce(topics["input"], value=line.encode(), key=key)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
            ahead = (i + 1) / args.rate - (time.time() - start_time)
            if ahead > 0:
                time.sleep(ahead)
        p.flush(60)

    producer = threading.Thread(target=produce)
    producer.start()
    duration = len(lines) / args.rate
    kill_times = sorted(rng.uniform(0.1, 0.9) * duration for _ in range(args.kills))
    began = time.time()
    restarts = []
    for at in kill_times:
        time.sleep(max(0.0, began + at - time.time()))
        osprey.send_signal(signal.SIGKILL)
        osprey.wait()
        killed = time.time()
        osprey = start()
        while not ready(port) and time.time() - killed < 120:
            time.sleep(0.05)
        restarts.append(time.time() - killed)
    producer.join()

    # Let the last run catch up, then stop it.
    inputs = read_all(args.bootstrap, topics["input"])
    valid = 0
    by_partition = {}
    for partition, offset, key, value, headers in sorted(inputs, key=lambda r: (r[0], r[1])):
        by_partition.setdefault(partition, []).append((offset, value))
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
            lag = sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("osprey_consumer_lag{"))
            if lag == 0 and ready(port):
                break
        except Exception:
            pass
        time.sleep(1)
    time.sleep(3)
    stopped = time.time()
    osprey.send_signal(signal.SIGTERM)
    status = osprey.wait(timeout=120)
    stop_seconds = time.time() - stopped

    # Backfill per partition: the features the daemon must have used.
    expected = {}
    names = None
    for partition, records in by_partition.items():
        part_file = os.path.join(args.workdir, f"partition-{partition}.jsonl")
        with open(part_file, "wb") as f:
            for _, value in records:
                f.write(value + b"\n")
        out = os.path.join(args.workdir, f"partition-{partition}.csv")
        subprocess.run([args.osprey, "backfill", "--config", args.config, "--events", part_file, "--output", out],
                       check=True, stderr=subprocess.DEVNULL)
        with open(out) as f:
            rows = list(csv.reader(f))
        names = rows[0][1:]
        for row in rows[1:]:
            expected[row[0]] = [float(v) if v else math.nan for v in row[1:]]
    valid = len(expected)

    decisions = read_all(args.bootstrap, topics["output"])
    copies = {}
    for _, _, _, value, _ in decisions:
        d = json.loads(value)
        copies.setdefault(d["event_id"], []).append(d)
    missing = [e for e in expected if e not in copies]
    mismatched = []
    for event_id, ds in copies.items():
        want = expected.get(event_id)
        for d in ds:
            got = [math.nan if d["features"].get(n) is None else d["features"][n] for n in names]
            if want is None or any(not (a == b or (math.isnan(a) and math.isnan(b))) for a, b in zip(got, want)):
                mismatched.append(event_id)
    dead = read_all(args.bootstrap, topics["dlq"])
    dead_sources = {(h.get("osprey.source.partition", b"").decode(), h.get("osprey.source.offset", b"").decode()) for *_, h in dead}
    no_reason = sum(1 for *_, h in dead if not h.get("osprey.error.reason"))
    invalid_sources = set()
    for partition, records in by_partition.items():
        decided_offsets = {d["source"]["offset"] for ds in copies.values() for d in ds if d["source"]["partition"] == partition}
        for offset, value in records:
            if offset not in decided_offsets:
                invalid_sources.add((str(partition), str(offset)))
    undeclared = invalid_sources - dead_sources
    duplicates = sum(len(ds) - 1 for ds in copies.values())

    print(f"events produced: {len(inputs)} ({valid} valid) at {args.rate}/s over {duration:.0f} s; kill -9: {len(restarts)}")
    print(f"restart to ready: " + ", ".join(f"{s:.1f} s" for s in restarts))
    print(f"decisions: {len(decisions)} for {len(copies)} events ({duplicates} replayed after the kills); dead letters: {len(dead)}")
    print(f"valid events without a decision: {len(missing)}; decisions whose features differ from backfill: {len(mismatched)}")
    print(f"input records with neither a decision nor a dead letter: {len(undeclared)}; dead letters without a reason: {no_reason}")
    print(f"SIGTERM: exit {status} in {stop_seconds:.1f} s")
    ok = not missing and not mismatched and not undeclared and no_reason == 0 and status == 0
    print("crash recovery: " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

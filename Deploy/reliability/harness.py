"""What the reliability scenarios share: topics, a paced producer, Osprey
processes with their /readyz and /metrics, and the end-of-run audit that
checks every input record against the decisions and dead letters.
"""
import argparse
import csv
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def arguments(doc, rate, seed, events=None):
    """The command line every scenario takes: BOOTSTRAP OSPREY CONFIG WORKDIR
    (run.sh passes them) and its own options after them."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("bootstrap", "osprey", "config", "workdir"):
        ap.add_argument(name)
    if events is not None:
        ap.add_argument("--events", type=int, default=events)
    ap.add_argument("--rate", type=int, default=rate)
    ap.add_argument("--seed", type=int, default=seed)
    return ap


def scenario_topics(bootstrap, name, input_partitions, output_partitions=3):
    """Creates fresh input, decision and dead-letter topics for a run; returns (run id, topics)."""
    run = uuid.uuid4().hex[:6]
    topics = {"input": f"{name}-payments-{run}", "output": f"{name}-decisions-{run}", "dlq": f"{name}-dlq-{run}"}
    create_topics(bootstrap, [(topics["input"], input_partitions), (topics["output"], output_partitions), (topics["dlq"], 1)])
    return run, topics


def payments_records(workdir, count, entities, seed, bad_rate=0.0):
    """(key, value) pairs of generated payments events (Deploy/tools/generate_events.py), keyed by card."""
    path = os.path.join(workdir, "events.jsonl")
    subprocess.run([sys.executable, os.path.join(ROOT, "Deploy/tools/generate_events.py"), "payments", "--count", str(count),
                    "--entities", str(entities), "--rate", "50", "--bad-rate", str(bad_rate), "--seed", str(seed), "--out", path], check=True)
    return [(card_key(line), line) for line in open(path, "rb").read().splitlines()]


def create_topics(bootstrap, topics):
    """topics: [(name, partitions)], created with the Tansu CLI."""
    for name, partitions in topics:
        subprocess.run([os.environ["OSPREY_TANSU"], "topic", "create", name, "--partitions", str(partitions), "--broker", f"tcp://{bootstrap}"],
                       check=True, stdout=subprocess.DEVNULL)


def read_all(bootstrap, topic, quiet=3.0, timeout=60.0):
    """Every record of `topic` from the start, read until `quiet` seconds bring
    nothing new: list of (partition, offset, key, value, headers)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"audit-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 10, "receive.message.max.bytes": 200_000_000})
    partitions = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    records, last, began = [], time.time(), time.time()
    while time.time() - last < quiet and time.time() - began < timeout:
        batch = [m for m in c.consume(10000, 0.5) if not m.error()]
        if batch:
            last = time.time()
        records += [(m.partition(), m.offset(), m.key(), m.value(), dict(m.headers() or [])) for m in batch]
    c.close()
    return records


class PacedProducer(threading.Thread):
    """Produces (key, value) pairs to `topic` at `rate` per second on its own thread."""

    def __init__(self, bootstrap, topic, records, rate):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.records, self.rate = bootstrap, topic, records, rate
        self.sent = 0

    def run(self):
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, "enable.idempotence": True, "message.max.bytes": 10_000_000})
        began = time.time()
        for i, (key, value) in enumerate(self.records):
            while True:
                try:
                    p.produce(self.topic, value=value, key=key)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
            self.sent = i + 1
            ahead = (i + 1) / self.rate - (time.time() - began)
            if ahead > 0:
                time.sleep(ahead)
        p.flush(120)


def card_key(line):
    try:
        return json.loads(line)["card_id"].encode()
    except Exception:
        return None


class Osprey:
    """One `osprey run` process with its own HTTP port (and log file)."""

    def __init__(self, binary, config, env, workdir, name="osprey"):
        self.binary, self.config, self.env, self.name = binary, config, dict(env), name
        self.port = int(self.env["OSPREY_HTTP_PORT"])
        self.log = open(os.path.join(workdir, f"{name}.log"), "ab")
        self.process = None

    def start(self):
        self.process = subprocess.Popen([self.binary, "run", "--config", self.config], env=self.env, stdout=self.log, stderr=self.log)
        return self

    def get(self, path, timeout=2):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
            return r.read().decode()

    def ready(self):
        try:
            self.get("/readyz", timeout=1)
            return True
        except Exception:
            return False

    def wait_ready(self, timeout=120):
        """Seconds until /readyz answered 200 (None on timeout)."""
        began = time.time()
        while time.time() - began < timeout:
            if self.ready():
                return time.time() - began
            if self.process.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def metrics(self):
        return self.get("/metrics").splitlines()

    def metric(self, name):
        """The sum of every series of `name` (0 when absent)."""
        return sum(float(l.split()[-1]) for l in self.metrics() if l.startswith(name + " ") or l.startswith(name + "{"))

    def proc(self):
        """RSS (MiB), open descriptors and threads, from /proc."""
        status = open(f"/proc/{self.process.pid}/status").read().splitlines()
        rss = int(next(l for l in status if l.startswith("VmRSS")).split()[1]) / 1024
        threads = int(next(l for l in status if l.startswith("Threads")).split()[1])
        return rss, len(os.listdir(f"/proc/{self.process.pid}/fd")), threads

    def wait_caught_up(self, timeout=300, partitions=None):
        """Waits until the consumer lag of every partition it owns is 0 (and it
        is ready), and, given `partitions`, until it owns that many (after a
        member died, its partitions come back only when its session expires)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                lines = self.metrics()
                lag = [float(l.split()[-1]) for l in lines if l.startswith("osprey_consumer_lag{")]
                if partitions is not None and len(lag) < partitions:
                    time.sleep(1)
                    continue
                if lag and max(lag) == 0 and self.ready():
                    return True
            except Exception:
                pass
            time.sleep(1)
        return False

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout=120):
        """SIGTERM; returns (exit status, seconds to exit)."""
        began = time.time()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=timeout)
        return status, time.time() - began


def osprey_env(bootstrap, run, topics, workdir, port, **extra):
    env = dict(os.environ, OSPREY_KAFKA_BOOTSTRAP=bootstrap, OSPREY_GROUP_ID=f"reliability-{run}", OSPREY_INPUT_TOPICS=topics["input"],
               OSPREY_OUTPUT_TOPIC=topics["output"], OSPREY_DLQ_TOPIC=topics["dlq"], OSPREY_OUTPUT_INCLUDE_FEATURES="true",
               OSPREY_CHECKPOINT_DIR=os.path.join(workdir, "checkpoints"), OSPREY_CHECKPOINT_INTERVAL="2s", OSPREY_HTTP_PORT=str(port))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def audit(bootstrap, osprey_binary, config, workdir, topics):
    """Reads the input, decisions and dead letters back and checks them:
    every valid input record has a decision whose every copy carries exactly
    the features `osprey backfill` computes from its partition's events, and
    every other input record a dead letter with a reason (matched by the
    osprey.source.* headers). Returns the figures as a dict."""
    inputs = read_all(bootstrap, topics["input"])
    by_partition = {}
    for partition, offset, _, value, _ in sorted(inputs, key=lambda r: (r[0], r[1])):
        by_partition.setdefault(partition, []).append((offset, value))
    expected, names = {}, []
    for partition, records in by_partition.items():
        events = os.path.join(workdir, f"partition-{partition}.jsonl")
        with open(events, "wb") as f:
            for _, value in records:
                # backfill reads lines: a record holding a newline is broken anyway
                f.write(value.replace(b"\n", b" ").replace(b"\r", b" ") + b"\n")
        out = os.path.join(workdir, f"partition-{partition}.csv")
        subprocess.run([osprey_binary, "backfill", "--config", config, "--events", events, "--output", out], check=True, stderr=subprocess.DEVNULL)
        with open(out) as f:
            rows = list(csv.reader(f))
        names = rows[0][1:]
        for row in rows[1:]:
            expected[row[0]] = [float(v) if v else math.nan for v in row[1:]]

    decisions = read_all(bootstrap, topics["output"])
    copies = {}
    for _, _, _, value, _ in decisions:
        d = json.loads(value)
        copies.setdefault(d["event_id"], []).append(d)
    missing = [e for e in expected if e not in copies]
    mismatched = set()
    for event_id, ds in copies.items():
        want = expected.get(event_id)
        for d in ds:
            got = [math.nan if d["features"].get(n) is None else d["features"][n] for n in names]
            if want is None or any(not (a == b or (math.isnan(a) and math.isnan(b))) for a, b in zip(got, want)):
                mismatched.add(event_id)
    dead = read_all(bootstrap, topics["dlq"])
    dead_sources = {}
    for *_, h in dead:
        source = (h.get("osprey.source.partition", b"").decode(), h.get("osprey.source.offset", b"").decode())
        dead_sources[source] = h.get("osprey.error.reason", b"").decode()
    decided_offsets = {(str(d["source"]["partition"]), str(d["source"]["offset"])) for ds in copies.values() for d in ds}
    undeclared = [(str(p), str(o)) for p, records in by_partition.items() for o, _ in records
                  if (str(p), str(o)) not in decided_offsets and (str(p), str(o)) not in dead_sources]
    reasons = {}
    for reason in dead_sources.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "inputs": len(inputs), "valid": len(expected), "decisions": len(decisions), "decided": len(copies),
        "duplicates": sum(len(ds) - 1 for ds in copies.values()), "missing": len(missing), "mismatched": len(mismatched),
        "dead_letters": len(dead), "dead_sources": dead_sources, "no_reason": sum(1 for r in dead_sources.values() if not r),
        "undeclared": len(undeclared), "reasons": reasons, "copies": copies,
    }


def audit_ok(a):
    return a["missing"] == 0 and a["mismatched"] == 0 and a["undeclared"] == 0 and a["no_reason"] == 0


def print_audit(a):
    print(f"decisions: {a['decisions']} for {a['decided']} events ({a['duplicates']} decided again); dead letters: {a['dead_letters']}")
    print(f"valid events without a decision: {a['missing']}; decisions whose features differ from backfill: {a['mismatched']}")
    print(f"input records with neither a decision nor a dead letter: {a['undeclared']}; dead letters without a reason: {a['no_reason']}")

#!/usr/bin/env python3
"""Synthetic payments and click events for Osprey's examples, tests and benchmarks.

    generate_events.py payments --count 10000 --out events.jsonl
    generate_events.py payments --count 0 --rate 200 --kafka 127.0.0.1:9092 --topic payments

Events follow the shapes in Topics/*.schema.json. About 1% arrive out of order
(up to 30 s late); `--bad-rate` mixes in broken events (truncated JSON, wrong
types, missing fields, NaN) for the dead-letter path. Payments carry a hidden
fraud pattern (card-testing bursts of small amounts at many merchants, then a
large foreign purchase) that `--labels FILE` writes out as event_id,label.
With --kafka, events are produced keyed by card_id (payments) or user_id (clicks);
`--from FILE` produces the lines of a file written earlier with --out instead of
generating them, which takes a third of the CPU (benchmarks that share the
machine with the daemon).
"""
import argparse
import json
import random
import sys
import time

BASE_MS = 1_795_380_000_000


def payments(rng, count, cards, start_ms, rate):
    """Yields (event, label)."""
    t = start_ms
    fraud_cards = {f"c-{i:06d}" for i in rng.sample(range(cards), max(1, cards // 50))}
    i = 0
    while count == 0 or i < count:
        t += int(rng.expovariate(rate / 1000.0)) if rate > 0 else 1
        card = f"c-{int(rng.paretovariate(1.1)) % cards:06d}" if rng.random() < 0.5 else f"c-{rng.randrange(cards):06d}"
        fraud = card in fraud_cards and rng.random() < 0.3
        burst = [1] if not fraud else range(rng.randint(3, 6))
        for k in burst:
            et = t + k * rng.randint(200, 4000)
            amount = round(rng.lognormvariate(3.2, 1.0), 2)
            country = rng.choice(["US"] * 8 + ["FR", "DE"])
            if fraud:
                amount = round(rng.uniform(0.5, 3.0), 2) if k < len(burst) - 1 else round(rng.uniform(400, 2500), 2)
                country = "US" if k < len(burst) - 1 else rng.choice(["BR", "NG", "RU"])
            if rng.random() < 0.01:
                et -= rng.randint(1, 30_000)
            event = {
                "event_id": f"e-{i:09d}", "event_time": et, "card_id": card,
                "merchant_id": f"m-{rng.randrange(2000) if not fraud else rng.randrange(20000):05d}",
                "amount": amount, "currency": "USD", "country": country,
                "mcc": rng.choice([5411, 5812, 5999, 4111, 5732, 7995]),
                "channel": rng.choice(["web", "web", "app", "pos"]),
                "device_id": f"d-{rng.randrange(100000):06d}", "ip": "203.0.113.7",
            }
            yield event, 1 if fraud and k == len(burst) - 1 else 0
            i += 1
            if count and i >= count:
                return
        t = max(t, et)


def clicks(rng, count, users, start_ms, rate):
    t = start_ms
    for i in range(count if count else 10**18):
        t += int(rng.expovariate(rate / 1000.0)) if rate > 0 else 1
        user = rng.randrange(users)
        action = rng.choices(["view", "click", "add_to_cart", "purchase"], [70, 20, 7, 3])[0]
        et = t - (rng.randint(1, 30_000) if rng.random() < 0.01 else 0)
        event = {
            "event_id": f"k-{i:09d}", "event_time": et, "user_id": f"u-{user:06d}",
            "session_id": f"s-{user:06d}-{et // 1_800_000}", "item_id": f"i-{int(rng.paretovariate(1.2)) % 5000:05d}",
            "action": action, "page": rng.choice(["home", "search", "category", "item", "cart"]),
            "device": rng.choice(["mobile", "desktop", "tablet"]), "price": round(rng.uniform(1, 200), 2),
        }
        yield event, 1 if action == "purchase" else 0


def broken(rng, line):
    kind = rng.randrange(6)
    if kind == 0:
        return line[: max(1, len(line) // 2)]
    if kind == 1:
        return line.replace('"amount":', '"amount":"x').replace('"price":', '"price":"x', 1) if '"amount"' in line or '"price"' in line else "{}"
    if kind == 2:
        return "{}"
    if kind == 3:
        return line[:-1] + ',"risk":NaN}'
    if kind == 4:
        return "not json at all"
    return line.replace('"event_time":', '"event_time":"yesterday","x":', 1)


def pace(n, rate, wall_start):
    """Sleeps while event n is ahead of `rate` by more than 2 ms: one wake-up
    per few events instead of one per event, which at thousands of events/s
    cost more CPU than producing them."""
    ahead = (n + 1) / rate - (time.time() - wall_start)
    if ahead > 0.002:
        time.sleep(ahead)


def produce(producer, topic, value, key):
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)


def replay(path, producer, topic, key_field, rate):
    """Produces the JSON lines of `path`, keyed by `key_field`, at `rate`/s
    (0: as fast as possible); returns how many."""
    with open(path, "rb") as f:
        # Keys are read before the clock starts.
        records = [(line, json.loads(line)[key_field].encode()) for line in (raw.rstrip(b"\n") for raw in f) if line]
    wall_start = time.time()
    for n, (line, key) in enumerate(records):
        produce(producer, topic, line, key)
        if rate > 0:
            pace(n, rate, wall_start)
    producer.flush(30)
    return len(records)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["payments", "clicks"])
    ap.add_argument("--count", type=int, default=10000, help="events to write (0 = forever, with --kafka)")
    ap.add_argument("--entities", type=int, default=5000, help="cards or users")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=0, help="events per second of event time (and of wall time with --kafka); 0: about 2 s of event time apart, as fast as possible")
    ap.add_argument("--start-ms", type=int, default=BASE_MS, help="first event time (default fixed; use 'now' semantics with --now)")
    ap.add_argument("--now", action="store_true", help="start event time at the current wall clock")
    ap.add_argument("--wall-clock-times", action="store_true", help="with --kafka: stamp each event with the wall-clock time it is produced (for latency measurements)")
    ap.add_argument("--bad-rate", type=float, default=0.0, help="fraction of broken events")
    ap.add_argument("--out", help="write JSON lines here ('-' for stdout)")
    ap.add_argument("--labels", help="write event_id,label here")
    ap.add_argument("--kafka", help="bootstrap servers: produce to Kafka instead of a file")
    ap.add_argument("--topic", help="topic (default: the kind)")
    ap.add_argument("--linger-ms", type=int, default=5, help="with --kafka: the producer's linger.ms (how long it batches)")
    ap.add_argument("--from", dest="source", help="with --kafka: produce the JSON lines of this file (written with --out) instead of generating events")
    args = ap.parse_args()
    if args.source and (not args.kafka or args.out or args.labels or args.wall_clock_times or args.bad_rate):
        ap.error("--from only produces a file's lines to --kafka (no --out, --labels, --wall-clock-times or --bad-rate)")
    rng = random.Random(args.seed)
    start = int(time.time() * 1000) if args.now else args.start_ms
    gen = payments if args.kind == "payments" else clicks
    key_field = "card_id" if args.kind == "payments" else "user_id"
    events = gen(rng, args.count, args.entities, start, args.rate)

    out = None if not args.out else (sys.stdout if args.out == "-" else open(args.out, "w"))
    labels = open(args.labels, "w") if args.labels else None
    if labels:
        labels.write("event_id,label\n")
    producer = None
    if args.kafka:
        from confluent_kafka import Producer
        producer = Producer({"bootstrap.servers": args.kafka, "linger.ms": args.linger_ms, "enable.idempotence": True})
    topic = args.topic or args.kind
    if args.source:
        n = replay(args.source, producer, topic, key_field, args.rate)
        print(f"generate_events: {n} {args.kind} events from {args.source}", file=sys.stderr)
        return
    wall_start = time.time()
    n = 0
    for event, label in events:
        if args.wall_clock_times:
            event["event_time"] = int(time.time() * 1000)
        line = json.dumps(event, separators=(",", ":"))
        if args.bad_rate and rng.random() < args.bad_rate:
            line = broken(rng, line)
        if out:
            out.write(line + "\n")
        if labels:
            labels.write(f"{event['event_id']},{label}\n")
        if producer:
            produce(producer, topic, line.encode(), event[key_field].encode())
            if args.rate > 0:
                pace(n, args.rate, wall_start)
        n += 1
    if producer:
        producer.flush(30)
    if out and out is not sys.stdout:
        out.close()
    print(f"generate_events: {n} {args.kind} events", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Graceful stop and rolling restart with a million entities of state.

    rolling_restart.py BOOTSTRAP OSPREY CONFIG WORKDIR [--entities N] [--rate R] [--seconds S]

Two instances with static membership (group.instance.id, as the Kubernetes
StatefulSet runs them) share a 6-partition topic and a checkpoint directory.
N payments events, one per card (N cards of state, plus merchants), are
preloaded and consumed; then a steady stream of R events/s on those cards
flows while the instances are restarted one after the other, as a rolling
update does: SIGTERM, start again, wait for /readyz. Prints each instance's
stop time, restart-to-ready time and restored entities; then checks from the
topics that every event has a decision with backfill's features, and counts
events decided twice (a graceful stop commits what it checkpointed, so the
at-least-once guarantee allows none here).
"""
import json
import random
import sys
import time

import harness

BASE_MS = 1_795_380_000_000


def event(i, card, t, rng):
    return json.dumps({"event_id": f"r-{i}", "event_time": t, "card_id": f"c-{card:07d}", "merchant_id": f"m-{rng.randrange(5000):05d}",
                       "amount": round(rng.lognormvariate(3.2, 1.0), 2), "currency": "USD", "country": "US", "mcc": 5411,
                       "channel": "web"}, separators=(",", ":")).encode()


def main():
    ap = harness.arguments(__doc__, rate=2_000, seed=3)
    ap.add_argument("--entities", type=int, default=1_000_000)
    args = ap.parse_args()
    run, topics = harness.scenario_topics(args.bootstrap, "rolling", input_partitions=6, output_partitions=6)
    rng = random.Random(args.seed)
    # One event per card, 20 ms of event time apart; then the live stream on the same cards.
    preload = [(f"c-{i:07d}".encode(), event(i, i, BASE_MS + 20 * i, rng)) for i in range(args.entities)]
    live_start = BASE_MS + 20 * args.entities
    live_count = args.rate * 60
    live = []
    for j in range(live_count):
        card = rng.randrange(args.entities)
        live.append((f"c-{card:07d}".encode(), event(args.entities + j, card, live_start + j * 10, rng)))

    ports = [18000 + rng.randrange(1000) * 2 + k for k in range(2)]

    def instance(k):
        env = harness.osprey_env(args.bootstrap, run, topics, args.workdir, ports[k], OSPREY_GROUP_INSTANCE_ID=f"rolling-{k}",
                                 OSPREY_CHECKPOINT_INTERVAL="10s")
        return harness.Osprey(args.osprey, args.config, env, args.workdir, name=f"osprey-{k}")

    loader = harness.PacedProducer(args.bootstrap, topics["input"], preload, 1_000_000)
    began = time.time()
    loader.start()
    loader.join()
    print(f"preloaded {args.entities} events (one per card) in {time.time() - began:.1f} s")
    instances = [instance(k).start() for k in range(2)]
    for osprey in instances:
        if osprey.wait_ready(180) is None and not osprey.wait_caught_up(300):
            sys.exit(f"{osprey.name} did not become ready")
    began = time.time()
    for osprey in instances:
        osprey.wait_caught_up(600)
    entities = [osprey.metric("osprey_state_entities") for osprey in instances]
    rss = [osprey.proc()[0] for osprey in instances]
    print(f"consumed the preload: {sum(entities):.0f} entities of state ({', '.join(f'{e:.0f}' for e in entities)}); "
          f"RSS {', '.join(f'{r:.0f}' for r in rss)} MiB; {time.time() - began:.1f} s after both were ready")

    stream = harness.PacedProducer(args.bootstrap, topics["input"], live, args.rate)
    stream.start()
    time.sleep(10)
    restarts = []
    for k in range(2):
        old = instances[k]
        status, stop_seconds = old.stop()
        restarted = time.time()
        instances[k] = instance(k).start()
        ready = instances[k].wait_ready(180)
        restored = instances[k].metric("osprey_state_entities")
        restarts.append((k, status, stop_seconds, ready, restored))
        print(f"osprey-{k}: SIGTERM under load -> exit {status} in {stop_seconds:.1f} s; restarted, ready in "
              f"{ready if ready is None else round(ready, 1)} s with {restored:.0f} entities restored", flush=True)
        time.sleep(10)
    stream.join()
    caught_up = all(osprey.wait_caught_up() for osprey in instances)
    finals = [osprey.stop() for osprey in instances]

    audit = harness.audit(args.bootstrap, args.osprey, args.config, args.workdir, topics)
    print(f"events: {audit['inputs']} ({args.entities} preloaded, {live_count} live at {args.rate}/s); caught up: {caught_up}; "
          f"final SIGTERM: " + ", ".join(f"exit {s} in {t:.1f} s" for s, t in finals))
    harness.print_audit(audit)
    ok = (harness.audit_ok(audit) and audit["duplicates"] == 0 and caught_up and all(s == 0 for s, _ in finals)
          and all(status == 0 and ready is not None for _, status, _, ready, _ in restarts))
    print("rolling restart: " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

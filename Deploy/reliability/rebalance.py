#!/usr/bin/env python3
"""Rebalance under load, against the release binary and a real broker.

    rebalance.py BOOTSTRAP OSPREY CONFIG WORKDIR [--events N] [--rate R] [--stay S]

One instance consumes a stream of N payments events (1% broken, ~1% late)
produced at R/s to a 6-partition topic. A second instance joins the group at
10% of the stream, stays 15 s after it is ready and leaves with SIGTERM; 5 s
later it joins again, stays 15 s and is killed with SIGKILL (its partitions
return to the first after the session times out), all while the stream flows. Both share the checkpoint directory, so a partition's
state follows it. Then, from the topics: every valid event has a decision,
every copy of every decision (whichever instance made it) carries exactly the
features `osprey backfill` computes from its partition's events, and every
broken event has a dead letter. Prints how many decisions each instance made.
"""
import random
import sys
import time

import harness


def main():
    ap = harness.arguments(__doc__, events=400_000, rate=5_000, seed=9)
    ap.add_argument("--stay", type=float, default=15, help="seconds the second instance stays after it is ready")
    args = ap.parse_args()
    run, topics = harness.scenario_topics(args.bootstrap, "rebalance", input_partitions=6)
    records = harness.payments_records(args.workdir, args.events, entities=20_000, seed=args.seed, bad_rate=0.01)

    rng = random.Random(args.seed)
    base_port = 18000 + rng.randrange(1000)

    def instance(name, port):
        env = harness.osprey_env(args.bootstrap, run, topics, args.workdir, port)
        return harness.Osprey(args.osprey, args.config, env, args.workdir, name=name)

    first = instance("first", base_port).start()
    if first.wait_ready(60) is None:
        sys.exit("the first instance did not become ready")
    producer = harness.PacedProducer(args.bootstrap, topics["input"], records, args.rate)
    producer.start()

    def at(fraction):
        while producer.sent < fraction * len(records) and producer.is_alive():
            time.sleep(0.05)

    def decisions_of(osprey):
        try:
            return osprey.metric("osprey_decisions_total")
        except Exception:
            return float("nan")

    timeline = []
    made = {}
    moments = []  # (epoch ms, what happened): the replays after each are counted
    at(0.10)
    moments.append((time.time() * 1000, "the second joins"))
    second = instance("second", base_port + 1).start()
    timeline.append(f"second joins at {producer.sent} events: ready in {second.wait_ready(60) or float('nan'):.1f} s")
    time.sleep(args.stay)
    made["second (first stay)"] = decisions_of(second)
    moments.append((time.time() * 1000, "the second leaves (SIGTERM)"))
    status, seconds = second.stop()
    timeline.append(f"second leaves (SIGTERM) at {producer.sent} events: exit {status} in {seconds:.1f} s")
    time.sleep(5)
    moments.append((time.time() * 1000, "the second joins again"))
    third = instance("second-again", base_port + 2).start()
    timeline.append(f"second joins again at {producer.sent} events: ready in {third.wait_ready(60) or float('nan'):.1f} s")
    time.sleep(args.stay)
    made["second (second stay)"] = decisions_of(third)
    moments.append((time.time() * 1000, "the second is killed"))
    third.kill()
    timeline.append(f"second killed (SIGKILL) at {producer.sent} events" + ("" if producer.is_alive() else " (after the stream ended: raise --events)"))
    producer.join()
    caught_up = first.wait_caught_up(partitions=6)
    time.sleep(3)
    made["first"] = decisions_of(first)
    status, seconds = first.stop()
    timeline.append(f"first stops (SIGTERM) after the stream: exit {status} in {seconds:.1f} s")

    audit = harness.audit(args.bootstrap, args.osprey, args.config, args.workdir, topics)
    # Which membership change each repeated decision followed.
    after = {}
    for copies in audit["copies"].values():
        for d in sorted(copies, key=lambda d: d["processed_at"])[1:]:
            cause = next((what for t, what in reversed(moments) if t <= d["processed_at"]), "before any change")
            after[cause] = after.get(cause, 0) + 1
    print(f"events produced: {audit['inputs']} ({audit['valid']} valid) at {args.rate}/s to 6 partitions; caught up: {caught_up}")
    for line in timeline:
        print(line)
    print("decisions made: " + ", ".join(f"{k} {v:.0f}" for k, v in made.items()))
    print("decided again, by the change they followed: " + (", ".join(f"{k} {v}" for k, v in after.items()) or "none"))
    harness.print_audit(audit)
    ok = harness.audit_ok(audit) and caught_up and status == 0 and all(v > 0 for v in made.values())
    print("rebalance: " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

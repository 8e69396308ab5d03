#!/usr/bin/env python3
"""Crash recovery under load, against the release binary and a real broker.

    crash_recovery.py BOOTSTRAP OSPREY CONFIG WORKDIR [--events N] [--rate R] [--kills K] [--seed S] [--static-membership]

Generates N payments events (1% broken, ~1% late; Deploy/tools/generate_events.py),
produces them at R events/s to a 3-partition input topic while `osprey run`
processes them, and kills Osprey with SIGKILL K times at random moments,
restarting it at once and timing how long it takes to be ready again. Then it
lets the last run finish, stops it with SIGTERM, and checks from the topics
(harness.audit): every valid event has at least one decision, every copy of
every decision carries exactly the features `osprey backfill` computes from its
partition's events (no double counting, no gap), and every broken event has a
dead letter with a reason. Prints the figures; exits 1 if a check fails.
"""
import random
import sys
import time

import harness


def main():
    ap = harness.arguments(__doc__, events=200_000, rate=5_000, seed=7)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--static-membership", action="store_true", help="set group.instance.id, so a restart rejoins without waiting out the session")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    run, topics = harness.scenario_topics(args.bootstrap, "crash", input_partitions=3)
    records = harness.payments_records(args.workdir, args.events, entities=20_000, seed=args.seed, bad_rate=0.01)

    extra = {"OSPREY_GROUP_INSTANCE_ID": "crash-0"} if args.static_membership else {}
    env = harness.osprey_env(args.bootstrap, run, topics, args.workdir, 18000 + rng.randrange(1000), **extra)
    osprey = harness.Osprey(args.osprey, args.config, env, args.workdir).start()
    if osprey.wait_ready(60) is None:
        sys.exit("Osprey did not become ready")

    producer = harness.PacedProducer(args.bootstrap, topics["input"], records, args.rate)
    producer.start()
    duration = len(records) / args.rate
    kill_times = sorted(rng.uniform(0.1, 0.9) * duration for _ in range(args.kills))
    began = time.time()
    restarts = []
    for at in kill_times:
        time.sleep(max(0.0, began + at - time.time()))
        osprey.kill()
        osprey.start()
        ready = osprey.wait_ready(120)
        restarts.append(ready if ready is not None else float("nan"))
    producer.join()
    caught_up = osprey.wait_caught_up()
    time.sleep(3)
    status, stop_seconds = osprey.stop()

    audit = harness.audit(args.bootstrap, args.osprey, args.config, args.workdir, topics)
    print(f"events produced: {audit['inputs']} ({audit['valid']} valid) at {args.rate}/s over {duration:.0f} s; kill -9: {len(restarts)}; caught up: {caught_up}")
    print("restart to ready: " + ", ".join(f"{s:.1f} s" for s in restarts))
    harness.print_audit(audit)
    print(f"SIGTERM: exit {status} in {stop_seconds:.1f} s")
    ok = harness.audit_ok(audit) and caught_up and status == 0
    print("crash recovery: " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

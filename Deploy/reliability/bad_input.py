#!/usr/bin/env python3
"""Bad input at volume, against the release binary and a real broker.

    bad_input.py BOOTSTRAP OSPREY CONFIG WORKDIR [--events N] [--rate R] [--http-passes P]

Mixes the broken-event corpus (bad_corpus.py: truncated and invalid JSON,
invalid UTF-8, wrong types, NaN/Infinity, 1 MB strings, deep nesting,
duplicate keys, empty and huge messages, other event types) 1:100 into N good
payments events produced at R/s, and checks from the topics that every broken
one has a dead letter with the reason the corpus names (by the
osprey.source.* headers), every good one a decision with backfill's features,
and that RSS stays flat. Then it posts the corpus P times to POST /v1/score:
every answer must be a 4xx with a JSON error body, the process stays up, RSS
stays flat, and the HTTP counters in /metrics match what was sent.
Prints the figures; exits 1 if a check fails.
"""
import http.client
import json
import random
import sys
import time

import bad_corpus
import harness


def post(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/v1/score", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def main():
    ap = harness.arguments(__doc__, events=200_000, rate=5_000, seed=5)
    ap.add_argument("--http-passes", type=int, default=20)
    args = ap.parse_args()
    run, topics = harness.scenario_topics(args.bootstrap, "bad", input_partitions=3)
    baseline_run, baseline_topics = harness.scenario_topics(args.bootstrap, "baseline", input_partitions=3)
    good = harness.payments_records(args.workdir, args.events, entities=5_000, seed=args.seed)
    corpus = list(bad_corpus.corpus())
    expected_reason = {raw: reason for _, reason, raw in corpus}
    records = []
    for i, record in enumerate(good):
        records.append(record)
        if i % 100 == 99:
            category, reason, raw = corpus[(i // 100) % len(corpus)]
            records.append((None, raw))
    bad_count = len(records) - args.events

    def stream(records, run, topics, name):
        """Runs a fresh Osprey over `records`; returns it (still running), RSS samples and whether it caught up."""
        port = 18000 + random.Random().randrange(1000)
        osprey = harness.Osprey(args.osprey, args.config, harness.osprey_env(args.bootstrap, f"{run}-{name}", topics, args.workdir, port),
                                args.workdir, name=name).start()
        if osprey.wait_ready(60) is None:
            sys.exit(f"Osprey did not become ready; see {args.workdir}/{name}.log")
        producer = harness.PacedProducer(args.bootstrap, topics["input"], records, args.rate)
        producer.start()
        samples = []
        while producer.is_alive():
            time.sleep(2)
            samples.append((producer.sent, *osprey.proc()))
        producer.join()
        caught_up = osprey.wait_caught_up()
        samples.append((producer.sent, *osprey.proc()))
        return osprey, samples, caught_up

    # The same good events without the broken ones first: the RSS to compare with.
    baseline, base_samples, _ = stream(good, baseline_run, baseline_topics, "baseline")
    baseline.stop()
    osprey, samples, caught_up = stream(records, run, topics, "osprey")
    port = osprey.port
    end, base_end = samples[-1], base_samples[-1]
    stream_rss_ok = end[1] <= base_end[1] * 1.10 + 5 and end[2] <= base_end[2] + 2 and end[3] <= base_end[3]
    print(f"stream: {len(records)} records ({args.events} good, {bad_count} broken, 1:100) at {args.rate}/s; caught up: {caught_up}")
    print(f"RSS at the end {end[1]:.1f} MiB (peak {max(s[1] for s in samples):.1f}), descriptors {end[2]}, threads {end[3]}; "
          f"the same good events alone: {base_end[1]:.1f} MiB (peak {max(s[1] for s in base_samples):.1f}), descriptors {base_end[2]}, threads {base_end[3]}")

    # The HTTP port, same corpus, several passes.
    pass_rss = []
    before_counts = {l.split()[0]: float(l.split()[-1]) for l in osprey.metrics() if l.startswith("osprey_http_requests_total{")}
    statuses, bad_answers = {}, []
    for _ in range(args.http_passes):
        for category, reason, raw in corpus:
            try:
                status, body = post(port, raw)
            except Exception as error:
                bad_answers.append(f"{category}: {error}")
                continue
            statuses[status] = statuses.get(status, 0) + 1
            try:
                ok_body = "error" in json.loads(body)
            except Exception:
                ok_body = False
            if not (400 <= status < 500) or not ok_body:
                bad_answers.append(f"{category} ({reason}): {status} {body[:120]!r}")
        pass_rss.append(osprey.proc()[0])
    after_counts = {l.split()[0]: float(l.split()[-1]) for l in osprey.metrics() if l.startswith("osprey_http_requests_total{")}
    counted = {}
    for series, value in after_counts.items():
        if 'route="/v1/score"' in series:
            status = int(series.split('status="')[1].split('"')[0])
            counted[status] = value - before_counts.get(series, 0)
    # The first passes warm the allocator's caches (3 MiB bodies); after that RSS must not grow.
    warm = pass_rss[min(2, len(pass_rss) - 1)]
    http_rss_ok = pass_rss[-1] <= warm * 1.05 + 2
    alive = osprey.process.poll() is None and osprey.ready()
    sent = sum(statuses.values())
    print(f"HTTP: {sent} requests ({args.http_passes} passes of {len(corpus)}): " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    print(f"HTTP answers that were not a 4xx JSON error: {len(bad_answers)}; counted in /metrics: "
          + ", ".join(f"{s}: {n:.0f}" for s, n in sorted(counted.items())) + f"; RSS after pass 1 {pass_rss[0]:.1f}, pass 3 {warm:.1f}, pass {len(pass_rss)} {pass_rss[-1]:.1f} MiB; still up and ready: {alive}")
    for line in bad_answers[:10]:
        print("  " + line)
    status, seconds = osprey.stop()
    print(f"SIGTERM: exit {status} in {seconds:.1f} s")

    audit = harness.audit(args.bootstrap, args.osprey, args.config, args.workdir, topics)
    inputs = harness.read_all(args.bootstrap, topics["input"])
    wrong_reason = 0
    broken_seen = 0
    for partition, offset, _, value, _ in inputs:
        want = expected_reason.get(value)
        if want is None:
            continue
        broken_seen += 1
        got = audit["dead_sources"].get((str(partition), str(offset)))
        if got != want:
            wrong_reason += 1
            if wrong_reason <= 10:
                print(f"  {partition}@{offset}: dead letter reason {got!r}, expected {want!r}")
    harness.print_audit(audit)
    print(f"broken records in the input: {broken_seen} of {bad_count}; with a dead letter giving the expected reason: {broken_seen - wrong_reason}")
    print("dead letters by reason: " + ", ".join(f"{r} {n}" for r, n in sorted(audit["reasons"].items())))
    ok = (harness.audit_ok(audit) and broken_seen == bad_count and wrong_reason == 0 and caught_up and stream_rss_ok
          and not bad_answers and counted == {s: float(n) for s, n in statuses.items()} and http_rss_ok and alive and status == 0)
    print("bad input: " + ("PASS" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

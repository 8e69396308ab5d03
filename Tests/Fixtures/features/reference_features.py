#!/usr/bin/env python3
"""Independent reference for Osprey's feature semantics (README, "Feature semantics").

Generates a seeded event stream with out-of-order, late, very late, invalid and
idle-then-returning events, writes the feature config that exercises every
aggregation and window type, and computes the expected feature vectors by brute
force: every entity keeps the full list of events applied to it, and each window
is recomputed from that list for every event. Nothing here shares code with the
Swift implementation; only the written semantics.

    python3 reference_features.py --out DIR [--events N] [--seed S] [--odd-amounts F]

writes DIR/osprey.yaml, DIR/events.jsonl and DIR/expected.csv.
"""
import argparse
import json
import math
import os
import random

LATENESS = 30_000
BASE = 1_795_380_000_000

# name, kind, parameters. Windows: (size_ms, step_ms).
FEATURES = [
    ("amount", "raw", {"field": "amount"}),
    ("mcc", "raw", {"field": "mcc"}),
    ("channel_code", "categorical", {"field": "channel", "codes": {"web": 0, "app": 1, "pos": 2}, "unknown": -1, "missing": float("nan")}),
    ("country_code", "categorical", {"field": "country", "codes": {"US": 0, "FR": 1}, "unknown": 9, "missing": -5}),
    ("card_count_5m_exact", "agg", {"entity": "card_id", "fn": "count", "window": (300_000, 1)}),
    ("card_count_1h", "agg", {"entity": "card_id", "fn": "count", "window": (3_600_000, 60_000)}),
    ("card_sum_10m", "agg", {"entity": "card_id", "fn": "sum", "field": "amount", "window": (600_000, 1_000)}),
    ("card_mean_24h", "agg", {"entity": "card_id", "fn": "mean", "field": "amount", "window": (86_400_000, 900_000)}),
    ("card_stddev_24h", "agg", {"entity": "card_id", "fn": "stddev", "field": "amount", "window": (86_400_000, 900_000)}),
    ("card_min_1h_exact", "agg", {"entity": "card_id", "fn": "min", "field": "amount", "window": (3_600_000, 1)}),
    ("card_max_1h", "agg", {"entity": "card_id", "fn": "max", "field": "amount", "window": (3_600_000, 60_000)}),
    ("card_max_tip_10m", "agg", {"entity": "card_id", "fn": "max", "field": "tip", "window": (600_000, 10_000)}),
    ("card_distinct_merchants_1h", "agg", {"entity": "card_id", "fn": "distinct_count", "field": "merchant_id", "window": (3_600_000, 1)}),
    ("card_distinct_mcc_24h", "agg", {"entity": "card_id", "fn": "distinct_count", "field": "mcc", "window": (86_400_000, 3_600_000)}),
    ("card_last_amount", "agg", {"entity": "card_id", "fn": "last", "field": "amount"}),
    ("card_seconds_since_prev", "agg", {"entity": "card_id", "fn": "time_since_previous"}),
    ("card_web_count_30m", "agg", {"entity": "card_id", "fn": "count", "window": (1_800_000, 60_000), "where": ("channel", ["web"])}),
    ("card_app_pos_sum_30m", "agg", {"entity": "card_id", "fn": "sum", "field": "amount", "window": (1_800_000, 60_000), "where": ("channel", ["app", "pos"])}),
    ("merchant_count_hop", "agg", {"entity": "merchant_id", "fn": "count", "window": (3_600_000, 300_000), "type": "hopping"}),
    ("merchant_sum_today", "agg", {"entity": "merchant_id", "fn": "sum", "field": "amount", "window": (86_400_000, 86_400_000), "type": "tumbling"}),
    ("merchant_tip_mean_2h", "agg", {"entity": "merchant_id", "fn": "mean", "field": "tip", "window": (7_200_000, 60_000)}),
    ("device_count_10m", "agg", {"entity": "device_id", "fn": "count", "window": (600_000, 1)}),
    ("amount_to_card_mean", "ratio", {"num": "amount", "den": "card_mean_24h", "zero": 0}),
    ("web_share_30m", "ratio", {"num": "card_web_count_30m", "den": "card_count_1h", "zero": -1}),
]

FIELDS = [("event_id", "string"), ("event_time", "timestamp"), ("card_id", "string"), ("merchant_id", "string"),
          ("device_id", "string?"), ("amount", "number"), ("tip", "number?"), ("mcc", "integer"),
          ("channel", "string"), ("country", "string?")]


def duration(ms):
    for unit, scale in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % scale == 0:
            return f"{ms // scale}{unit}"
    return f"{ms}ms"


def write_config(path):
    lines = ["events:", "  - name: payment", "    topic: payments", "    allowed_lateness: 30s", "    fields:"]
    lines += [f"      {n}: {t}" for n, t in FIELDS]
    lines.append("    features:")
    for name, kind, p in FEATURES:
        lines.append(f"      - name: {name}")
        if kind == "raw":
            lines.append(f"        field: {p['field']}")
        elif kind == "categorical":
            codes = ", ".join(f"{k}: {v}" for k, v in p["codes"].items())
            lines += [f"        field: {p['field']}", f"        encode: {{{codes}}}", f"        unknown: {p['unknown']}"]
            lines.append("        missing: .nan" if math.isnan(p["missing"]) else f"        missing: {p['missing']}")
        elif kind == "ratio":
            lines += [f"        numerator: {p['num']}", f"        denominator: {p['den']}", f"        when_denominator_zero: {p['zero']}"]
        else:
            lines += [f"        entity: {p['entity']}", f"        aggregation: {p['fn']}"]
            if "field" in p:
                lines.append(f"        field: {p['field']}")
            if "window" in p:
                size, step = p["window"]
                wtype = p.get("type", "sliding")
                if wtype == "tumbling":
                    lines.append(f"        window: {{type: tumbling, size: {duration(size)}}}")
                elif wtype == "hopping":
                    lines.append(f"        window: {{type: hopping, size: {duration(size)}, hop: {duration(step)}}}")
                else:
                    lines.append(f"        window: {duration(size)}")
                    lines.append("        resolution: exact" if step == 1 else f"        resolution: {duration(step)}")
            if "where" in p:
                field, values = p["where"]
                lines.append(f"        where: {{{field}: [{', '.join(values)}]}}")
    open(path, "w").write("\n".join(lines) + "\n")


def rfc3339(ms):
    import datetime
    dt = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def odd_amount(rng):
    """An amount that thousandths do not hold exactly: more decimals, or too large."""
    return rng.choice([round(rng.uniform(0, 100), 6), round(rng.uniform(1.1e6, 5e7), 2), 1e-9, 0.1 + 0.2, -rng.uniform(0, 10)])


def generate(n, seed, odd_amounts=0.0):
    rng = random.Random(seed)
    t = BASE
    lines = []
    for i in range(n):
        t += int(rng.expovariate(1 / 1500))
        if i == n // 2:
            t += 3 * 86_400_000  # everyone goes idle for three days: entities expire
        et = t
        r = rng.random()
        if r < 0.03:
            et = t - rng.randint(0, 40_000)       # out of order, sometimes beyond lateness
        elif r < 0.035:
            et = t - rng.randint(3_600_000, 30 * 3_600_000)  # hours late
        card = f"c-{int(rng.paretovariate(1.2)) % 40:03d}"
        ev = {"event_id": f"e-{i:06d}", "event_time": et, "card_id": card,
              "merchant_id": f"m-{rng.randint(0, 14):02d}", "amount": round(rng.lognormvariate(3, 1.2), 2),
              "mcc": rng.choice([5411, 5812, 5999, 4111]), "channel": rng.choice(["web", "web", "app", "pos", "moto"])}
        if rng.random() < 0.8:
            ev["device_id"] = f"d-{rng.randint(0, 30)}"
        if rng.random() < 0.7:
            ev["tip"] = rng.choice([0.0, -0.0, 1.5, round(rng.uniform(0, 20), 2)])
        if rng.random() < 0.9:
            ev["country"] = rng.choice(["US", "US", "FR", "DE"])
        if rng.random() < 0.1:
            ev["event_time"] = rfc3339(et)
        if rng.random() < 0.05:
            ev["amount"] = rng.choice([0.0, 1e6, 0.01])
        if odd_amounts and rng.random() < odd_amounts:
            ev["amount"] = odd_amount(rng)
        line = json.dumps(ev, separators=(",", ":"))
        if rng.random() < 0.01:
            line = rng.choice([line[: len(line) // 2], line.replace('"amount":', '"amount":"x"'), "{}", line.replace("}", ',"x":NaN}')])
        lines.append(line)
    return lines


def parse_time(v):
    if isinstance(v, str):
        import datetime
        return int(round(datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000))
    return v


def tile(t, step):
    return t // step


def compute(lines):
    """Brute force, following the README's rules literally."""
    stream_time = None
    entities = {}  # (field, key) -> {"clock": int|None, "events": [event dicts]}
    rows = []
    kinds = sorted({p["entity"] for _, k, p in FEATURES if k == "agg"})
    # entity TTL: longest window (24 h at least when last/time_since_previous is used) + lateness
    ttl = {}
    for field in kinds:
        longest = 0
        for _, k, p in FEATURES:
            if k == "agg" and p["entity"] == field:
                longest = max(longest, p["window"][0] if "window" in p else 86_400_000)
        ttl[field] = longest + LATENESS
    for line in lines:
        try:
            ev = json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        except ValueError:
            continue
        if not all(k in ev for k in ("event_id", "event_time", "card_id", "merchant_id", "amount", "mcc", "channel")):
            continue
        if not isinstance(ev["amount"], (int, float)) or isinstance(ev["amount"], bool):
            continue
        t = parse_time(ev["event_time"])
        late = stream_time is not None and t < stream_time - LATENESS
        new_stream = stream_time if late else (t if stream_time is None else max(stream_time, t))
        lag = 0 if stream_time is None else max(0, stream_time - t)
        stream_time = new_stream
        values = {}
        for field in kinds:
            key = ev.get(field)
            feats = [(n, p) for n, k, p in FEATURES if k == "agg" and p["entity"] == field]
            if key is None:
                for n, _ in feats:
                    values[n] = float("nan")
                continue
            ent = entities.get((field, key))
            if ent is not None and ent["clock"] is not None and ent["clock"] < stream_time - ttl[field]:
                ent = None
                if not late:
                    del entities[(field, key)]
            if ent is None:
                ent = {"clock": None, "events": []}
                if not late:
                    entities[(field, key)] = ent
            prev_clock = ent["clock"]

            def passes(e, p):
                if "where" not in p:
                    return True
                f, vals = p["where"]
                return e.get(f) in vals

            for n, p in feats:
                if p["fn"] == "last":
                    cands = [(e["_t"], i, e[p["field"]]) for i, e in enumerate(ent["events"])
                             if passes(e, p) and e.get(p["field"]) is not None]
                    values[n] = float(max(cands)[2]) if cands else float("nan")
                elif p["fn"] == "time_since_previous":
                    values[n] = float("nan") if prev_clock is None else (t - prev_clock) / 1000
            if not late:
                e = dict(ev)
                e["_t"] = t
                ent["events"].append(e)
                ent["clock"] = t if prev_clock is None else max(prev_clock, t)
            clock = ent["clock"]
            for n, p in feats:
                if "window" not in p:
                    continue
                size, step = p["window"]
                if clock is None:
                    inside = []
                else:
                    start = tile(clock, step) - size // step + 1
                    inside = [e for e in ent["events"] if passes(e, p) and start <= tile(e["_t"], step) <= tile(clock, step)]
                fn = p["fn"]
                vals = [float(e[p["field"]]) for e in inside if e.get(p["field"]) is not None] if fn in ("sum", "mean", "stddev", "min", "max") else []
                if fn == "count":
                    values[n] = float(len(inside))
                elif fn == "sum":
                    values[n] = math.fsum(vals)
                elif fn == "mean":
                    values[n] = math.fsum(vals) / len(vals) if vals else float("nan")
                elif fn == "stddev":
                    if vals:
                        m = math.fsum(vals) / len(vals)
                        values[n] = math.sqrt(math.fsum((v - m) ** 2 for v in vals) / len(vals))
                    else:
                        values[n] = float("nan")
                elif fn == "min":
                    values[n] = min(vals) if vals else float("nan")
                elif fn == "max":
                    values[n] = max(vals) if vals else float("nan")
                elif fn == "distinct_count":
                    values[n] = float(len({e[p["field"]] for e in inside if e.get(p["field"]) is not None}))
        for n, k, p in FEATURES:
            if k == "raw":
                v = ev.get(p["field"])
                values[n] = float("nan") if v is None else float(v)
            elif k == "categorical":
                v = ev.get(p["field"])
                values[n] = p["missing"] if v is None else float(p["codes"].get(str(v), p["unknown"]))
            elif k == "ratio":
                a, b = values[p["num"]], values[p["den"]]
                values[n] = float("nan") if math.isnan(a) or math.isnan(b) else (p["zero"] if b == 0 else a / b)
        rows.append((ev["event_id"], [values[n] for n, _, _ in FEATURES], t, stream_time, lag, late))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--events", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--odd-amounts", type=float, default=0.0,
                    help="share of amounts replaced by values a compact tile cannot hold (more than 3 decimals, over 1,073,741)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    write_config(os.path.join(args.out, "osprey.yaml"))
    lines = generate(args.events, args.seed, args.odd_amounts)
    open(os.path.join(args.out, "events.jsonl"), "w").write("\n".join(lines) + "\n")
    rows = compute(lines)
    with open(os.path.join(args.out, "expected.csv"), "w") as f:
        f.write("event_id," + ",".join(n for n, _, _ in FEATURES) + ",event_time,stream_time,lag_ms,late\n")
        for eid, vals, t, st, lag, late in rows:
            f.write(eid + "," + ",".join("" if math.isnan(v) else repr(v) for v in vals) + f",{t},{st},{lag},{int(late)}\n")
    print(f"{len(lines)} events, {len(rows)} valid, {sum(r[5] for r in rows)} late")


if __name__ == "__main__":
    main()

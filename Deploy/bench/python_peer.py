#!/usr/bin/env python3
"""The Python peer for pipeline-bench.sh: Osprey's payments job written the way a
competent Python team would, with confluent-kafka (librdkafka 2.16) and XGBoost.

    python_peer.py BOOTSTRAP GROUP IN_TOPIC OUT_TOPIC MODEL.json [SECONDS]

Consumes payments events in batches, decodes them with json.loads, keeps the
example's per-card and per-merchant windowed aggregates in tile rings (the same
windows and resolutions as Deploy/examples/payments/osprey.yaml), scores each
batch with one Booster.inplace_predict call, applies the example's thresholds
and produces a JSON decision per event keyed by card. It is a peer for speed,
not a reference for values: it ignores lateness and TTL, and reads windows from
running totals over their live tiles. Runs until SIGTERM (or SECONDS).
"""
from collections import Counter, deque
import json
import math
import os
import signal
import sys
import time

import numpy as np
import xgboost as xgb
from confluent_kafka import Consumer, Producer


class Ring:
    """The live tiles of one sliding window, oldest first, with running totals
    so that count, sum and distinct reads cost O(1) amortised."""

    __slots__ = ("r", "n", "tiles", "count", "sum", "sumsq", "keys")

    def __init__(self, window_ms, resolution_ms, distinct=False):
        self.r, self.n = resolution_ms, window_ms // resolution_ms
        self.tiles = deque()  # [index, count, sum, sumsq, max, keys]
        self.count, self.sum, self.sumsq = 0, 0.0, 0.0
        self.keys = Counter() if distinct else None

    def advance(self, t):
        oldest = t // self.r - self.n
        tiles = self.tiles
        while tiles and tiles[0][0] <= oldest:
            _, count, total, sq, _, keys = tiles.popleft()
            self.count -= count
            self.sum -= total
            self.sumsq -= sq
            if keys:
                for key in keys:
                    self.keys[key] -= 1
                    if not self.keys[key]:
                        del self.keys[key]

    def add(self, t, value=0.0, key=None):
        k = t // self.r
        tile = next((x for x in reversed(self.tiles) if x[0] == k), None)
        if tile is None:
            tile = [k, 0, 0.0, 0.0, -math.inf, set() if self.keys is not None else None]
            self.tiles.append(tile)
            if len(self.tiles) > 1 and self.tiles[-2][0] > k:  # a late event's older tile
                self.tiles = deque(sorted(self.tiles, key=lambda x: x[0]))
        tile[1] += 1
        tile[2] += value
        tile[3] += value * value
        if value > tile[4]:
            tile[4] = value
        self.count += 1
        self.sum += value
        self.sumsq += value * value
        if self.keys is not None and key not in tile[5]:
            tile[5].add(key)
            self.keys[key] += 1
        self.advance(t)

    def max(self):
        return max(x[4] for x in self.tiles)


class Card:
    __slots__ = ("r5m", "r1h", "r24h", "last")

    def __init__(self):
        self.r5m, self.r1h, self.r24h = Ring(300_000, 10_000), Ring(3_600_000, 60_000), Ring(86_400_000, 900_000, True)
        self.last = None


class Merchant:
    __slots__ = ("r1h", "r7d")

    def __init__(self):
        self.r1h, self.r7d = Ring(3_600_000, 60_000), Ring(604_800_000, 3_600_000)


CHANNELS = {"web": 0, "app": 1, "pos": 2, "moto": 3}


def features(e, cards, merchants):
    t, amount = e["event_time"], float(e["amount"])
    card = cards.get(e["card_id"]) or cards.setdefault(e["card_id"], Card())
    merchant = merchants.get(e["merchant_id"]) or merchants.setdefault(e["merchant_id"], Merchant())
    since = (t - card.last) / 1000 if card.last is not None else math.nan
    card.last = t
    card.r5m.add(t)
    card.r1h.add(t)
    card.r24h.add(t, amount, e["merchant_id"])
    merchant.r1h.add(t)
    merchant.r7d.add(t, amount)
    c5, c1, n = card.r5m.count, card.r1h.count, card.r24h.count
    mean = card.r24h.sum / n
    std = math.sqrt(max(card.r24h.sumsq / n - mean * mean, 0.0))
    mx = card.r24h.max()
    distinct = len(card.r24h.keys)
    m1 = merchant.r1h.count
    mmean = merchant.r7d.sum / merchant.r7d.count
    country = e.get("country")
    foreign = math.nan if country is None else (0.0 if country == "US" else 1.0)
    return [amount, float(e["mcc"]), float(CHANNELS.get(e["channel"], -1)), foreign, c5, c1, mean, std, mx, distinct,
            since, m1, mmean, amount / mean if mean else 0.0]


def main():
    bootstrap, group, source, sink, model = sys.argv[1:6]
    seconds = float(sys.argv[6]) if len(sys.argv) > 6 else math.inf
    booster = xgb.Booster(model_file=model)
    booster.set_param({"nthread": 1})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": True, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                         "fetch.wait.max.ms": int(os.environ.get("PEER_FETCH_WAIT_MAX_MS", "10")),
                         "partition.assignment.strategy": "cooperative-sticky"})
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    consumer.subscribe([source])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    cards, merchants = {}, {}
    consumed, bad, end = 0, 0, time.time() + seconds
    while not stop and time.time() < end:
        batch = consumer.consume(500, 0.002)
        if not batch:
            producer.poll(0)
            continue
        started = time.time()
        events, rows = [], []
        for m in batch:
            if m.error():
                continue
            try:
                e = json.loads(m.value())
                rows.append(features(e, cards, merchants))
                events.append(e)
            except (ValueError, KeyError, TypeError):
                bad += 1
        if rows:
            scores = booster.inplace_predict(np.array(rows, dtype=np.float32))
            now = time.time()
            took_us = int((now - started) * 1e6 / len(rows))
            for e, score in zip(events, scores):
                score = float(score)
                decision = "decline" if score >= 0.9 else "review" if score >= 0.5 else "approve"
                record = {"event_id": e["event_id"], "event_type": "payment", "entity": {"card_id": e["card_id"]},
                          "score": score, "decision": decision, "model_version": "python-peer",
                          "event_time": e["event_time"], "processed_at": int(now * 1000),
                          "processing_latency_us": took_us}
                while True:
                    try:
                        producer.produce(sink, json.dumps(record, separators=(",", ":")).encode(), key=e["card_id"].encode())
                        break
                    except BufferError:
                        producer.poll(0.01)
        consumed += len(batch)
        producer.poll(0)
    producer.flush(30)
    consumer.close()
    print(f"python peer: {consumed} consumed, {bad} undecodable", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The HTTP peer for http-bench.sh: synchronous scoring written the way a
Python team would, with FastAPI (uvicorn) and XGBoost.

    OSPREY_PEER_MODEL=model.json OSPREY_PEER_EVENTS=events.jsonl \\
        uvicorn fastapi_peer:app --app-dir Deploy/bench --port 18089 --workers 2

At start-up each worker replays the events file into the same per-card and
per-merchant tile rings as python_peer.py (so it holds the 100k cards of
state Osprey holds); POST /v1/score then decodes the event, updates and reads
its features, scores the row with XGBoost and answers score, decision and
features as JSON. Invalid events answer 400.
"""
import json
import os
import time

import numpy as np
import xgboost as xgb
from fastapi import FastAPI, HTTPException, Request

from python_peer import features

booster = xgb.Booster(model_file=os.environ["OSPREY_PEER_MODEL"])
booster.set_param({"nthread": 1})
names = booster.feature_names
cards, merchants = {}, {}
with open(os.environ["OSPREY_PEER_EVENTS"]) as f:
    for line in f:
        try:
            features(json.loads(line), cards, merchants)
        except (ValueError, KeyError, TypeError):
            pass

app = FastAPI()


@app.post("/v1/score")
async def score(request: Request):
    started = time.perf_counter()
    try:
        event = json.loads(await request.body())
        row = features(event, cards, merchants)
    except (ValueError, KeyError, TypeError) as error:
        raise HTTPException(status_code=400, detail=f"invalid event: {error}")
    value = float(booster.inplace_predict(np.array([row], dtype=np.float32))[0])
    decision = "decline" if value >= 0.9 else "review" if value >= 0.5 else "approve"
    return {"event_id": event["event_id"], "score": value, "decision": decision, "model_version": "fastapi-peer",
            "features": {n: None if v != v else v for n, v in zip(names, row)}, "processing_latency_us": int((time.perf_counter() - started) * 1e6)}

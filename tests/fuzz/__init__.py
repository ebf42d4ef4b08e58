"""Fuzzing suite: hypothesis properties for every ingress (the five phone protocols, the JSON API, the
browser socket's client messages).  Strategies live in `strategies`, the protocol invariants in `harness`;
`bench/fuzz.py` runs the same strategies for longer."""

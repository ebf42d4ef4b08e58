"""The coach: judges every transcript segment against a per-language playbook and returns prompts.

Entry points: `engine.CallCoach` / `engine.CallContext`, `playbook.load_playbook`,
`detectors.sensitive.mask_segment`, `dialing.dial_check`, `replay.run_replay`.  See docs/coach.md.
"""

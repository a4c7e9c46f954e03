"""Prefect flows: `rl-loop`, `sl-train`, and serving them as deployments."""

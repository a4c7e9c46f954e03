"""Thin Prefect tasks over the stage functions: cache keys, artifacts, logging. No logic."""

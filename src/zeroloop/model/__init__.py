"""The policy/value network and the model file format (no Prefect, no Ray)."""

"""Data stages: chunk I/O, preprocessing, bucket shuffle, RL window, loader."""

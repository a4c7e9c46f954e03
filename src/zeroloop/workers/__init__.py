"""Ray actors: self-play workers and the stage that drives them, arena workers."""

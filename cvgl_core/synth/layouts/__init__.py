"""One writer per real dataset layout: write(root, profile, seed, knobs) -> counts."""

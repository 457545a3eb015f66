"""The paper's experiments: datasets with known modes, their counters and labels, and the studies."""

"""What the services agree on: the NATS topology (topology, streams) and the vocabulary of an
execution (execution, output, results)."""

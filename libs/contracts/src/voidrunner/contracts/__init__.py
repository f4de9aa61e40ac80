"""Contracts between services that protobuf does not carry: the NATS topology."""

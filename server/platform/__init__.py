"""Adapters to the outside world: Postgres, Valkey, S3, logs and the job queue. Imports no domain."""

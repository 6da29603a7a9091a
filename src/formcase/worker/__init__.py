"""The job runner: work done after a commit (webhook deliveries, notifications)."""

"""The operator's web console: pages, health and readiness, Prometheus metrics."""

"""What operators see of a server: Prometheus metrics, OpenTelemetry spans, forwarded trace headers, draining."""

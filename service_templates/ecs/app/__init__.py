"""The service's HTTP application (stdlib only)."""

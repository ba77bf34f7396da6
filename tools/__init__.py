"""Command-line helpers: schema export, cross-account bootstrap, benchmarks."""

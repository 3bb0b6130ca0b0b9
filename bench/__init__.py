"""guessnet benchmarks: real TLS clients against a real server process (see docs/PERFORMANCE.md)."""

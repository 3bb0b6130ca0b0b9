"""guessnet server and client internals: TLS plumbing, sessions, logs, accounts."""

"""The player's features, one module each; every module's ``HANDLERS`` maps the message types
it answers to functions of (session, message)."""

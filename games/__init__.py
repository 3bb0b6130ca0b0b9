"""Pure game rules: state machines with no I/O, no clock and no threads."""

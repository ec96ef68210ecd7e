"""Wiring and the command line of venice-bots."""

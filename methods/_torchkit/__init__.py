"""Torch helpers shared by method plugins (never imported by `asebench list`)."""

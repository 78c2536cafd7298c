"""Shared machinery of the test labs: process supervision, ports, state files."""

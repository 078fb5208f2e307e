"""Tests of ``python -m runtime.admin`` commands that work on the log file."""

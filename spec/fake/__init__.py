"""Modules of the fake Infisical API server (see spec/fake_server.py)."""

"""Test support: real pluggy plugins with in-memory stores, used by the core's tests."""

"""Helpers for tests and benchmarks that need models: tiny random ones, in each library's own format."""

"""Tests of devtools/smoke."""

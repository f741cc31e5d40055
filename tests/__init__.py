"""Tests of the dfmi project."""

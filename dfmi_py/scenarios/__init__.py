"""Scripted market scenarios run on a chain (the main job and its parts)."""

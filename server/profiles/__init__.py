"""Profiles, preferences and private locations."""

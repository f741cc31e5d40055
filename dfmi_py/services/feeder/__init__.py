"""The price feeder: what one reporter submits, and when (pure decisions in :mod:`.decide`)."""

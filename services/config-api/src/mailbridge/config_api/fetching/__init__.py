"""Fetching mail: the G2 schedule, manual fetch (G4), reload (G5) and the fetch state."""

"""Global mail settings (G1–G6): one object for the whole installation."""

"""User groups: shared mail accounts belong to a group (A1)."""

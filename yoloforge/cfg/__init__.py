"""cfg package."""

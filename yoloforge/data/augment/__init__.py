"""data augment package."""

"""nn modules package."""

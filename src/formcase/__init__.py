"""formcase: a self-hostable server implementing the Penbox Connect API v1."""

__version__ = "0.1.0"

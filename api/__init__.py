"""A1111-compatible REST routes (/sdapi/v1/...) on the app's FastAPI server."""
from .routes import Api, mount_api

__all__ = ["Api", "mount_api"]

"""DreamFactory CORS entries as Pulumi resources."""

from .cors_provider import CorsProvider
from .cors_resource import CorsEntry

__all__ = ["CorsEntry", "CorsProvider"]

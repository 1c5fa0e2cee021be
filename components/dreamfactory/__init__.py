"""DreamFactory CORS entries as Pulumi resources, on the stack's DreamFactory or on explicit instances."""

from .cors_provider import CorsProvider
from .cors_resource import CorsEntry
from .instance import DreamFactoryInstance

__all__ = ["CorsEntry", "CorsProvider", "DreamFactoryInstance"]

"""CertbotHost: TLS for DreamFactory hosts over SSH."""

from .host import CertbotHost
from .spec import CertbotConfigError

__all__ = ["CertbotConfigError", "CertbotHost"]

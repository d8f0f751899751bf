"""Key and certificate lifecycle: generate, rotate (next → active → retired), publish."""

from certs.keys import KeyFileError, KeyManager, LoadedKey
from certs.publish import jwks, key_descriptors

__all__ = ["KeyFileError", "KeyManager", "LoadedKey", "jwks", "key_descriptors"]

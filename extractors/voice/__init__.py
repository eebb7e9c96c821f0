"""voice backends; importing this package registers them."""

from extractors.voice import opensmile_backend  # noqa: F401  (registers "opensmile")

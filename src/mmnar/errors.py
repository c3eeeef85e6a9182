"""Errors every layer may raise; kept at the bottom of the package so no layer imports upwards."""


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key and the fix, in one line."""

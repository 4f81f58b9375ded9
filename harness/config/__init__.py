"""Config: a TOML file (or the built-in default) parsed once into frozen `harness.specs`.

Owns loading, section parsing and list-sweep expansion; validates names against the registries
of train, compress and measure, so it may import those stages, never sweep, report or cli.
"""

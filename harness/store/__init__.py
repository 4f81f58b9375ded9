"""Store: the SQLite results store (one writer: the sweep driver) and the artifact cache
addressed by content hash. Imports only the base modules (errors, hashing, specs).
"""

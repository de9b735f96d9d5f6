"""Storage: the run directory, atomic writes, cache paths and content hashes."""

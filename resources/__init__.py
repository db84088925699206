"""Data files shipped with P-FES Studio (installed as the `pfes_resources` package)."""

"""PoolScope's Qt application: a thin layer over ``core`` (see DESIGN.md)."""

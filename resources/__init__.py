"""PoolScope's icons, stylesheets and desktop entry, shipped inside the wheel.

Look files up through ``gui.resources`` (by name), never by path.
"""

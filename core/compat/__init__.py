"""Other pools' vocabularies on PoolScope's engine (``from core.compat import threadpool``)."""

"""Persistence and shared state behind small interfaces (see ``storage.base``).

Embedded backends (``memory``, ``sqlite``) need no other service; ``redis_backend`` and
``memcached_backend`` let several server processes share one game.
"""

"""Stage 2, decode: ``raw_logs`` into ``position_changes``, ``votes``, ``contribution_events``
and ``quarantine`` (``logs``, with ``transfers`` for the bulk Transfer path), then the
epoch-ordered ``contributions`` (``contributions``: duplicate ids need every earlier epoch).
"""

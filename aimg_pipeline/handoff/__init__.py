"""After publishing: from a published root to paid claims (the cumulative distributor:
setting a root, claiming with a proof).
"""

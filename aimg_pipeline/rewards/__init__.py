"""Stage 4, rewards: the epoch's emission by channel (``emissions``), every account's share
(``allocations``, the rules in ``lib.allocation``), cumulative claims (``claims``), and the
epoch-over-epoch changes worth a look (``swings``).
"""

"""Stage 5, publish: an epoch's release assembled from the warehouse and re-checked against
the chain (``release``), its files built (``artifacts``, ``render``, spooled by ``spool``),
and published atomically and immutably (``folder``, in the ``layout`` of SPEC 9).
``aimg_pipeline.verify`` checks the folder on its own; ``aimg_pipeline.report`` shows it.
"""

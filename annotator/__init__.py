"""mer-annotator's library: the CLI (``cli``), the batch runner (``pipeline``), drafting,
Label Studio sync, export, statistics and the worker engines. ``extractors`` and
``textualize`` below it know nothing of this package; ``app`` (the review UI) sits on top."""

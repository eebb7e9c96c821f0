"""Label Studio as a second review front end: ``annotator ls setup / push / pull``.

``config`` makes the labeling config and validates results against it, ``client`` holds
the connection, ``sync`` moves drafts out as predictions and annotations back as reviews.
"""

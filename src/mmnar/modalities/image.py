"""Chest X-ray embeddings (I): penultimate-layer features of a torchvision classification model.

Weights are seeded random initialisation by default (no weights can be downloaded in the default
environment); users with internet pass a torchvision weights name, users with e.g. a CXR-trained
checkpoint pass a local state_dict file. Each choice is part of the cache key.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms
from tqdm import tqdm

from mmnar.device import choose_device
from mmnar.modalities.cache import DEFAULT_SHARD_SIZE, EmbeddingCache, sha256_file
from mmnar.modalities.frame import empty_embedding_frame, mean_by_subject, write_embedding_frame
from mmnar.data.quality import QualityReport

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("data/cache/embeddings")

IMAGE_PREP_VERSION = "image-v1"
"""Bump when decoding, resizing or normalisation changes, so cached vectors from before are not reused."""

RANDOM_WEIGHTS = "random"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def strip_classifier(model: nn.Module) -> tuple[str, int]:
    """Swap the last ``nn.Linear`` (the classifier of resnet ``fc``, densenet ``classifier``, vit
    ``heads.head``, …) for ``Identity``; return its qualified name and its input width (feature dim)."""
    linears = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier to remove")
    name, head = linears[-1]
    parent_name, _, attribute = name.rpartition(".")
    setattr(model.get_submodule(parent_name), attribute, nn.Identity())
    return name, head.in_features


def _load_local_state_dict(model: nn.Module, head_name: str, path: Path) -> None:
    """Load a backbone checkpoint into the headless model; its own classifier (any class count) is
    ignored, but every backbone weight must be present."""
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    state_dict = {key.removeprefix("module."): value for key, value in state_dict.items()}
    result = model.load_state_dict(state_dict, strict=False)
    unexpected = [key for key in result.unexpected_keys if not key.startswith(f"{head_name}.")]
    if result.missing_keys or unexpected:
        raise ValueError(
            f"{path} does not fit {type(model).__name__}: "
            f"missing {result.missing_keys[:5]}, unexpected {unexpected[:5]}"
        )


class ImageEncoder:
    """A torchvision backbone without its classifier, built lazily so a fully cached rerun skips it."""

    def __init__(self, arch: str = "resnet18", weights: str = RANDOM_WEIGHTS, seed: int = 0, device: str = "auto"):
        self.arch = arch
        self.weights = weights
        self.seed = seed
        self.device = choose_device(device)
        self.encoder_id = f"torchvision/{arch}/{self._weights_tag()}"
        self._model: nn.Module | None = None
        self._dim: int | None = None

    def _is_local_file(self) -> bool:
        return Path(self.weights).suffix in {".pt", ".pth"} or Path(self.weights).is_file()

    def _weights_tag(self) -> str:
        """What the weights are, for the cache key: the init seed (and torchvision version, whose init
        schemes may change), the concrete torchvision enum member, or the checkpoint's content hash."""
        if self.weights == RANDOM_WEIGHTS:
            return f"random-seed{self.seed}-torchvision{torchvision.__version__}"
        if self._is_local_file():
            return f"file-sha256:{sha256_file(self.weights)}"
        return self._torchvision_weights().name

    def _torchvision_weights(self):
        enum = torchvision.models.get_model_weights(self.arch)
        try:
            return enum[self.weights]
        except KeyError:
            names = ["DEFAULT", *enum.__members__]
            raise ValueError(f"unknown weights {self.weights!r} for {self.arch}; choose from {names}, "
                             f"{RANDOM_WEIGHTS!r} or a .pt/.pth state_dict path") from None

    def _build(self) -> None:
        if self.weights == RANDOM_WEIGHTS:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = torchvision.models.get_model(self.arch, weights=None)
            head_name, self._dim = strip_classifier(model)
        elif self._is_local_file():
            model = torchvision.models.get_model(self.arch, weights=None)
            head_name, self._dim = strip_classifier(model)
            _load_local_state_dict(model, head_name, Path(self.weights))
        else:
            model = torchvision.models.get_model(self.arch, weights=self._torchvision_weights())
            head_name, self._dim = strip_classifier(model)
        log.info("image encoder %s (%s removed, %d-d features) on %s",
                 self.encoder_id, head_name, self._dim, self.device)
        self._model = model.to(self.device).eval()

    @property
    def model(self) -> nn.Module:
        if self._model is None:
            self._build()
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._build()
        return self._dim


def cxr_transform(image_size: int) -> transforms.Compose:
    """Shorter side to ``image_size`` then centre crop (keeps aspect ratio), grey → 3 channels, ImageNet scaling."""
    return transforms.Compose([
        transforms.Resize(image_size),
        transforms.CenterCrop(image_size),
        transforms.Grayscale(num_output_channels=3),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


class CxrImages(Dataset):
    """Decoded, transformed images; an item that cannot be decoded yields zeros and the reason.

    A MIMIC-CXR-JPG download of 377k files has damaged ones (truncated transfers, zero-filled
    blocks); one of them must cost its own image, not the run.
    """

    def __init__(self, paths: list[Path], image_size: int):
        self.paths = paths
        self.image_size = image_size
        self.transform = cxr_transform(image_size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        try:
            with Image.open(self.paths[index]) as image:
                # JPEG draft mode decodes at a reduced DCT scale (never below the target size): full-size
                # MIMIC-CXR files are ~3000 px, so this is several times faster than decoding then shrinking.
                image.draft("L", (self.image_size, self.image_size))
                return self.transform(image.convert("L")), ""
        except Exception as error:  # noqa: BLE001 - whatever one file raises (truncation, bad header, bomb) costs only it
            return torch.zeros(3, self.image_size, self.image_size), f"undecodable image: {type(error).__name__}"


def encode_images(
    encoder: ImageEncoder, paths: list[Path], image_size: int, batch_size: int, num_workers: int = 0
) -> tuple[np.ndarray, dict[int, str]]:
    """Feature rows for ``paths`` (NaN for an image that could not be decoded) and the reasons by position."""
    loader = DataLoader(CxrImages(paths, image_size), batch_size=batch_size, num_workers=num_workers)
    features, failures, done = [], {}, 0
    with torch.inference_mode():
        for batch, reasons in tqdm(loader, unit="batch", desc="embed image", mininterval=5):
            vectors = encoder.model(batch.to(encoder.device)).flatten(1).float().cpu().numpy()
            for offset, reason in enumerate(reasons):
                if reason:
                    failures[done + offset] = reason
                    vectors[offset] = np.nan
            features.append(vectors)
            done += len(vectors)
    return np.concatenate(features), failures


def embed_images(
    cxr: pd.DataFrame,
    cxr_root: str | os.PathLike,
    arch: str = "resnet18",
    weights: str = RANDOM_WEIGHTS,
    image_size: int = 224,
    batch_size: int = 32,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    device: str = "auto",
    seed: int = 0,
    num_workers: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> tuple[pd.DataFrame, QualityReport]:
    """One row per subject: image features, mean-pooled over the subject's readable images.

    Images are identified by the sha256 of their file bytes, so only files not yet in ``cache_dir``
    under this (model, weights, preprocessing) are decoded and encoded. A missing or undecodable
    file is left out and reported; a subject with no readable image has no row (its I bit is 0).
    """
    encoder = ImageEncoder(arch, weights, seed, device)
    report = QualityReport("embed_image", "I", n_items=len(cxr))
    if cxr.empty:
        return empty_embedding_frame(encoder.dim), report
    paths = [Path(cxr_root) / relative for relative in cxr["path"]]
    reasons: dict[int, str] = {}
    hashes, readable = [], []
    for position, path in enumerate(paths):
        try:
            hashes.append(sha256_file(path))
            readable.append(position)
        except FileNotFoundError:
            reasons[position] = "file not found"
        except OSError as error:
            reasons[position] = f"unreadable file: {type(error).__name__}"
    failed_hashes: dict[str, str] = {}
    cache = EmbeddingCache(cache_dir, encoder.encoder_id, f"{IMAGE_PREP_VERSION}-{image_size}px")

    def compute(positions: list[int]) -> np.ndarray:
        vectors, failed = encode_images(encoder, [paths[readable[i]] for i in positions], image_size, batch_size,
                                        num_workers)
        failed_hashes.update({hashes[positions[i]]: reason for i, reason in failed.items()})
        return vectors

    vectors, _ = cache.get_or_compute(hashes, compute, shard_size=shard_size)
    reasons |= {readable[i]: failed_hashes.get(h, "undecodable image") for i, h in enumerate(hashes)
                if np.isnan(vectors[i]).any()}
    for position, reason in sorted(reasons.items()):
        row = cxr.iloc[position]
        report.add("chest X-ray", row["path"], row["dicom_id"], row["subject_id"], reason)
        log.warning("skipped image %s (%s)", row["path"], reason)
    ok = ~np.isnan(vectors).any(axis=1) if len(vectors) else np.zeros(0, dtype=bool)
    subjects = cxr["subject_id"].to_numpy()[np.asarray(readable, dtype=int)][ok]
    if not ok.any():
        return empty_embedding_frame(encoder.dim), report
    return mean_by_subject(subjects, vectors[ok]), report


def run_embed_image(
    cxr_path: str | os.PathLike,
    cxr_root: str | os.PathLike,
    out_path: str | os.PathLike,
    quality_path: str | os.PathLike,
    arch: str,
    weights: str,
    image_size: int,
    batch_size: int,
    cache_dir: str | os.PathLike,
    device: str,
    seed: int,
    num_workers: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> None:
    """Stage ``embed_image``: ``cxr.parquet`` (paths relative to ``cxr_root``) → embedding parquet."""
    cxr = pd.read_parquet(cxr_path, columns=["subject_id", "study_id", "dicom_id", "path"])
    frame, report = embed_images(cxr, cxr_root, arch, weights, image_size, batch_size, cache_dir, device, seed,
                                 num_workers, shard_size)
    log.info("embedded CXRs of %d patients (%d-d) from %s", len(frame), frame.shape[1] - 1, cxr_path)
    write_embedding_frame(frame, out_path)
    report.write(quality_path)

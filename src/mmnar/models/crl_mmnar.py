"""CRL-MMNAR (docs/method.md, "CRL-MMNAR"): missingness-aware gated attention fusion with masked reconstruction.

Stage 1 builds ``h_i`` from the observed modalities and the observation pattern delta_i:

1. each modality m is projected to a token ``e^(m)`` (two-layer MLP to ``hidden_dim``); with
   ``structured_encoder: recurrent`` the structured modality is read as its hourly series and
   encoded by a GRU over (values, mask, time since last) instead (paper App. B.1: "lightweight
   feed-forward or recurrent models");
2. ``z = MLP(delta)`` is trained as an auto-encoder of delta (term ``miss``);
3. gating ``e_gate^(m) = delta^(m) * sigmoid(W^(m) z + b^(m)) * e^(m)`` (element-wise gate);
4. multi-head self-attention with a key padding mask on the missing tokens (residual +
   LayerNorm), then a mean over the observed tokens gives ``h``; a learned modality embedding is
   added to each token so attention knows which modality it looks at;
5. masked reconstruction (paper Sec. 3.1.2): while training, each observed modality m of each
   patient is masked at random with probability ``mask_rate`` (missing-at-random masking, so the
   masking encodes no clinical decision); the rest is fused to ``h^{\\m}`` and decoded to
   ``e_rec^(m)`` (terms ``rec_<m>``). In evaluation mode (the validation loss) every observed
   modality is masked in turn, the expectation of the training draw. The target ``e^(m)`` is detached:
   otherwise the cheapest way to lower the loss is to shrink every projection towards a constant
   (representation collapse). Patients with no other observed modality have nothing to
   reconstruct from and are left out of ``rec_<m>`` and ``cont_<m>``;
6. InfoNCE between ``e^(m)`` and ``e_rec^(m)`` over the batch's patients with m observed
   (terms ``cont_<m>``); here both sides get gradients, since cosine similarity cannot collapse.

Stage 2: ``logit_it = g_t(h_i)`` with linear heads g_t on the shared h (paper Eq. 4, step 1); the
pattern term tau_{delta,t} is estimated after training by the rectifier (step 2, ``mmnar.rectifier``).
``pattern_offsets=True`` instead learns a per-pattern, per-task offset with the heads (initialised at
zero): this project's variant, registered apart as ``crl_mmnar_offsets`` so that the ablation rows
(Table 2) keep the paper's meaning and the rectifier's job is not done inside "+MMNAR".

``reconstruction=False`` gives the Table-2 "+MMNAR fusion" ablation (module ``mmnar_fusion``).
Every registered modality is a token, so the model reads a fifth modality as soon as it is registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mmnar.models.losses import delta_autoencoder_bce, masked_info_nce, masked_reconstruction_mse
from mmnar.models.base import InputSpec, ModelInputs, ModelOutput
from mmnar.models.components import PerModalityMLP, pattern_index, two_layer_mlp
from mmnar.models.series_encoders import RecurrentSeriesEncoder


class CRLMMNAR(nn.Module):
    def __init__(self, input_spec: InputSpec, hidden_dim: int, n_heads: int, dropout: float, tau_cont: float,
                 reconstruction: bool = True, pattern_offsets: bool = False, mask_rate: float = 1.0):
        super().__init__()
        self.modalities = input_spec.modalities
        n_modalities = len(self.modalities)
        self.hidden_dim = hidden_dim
        self.tau_cont = tau_cont
        self.reconstruction = reconstruction
        self.mask_rate = mask_rate
        self.projectors = nn.ModuleDict({m: two_layer_mlp(d, hidden_dim, hidden_dim, dropout)
                                         for m, d in input_spec.vector_dims.items()})
        self.series_encoders = nn.ModuleDict({
            m: nn.Sequential(RecurrentSeriesEncoder(shape.n_features, hidden_dim, cell="gru"), nn.Linear(hidden_dim, hidden_dim))
            for m, shape in input_spec.series.items()})
        self.delta_encoder = nn.Sequential(nn.Linear(n_modalities, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim))
        self.delta_decoder = nn.Linear(hidden_dim, n_modalities)
        self.gates = nn.Linear(hidden_dim, n_modalities * hidden_dim)  # W^(m), b^(m) for all m at once
        self.modality_embedding = nn.Parameter(torch.randn(n_modalities, hidden_dim) * 0.02)
        self.attention = nn.MultiheadAttention(hidden_dim, n_heads, dropout=dropout, batch_first=True)
        self.attention_norm = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(dropout)
        if reconstruction:
            self.reconstructors = PerModalityMLP(n_modalities, hidden_dim, hidden_dim, hidden_dim, dropout)  # phi^(m)
        self.heads = nn.Linear(hidden_dim, input_spec.n_outputs)  # one linear head g_t per task on the shared h
        self.pattern_offset = nn.Embedding(2**n_modalities, input_spec.n_outputs) if pattern_offsets else None
        if pattern_offsets:
            nn.init.zeros_(self.pattern_offset.weight)

    def modality_tokens(self, inputs: ModelInputs) -> torch.Tensor:
        """Ungated projections ``e^(m)``, shape ``(B, M, d)``."""
        return torch.stack([self.series_encoders[m](inputs.series[m]) if m in self.series_encoders
                            else self.projectors[m](inputs.vectors[m]) for m in self.modalities], dim=1)

    def gate(self, tokens: torch.Tensor, z: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """``delta^(m) * sigmoid(W^(m) z + b^(m)) * e^(m)``; missing tokens are exactly zero."""
        gate_values = torch.sigmoid(self.gates(z)).view(-1, len(self.modalities), self.hidden_dim)
        return torch.where(observed.unsqueeze(-1), gate_values * tokens, torch.zeros_like(tokens))

    def fuse(self, gated: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """Self-attention over the observed tokens, mean-pooled to ``h`` (zero if none observed)."""
        attend = observed.clone()
        attend[~observed.any(dim=1)] = True  # an all-masked row would give NaN attention; it pools to zero below
        x = gated + self.modality_embedding
        attended, _ = self.attention(x, x, x, key_padding_mask=~attend, need_weights=False)
        x = self.attention_norm(x + self.dropout(attended))
        weights = observed.to(x.dtype).unsqueeze(-1)
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def represent(self, inputs: ModelInputs) -> torch.Tensor:
        """The fused representation ``h`` (eval-mode use: tests, embeddings export)."""
        observed = inputs.delta.bool()
        z = self.delta_encoder(inputs.delta.to(self.gates.weight.dtype))
        return self.fuse(self.gate(self.modality_tokens(inputs), z, observed), observed)

    def forward(self, inputs: ModelInputs, with_aux: bool = True) -> ModelOutput:
        delta = inputs.delta
        observed = delta.bool()
        delta_float = delta.to(self.gates.weight.dtype)
        z = self.delta_encoder(delta_float)
        tokens = self.modality_tokens(inputs)
        gated = self.gate(tokens, z, observed)
        reconstruct = with_aux and self.reconstruction
        if reconstruct:
            # Fuse the full token set and the M drop-one sets in a single attention call.
            n_modalities, batch = len(self.modalities), delta.shape[0]
            keep = ~torch.eye(n_modalities, dtype=torch.bool, device=delta.device)
            masks = torch.cat([observed] + [observed & keep[k] for k in range(n_modalities)], dim=0)
            fused = self.fuse(gated.repeat(n_modalities + 1, 1, 1), masks).view(n_modalities + 1, batch, -1)
            h, h_without = fused[0], fused[1:]
        else:
            h = self.fuse(gated, observed)
        logits = self.heads(h)
        if self.pattern_offset is not None:
            logits = logits + self.pattern_offset(pattern_index(delta))
        aux: dict[str, torch.Tensor] = {}
        if with_aux:
            aux["miss"] = delta_autoencoder_bce(self.delta_decoder(z), delta_float)
        if reconstruct:
            targets = tokens.transpose(0, 1)  # (M, B, d), e^(m) per modality
            reconstructed = self.reconstructors(h_without)
            usable = (observed & (observed.sum(dim=1, keepdim=True) > 1)).T  # m observed and something else to rebuild it from
            if self.training:
                usable = usable & (torch.rand(usable.shape, device=usable.device) < self.mask_rate)
            reconstruction = masked_reconstruction_mse(targets.detach(), reconstructed, usable)
            contrastive = masked_info_nce(targets, reconstructed, usable, self.tau_cont)
            for k, m in enumerate(self.modalities):
                aux[f"rec_{m}"], aux[f"cont_{m}"] = reconstruction[k], contrastive[k]
        return ModelOutput(logits, aux)


def build(input_spec: InputSpec, params: Mapping[str, Any]) -> CRLMMNAR:
    return CRLMMNAR(input_spec, hidden_dim=params["hidden_dim"], n_heads=params["n_heads"], dropout=params["dropout"],
                    tau_cont=params["tau_cont"], mask_rate=params["mask_rate"])


def build_with_offsets(input_spec: InputSpec, params: Mapping[str, Any]) -> CRLMMNAR:
    return CRLMMNAR(input_spec, hidden_dim=params["hidden_dim"], n_heads=params["n_heads"], dropout=params["dropout"],
                    tau_cont=params["tau_cont"], mask_rate=params["mask_rate"], pattern_offsets=True)

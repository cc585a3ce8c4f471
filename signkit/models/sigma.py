"""The Sigma model: sign encoder + T5 text model + SignEF + HAL + SGT, with one task head (or none: pre-training).

``model(batch)`` takes the loader's batch dict (pose, conf, mask, label, text, ...; see DESIGN.md) and returns a
`SigmaOutput`. Parameter names: the sign encoder under ``sign_encoder.``, the T5 model under ``text_model.``
(Hugging Face's own names), SignEF under ``signef.``, HAL under ``hal.``, the STM classifier under ``stm_head.``,
and the task head, alone, under ``head.``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .alignment import HAL, masked_mean
from .config import SigmaConfig
from .fusion import SignEF
from .heads import CSLRHead, ISLRHead, ctc_beam_decode, ctc_greedy_decode
from .sgt import lm_loss, mine_hard_negatives, same_text_matrix
from .sign_encoder import SignEncoder
from .text import build_text_model, load_tokenizer

TASKS = (None, "islr", "cslr", "slt")  # None: pre-training


@dataclass
class SigmaOutput:
    """``loss`` (weighted sum of ``terms``), the named terms, and the task's outputs."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    logits: torch.Tensor | None = None  # islr [B, C]; cslr [B, T, V]
    lengths: torch.Tensor | None = None  # cslr: valid frames per sample
    sign_embeds: torch.Tensor | None = None  # pre-training: unit global sign embeddings [B, E]
    text_embeds: torch.Tensor | None = None  # pre-training: unit global text embeddings [B, E]


class SigmaModel(nn.Module):
    def __init__(self, config: SigmaConfig, task: str | None = None, num_classes: int | None = None):
        super().__init__()
        self.config = config.validate()
        self.task = task
        self.num_classes = num_classes
        self.text_model = build_text_model(config.text_model)
        dim = self.text_model.config.d_model
        self.dim = dim
        self.sign_encoder = SignEncoder(config.sign_encoder, config.layout, dim)
        self.signef = SignEF(self.text_model.encoder, config.signef_layers, dim, config.signef_heads)
        self.hal = HAL(dim, config.embed_dim, config.num_clusters, config.cluster_temperature, config.init_temperature)
        self.stm_head = nn.Linear(2 * dim, 2)  # [pooled fused text ; pooled fused sign]
        if task == "islr":
            self.head = ISLRHead(dim, num_classes, config.head_dropout)
        elif task == "cslr":
            self.head = CSLRHead(dim, num_classes, config.head_dropout)
        self._tokenizer = None
        self._prompt_ids: dict[str, torch.Tensor] = {}

    # ---- text ---------------------------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        """The text model's tokenizer (byte-level for sigma-tiny; loaded lazily from the HF cache otherwise)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.config.tokenizer)
        return self._tokenizer

    def tokenize(self, texts: list[str | None], keys: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids [B, L] (ending in EOS, 0-padded) and mask for a list of texts; a missing text is an error."""
        missing = [i for i, t in enumerate(texts) if t is None]
        if missing:
            names = [keys[i] for i in missing] if keys else missing
            raise ModelError(f"samples without text cannot train this task: {names[:5]}; give them text or drop them")
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.config.max_text_tokens, return_tensors="pt"
        )
        device = self.device
        return enc["input_ids"].to(device), enc["attention_mask"].to(device).bool()

    def _text_ids(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if "text_ids" in batch:  # pre-tokenised by the caller (saves host work per step)
            return batch["text_ids"].to(self.device), batch["text_mask"].to(self.device).bool()
        return self.tokenize(batch["text"], batch.get("key"))

    @property
    def device(self) -> torch.device:
        return self.sign_encoder.part_para.device

    def prompt_language(self, language: str | None) -> str:
        """The language name the prompt names for a sample of sign language ``language`` (manifest code)."""
        return self.config.prompt_languages.get(language or "", self.config.prompt_language)

    def prompt_ids(self, language: str | None = None) -> torch.Tensor:
        """The prompt's token ids for a sample of sign language ``language`` (with ``</s>`` when ``prompt_eos``)."""
        text = self.config.prompt.format(language=self.prompt_language(language))
        ids = self._prompt_ids.get(text)
        if ids is None or ids.device != self.device:
            tokens = self.tokenizer(text, add_special_tokens=self.config.prompt_eos)["input_ids"]
            ids = self._prompt_ids[text] = torch.tensor(tokens, dtype=torch.long, device=self.device)
        return ids

    def _prompts(self, batch: dict, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt ids [B, P] and mask, one prompt per sample (padded on the right, as a tokenizer pads)."""
        languages = batch.get("language") or [None] * b
        per = [self.prompt_ids(lang) for lang in languages]
        if all(p is per[0] for p in per):
            return per[0][None].expand(b, -1), torch.ones(b, len(per[0]), dtype=torch.bool, device=self.device)
        n = max(len(p) for p in per)
        ids = torch.zeros(b, n, dtype=torch.long, device=self.device)
        mask = torch.zeros(b, n, dtype=torch.bool, device=self.device)
        for i, p in enumerate(per):
            ids[i, : len(p)], mask[i, : len(p)] = p, True
        return ids, mask

    # ---- encoders -----------------------------------------------------------------------------------------------
    def _pose_inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        dev, dtype = self.device, next(self.sign_encoder.parameters()).dtype
        # loaders hand over float16 (as stored); the cast happens here, on the device
        pose, conf = batch["pose"].to(dev).to(dtype), batch["conf"].to(dev).to(dtype)
        frame_size = batch.get("frame_size")
        if frame_size is not None:
            frame_size = torch.as_tensor(frame_size).to(dev).to(dtype)
        return pose, conf, batch["mask"].to(dev).bool(), frame_size

    def part_inputs(self, batch: dict) -> dict[str, torch.Tensor]:
        """The sign encoder's four part tensors [B, T, V, 3] for a batch (the model's input transform applied)."""
        return self.sign_encoder.part_inputs(*self._pose_inputs(batch))

    def sign_features(self, batch: dict) -> torch.Tensor:
        """Sign tokens [B, T, D] (the sign encoder's output, before the prompt is put in front)."""
        return self.sign_encoder(*self._pose_inputs(batch))

    def sign_inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Text-encoder inputs for the sign stream: [prompt ; sign tokens] embeddings and their mask."""
        pose, conf, mask, frame_size = self._pose_inputs(batch)
        sign = self.sign_encoder(pose, conf, mask, frame_size)
        b = sign.shape[0]
        prompt_ids, prompt_mask = self._prompts(batch, b)
        prompt = self.text_model.get_input_embeddings()(prompt_ids)
        embeds = torch.cat([prompt.to(sign.dtype), sign], dim=1)
        return embeds, torch.cat([prompt_mask, mask], dim=1)

    def encode_sign_tokens(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(encoder states [B, P+T, D], their mask, sign-token states [B, T, D], sign mask [B, T])."""
        embeds, full_mask = self.sign_inputs(batch)
        enc = self.text_model.encoder(inputs_embeds=embeds, attention_mask=full_mask.long()).last_hidden_state
        p = full_mask.shape[1] - batch["mask"].shape[1]
        return enc, full_mask, enc[:, p:], full_mask[:, p:]

    def encode_text_tokens(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text_model.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state

    @torch.no_grad()
    def embed_sign(self, batch: dict) -> torch.Tensor:
        """Unit global sign embeddings [B, E] (HAL space), for retrieval."""
        _, _, tok, mask = self.encode_sign_tokens(batch)
        return self.hal.embed(tok, mask, self.hal.sign_proj)[0]

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """Unit global text embeddings [B, E] (HAL space), for retrieval."""
        ids, mask = self.tokenize(texts)
        return self.hal.embed(self.encode_text_tokens(ids, mask), mask, self.hal.text_proj)[0]

    # ---- losses -------------------------------------------------------------------------------------------------
    def _lm_logits(self, enc: torch.Tensor, enc_mask: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        out = self.text_model(
            encoder_outputs=(enc,), attention_mask=enc_mask.long(), decoder_input_ids=self.text_model._shift_right(ids)
        )
        return out.logits

    def _lm(self, enc: torch.Tensor, enc_mask: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        labels = ids.masked_fill(~mask, -100)
        return lm_loss(self._lm_logits(enc, enc_mask, ids), labels, self.config.label_smoothing)

    @torch.no_grad()
    def text_logits(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced logits [B, L, V] of the batch's target texts, and the smoothed LM loss over them."""
        enc, enc_mask, _, _ = self.encode_sign_tokens(batch)
        ids, mask = self._text_ids(batch)
        logits = self._lm_logits(enc, enc_mask, ids)
        return logits, lm_loss(logits, ids.masked_fill(~mask, -100), self.config.label_smoothing)

    def _stm(self, sign, sign_mask, ids, mask, sim) -> torch.Tensor:
        same = same_text_matrix(ids)
        neg_text, neg_sign, valid = mine_hard_negatives(sim, same, self.config.hard_negatives)
        # Fixed shapes (3B pairs) and no host sync: a row without a valid negative gets weight 0.
        s = torch.cat([sign, sign, sign[neg_sign]])
        sm = torch.cat([sign_mask, sign_mask, sign_mask[neg_sign]])
        t = torch.cat([ids, ids[neg_text], ids])
        tm = torch.cat([mask, mask[neg_text], mask])
        b = len(ids)
        target = torch.cat([torch.ones(b, dtype=torch.long, device=sim.device), sim.new_zeros(2 * b, dtype=torch.long)])
        weight = torch.cat([torch.ones_like(valid, dtype=torch.float), valid.float(), valid.float()])
        with self.signef.fused(s, sm, tm) as ctx:
            fused = self.encode_text_tokens(t, tm)
        pooled = torch.cat([masked_mean(fused, tm), masked_mean(ctx["sign"], sm)], dim=-1)
        ce = F.cross_entropy(self.stm_head(pooled).float(), target, reduction="none")
        return (ce * weight).sum() / weight.sum()

    def forward(self, batch: dict) -> SigmaOutput:
        enc, enc_mask, sign, sign_mask = self.encode_sign_tokens(batch)
        w = self.config.loss_weights
        if self.task is None:
            ids, mask = self._text_ids(batch)
            text = self.encode_text_tokens(ids, mask)
            hal = self.hal(sign, sign_mask, text, mask)
            terms = {
                "hal_global": hal["hal_global"],
                "hal_local": hal["hal_local"],
                "sgt_stm": self._stm(sign, sign_mask, ids, mask, hal["sim"]),
                "sgt_lm": self._lm(enc, enc_mask, ids, mask),
            }
            loss = sum(w.get(k, 1.0) * v for k, v in terms.items())
            return SigmaOutput(loss, terms, sign_embeds=hal["sign_embeds"], text_embeds=hal["text_embeds"])
        if self.task == "slt":
            ids, mask = self._text_ids(batch)
            lm = self._lm(enc, enc_mask, ids, mask)
            return SigmaOutput(lm, {"sgt_lm": lm})
        if self.task == "islr":
            logits = self.head(masked_mean(sign, sign_mask))
            terms = {}
            if "label" in batch:
                label = batch["label"].to(logits.device)
                has = label >= 0
                ce = F.cross_entropy(logits[has].float(), label[has]) if has.any() else logits.sum() * 0.0
                terms["ce"] = ce
            return SigmaOutput(terms.get("ce", logits.sum() * 0.0), terms, logits=logits)
        # cslr
        logits = self.head(sign)
        lengths = sign_mask.sum(1)
        terms = {}
        if "targets" in batch:
            log_probs = logits.float().log_softmax(-1).transpose(0, 1)
            terms["ctc"] = F.ctc_loss(
                log_probs,
                batch["targets"].to(logits.device),
                lengths,
                batch["target_lengths"].to(logits.device),
                blank=0,
                reduction="mean",
                zero_infinity=True,
            )
        return SigmaOutput(terms.get("ctc", logits.sum() * 0.0), terms, logits=logits, lengths=lengths)

    # ---- inference ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self,
        batch: dict,
        k: int = 5,
        beam_size: int | None = None,
        length_penalty: float | None = None,
        max_length: int | None = None,
    ):
        """islr: (top-k class indices [B, k], probabilities [B, k]); cslr: id sequences (greedy when beam_size is
        1, else prefix beam search); slt and pre-training: generated strings. ``beam_size``, ``length_penalty`` and
        ``max_length`` (new tokens) default to the config's ``num_beams``, ``length_penalty``, ``max_new_tokens``."""
        if self.task == "islr":
            probs = self(batch).logits.float().softmax(-1)
            scores, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
            return indices, scores
        if self.task == "cslr":
            out = self(batch)
            lp = out.logits.float().log_softmax(-1)
            if (beam_size or 1) <= 1:
                return ctc_greedy_decode(lp, out.lengths)
            return ctc_beam_decode(lp, out.lengths, beam_size)
        ids = self.generate(batch, num_beams=beam_size, max_new_tokens=max_length, length_penalty=length_penalty)
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    @torch.no_grad()
    def generate(
        self,
        batch: dict,
        num_beams: int | None = None,
        max_new_tokens: int | None = None,
        length_penalty: float | None = None,
    ) -> torch.Tensor:
        """Generated token ids [B, L] (decoder start token first); unset arguments come from the config."""
        embeds, mask = self.sign_inputs(batch)
        cfg = self.config
        return self.text_model.generate(
            inputs_embeds=embeds,
            attention_mask=mask.long(),
            do_sample=False,
            num_beams=num_beams or cfg.num_beams,
            max_new_tokens=max_new_tokens or cfg.max_new_tokens,
            length_penalty=cfg.length_penalty if length_penalty is None else length_penalty,
        )


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameters per top-level component (shared tensors counted once) and the total."""
    counts: dict[str, int] = {}
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        counts[top] = counts.get(top, 0) + p.numel()
    counts["total"] = sum(counts.values())
    return counts

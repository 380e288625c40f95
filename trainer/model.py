"""A GPT-3 style decoder as the Cerebras-GPT card describes it, in the shape of nanoGPT's model.py.

Learned positional embeddings, pre-LayerNorm blocks, GELU MLP, full causal attention through
`scaled_dot_product_attention(is_causal=True)`, biases everywhere, no dropout, and an output layer
tied to the token embedding. The seven Cerebras-GPT sizes are built from `schemas.family.FAMILY`, so
their parameter counts are `schemas.family.parameters(shape)`; the `tiny-*` sizes train on a CPU.

    model = GPT(get_config("tiny-25k"))
    logits, loss = model(x, y)  # x, y: (B, T) int64 with T <= config.n_ctx
"""
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from schemas.family import FAMILY, ModelShape
from transforms.errors import ConfigError


@dataclass(frozen=True)
class GPTConfig:
    name: str
    n_layer: int
    n_head: int
    d_model: int
    d_ffn: int
    lr: float  # peak learning rate: the card's per size; tiny sizes: stated in TINY below
    batch_size: int  # sequences per optimizer step: the card's BS (seq); tiny sizes: see TINY
    adam_eps: float  # family table: 1e-8, 1e-9 for 6.7B and 13B
    vocab_size: int = 50257  # GPT-2 BPE, as the card and the shards' tokenizer
    n_ctx: int = 2048  # tokens the model sees: the card's MSL; tiny sizes read a window of the row
    seq_len: int = 2048  # targets per shard row (rows are seq_len + 1 tokens): what the data must hold
    token_dtype: str = "uint16"  # on-disk dtype of the ids: GPT-2 ids fit in 16 bits
    warmup_steps: int | None = None  # the card: 1500 steps for 111M and 256M; else from warmup_tokens
    warmup_tokens: float | None = 375e6  # the card: "warmed up for 375M tokens"
    warmup_fraction: float | None = None  # tiny runs are too short for 375M tokens: a fraction of the steps
    budget_params: str = "total"  # which count the 20 tokens/param budget multiplies: total | non_embedding

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"model {self.name}: d_model {self.d_model} is not divisible by "
                             f"n_head {self.n_head}: change one so that every head has the same width")
        if not 0 < self.n_ctx <= self.seq_len:
            raise ValueError(f"model {self.name}: n_ctx {self.n_ctx} must be in 1..seq_len ({self.seq_len}): "
                             f"the context is a window of one {self.seq_len + 1}-token row")
        if self.budget_params not in ("total", "non_embedding"):
            raise ValueError(f"model {self.name}: budget_params must be total or non_embedding, "
                             f"got {self.budget_params!r}")

    @property
    def parameters(self) -> int:
        """Trainable parameters (tied output layer counted once): schemas.family.parameters' formula."""
        return self.embedding_parameters + self.non_embedding_parameters

    @property
    def embedding_parameters(self) -> int:
        return (self.vocab_size + self.n_ctx) * self.d_model

    @property
    def non_embedding_parameters(self) -> int:
        d, f = self.d_model, self.d_ffn
        per_layer = (4 * d * d + 4 * d) + (2 * d * f + f + d) + 4 * d
        return self.n_layer * per_layer + 2 * d

    @property
    def budget_parameter_count(self) -> int:
        return self.parameters if self.budget_params == "total" else self.non_embedding_parameters


def from_shape(shape: ModelShape) -> GPTConfig:
    # 1500 warmup steps is what the card states for 111M and 256M; the rest warm up for 375M tokens.
    warmup = 1500 if shape.name in ("111M", "256M") else None
    return GPTConfig(name=shape.name, n_layer=shape.layers, n_head=shape.heads, d_model=shape.d_model,
                     d_ffn=shape.d_ffn, lr=shape.lr, batch_size=shape.batch_size, adam_eps=shape.adam_eps,
                     vocab_size=shape.vocab_size, n_ctx=shape.seq_len, seq_len=shape.seq_len,
                     warmup_steps=warmup)


def _tiny(name, n_layer, d_model, n_head, batch_size, lr):
    # d_ffn = 4 d_model (the family's ratio) and a 512-token window of the 2049-token row, so the demo
    # run (1,105 rows) holds 20 tokens per parameter for every size up to tiny-25k and short runs still
    # take 70+ optimizer steps. Names give the non-embedding parameter count, which is what their
    # 20 tokens/param budget multiplies: the 50257 x d_model embedding is over 90% of each tiny model
    # and would ask for more tokens than a 2-core CPU trains on in minutes. Warmup: 10% of the steps.
    return GPTConfig(name=name, n_layer=n_layer, n_head=n_head, d_model=d_model, d_ffn=4 * d_model,
                     lr=lr, batch_size=batch_size, adam_eps=1e-8, n_ctx=512, warmup_tokens=None,
                     warmup_fraction=0.1, budget_params="non_embedding")


# Batch sizes (sequences of 512) grow with the model and peak LRs shrink, as the card's do. Runs
# this short sit on a plateau near 5.95 nats until they learn more than unigram statistics, so the
# final loss is sensitive to steps and LR. Chosen from sweeps at 20 tokens/param on the demo run
# (validation nats/token on held-out rows): tiny-2k lr 2e-3/6e-3/2e-2 -> 9.36/6.50/5.94; tiny-3k
# 1e-2/2e-2 -> 5.73/6.00; tiny-7k 6e-3/1e-2/2e-2 -> 5.71/5.85/5.85; tiny-20k 3e-3/6e-3 -> 5.65/5.42;
# tiny-13k batch 2/3/4 -> 5.66/5.95/5.78 at 6e-3. Rates near the card's 6e-4 barely move runs this
# short. tiny-25k takes tiny-20k's rate; tiny-100k and tiny-1m are not swept.
TINY: tuple[GPTConfig, ...] = (
    _tiny("tiny-2k", 1, 12, 1, 1, 2e-2),
    _tiny("tiny-3k", 1, 16, 2, 1, 1e-2),
    _tiny("tiny-7k", 1, 24, 2, 2, 6e-3),
    _tiny("tiny-13k", 1, 32, 2, 2, 6e-3),
    _tiny("tiny-20k", 1, 40, 4, 4, 6e-3),
    _tiny("tiny-25k", 2, 32, 2, 4, 6e-3),
    _tiny("tiny-100k", 2, 64, 4, 8, 3e-3),
    _tiny("tiny-1m", 5, 128, 8, 16, 1e-3),
)
CONFIGS: dict[str, GPTConfig] = {c.name.lower(): c for c in (*map(from_shape, FAMILY), *TINY)}


def get_config(name: str) -> GPTConfig:
    config = CONFIGS.get(str(name).strip().lower())
    if config is None:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(c.name for c in CONFIGS.values())}")
    return config


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_model)  # Q, K, V in one matmul
        self.c_proj = nn.Linear(config.d_model, config.d_model)
        self.c_proj.residual = True  # scaled at init: see GPT._init_weights

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # full attention, as the card says
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.d_model, config.d_ffn)
        self.c_proj = nn.Linear(config.d_ffn, config.d_model)
        self.c_proj.residual = True

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # pre-LN: the residual stream itself is never normalized
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.wpe = nn.Embedding(config.n_ctx, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as Cerebras's share_embedding_weights
        self.apply(self._init_weights)

    def _init_weights(self, module):
        # GPT-2 / nanoGPT: N(0, 0.02), and projections into the residual stream scaled by
        # 1/sqrt(2 n_layer) because each block adds two of them to it.
        if isinstance(module, nn.Linear):
            std = 0.02 / math.sqrt(2 * self.config.n_layer) if getattr(module, "residual", False) else 0.02
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # parameters() yields the tied matrix once

    def forward(self, idx, targets=None):
        T = idx.shape[1]  # idx: (B, T)
        if T > self.config.n_ctx:
            raise ValueError(f"sequence of {T} tokens is longer than the model's context {self.config.n_ctx}")
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)  # (B, T, d_model)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1))
        return logits, loss

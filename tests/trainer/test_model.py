import dataclasses

import pytest

torch = pytest.importorskip("torch")

from schemas.family import FAMILY, parameters
from tests.trainer.conftest import micro_config
from trainer.model import CONFIGS, GPT, TINY, GPTConfig, from_shape, get_config
from trainer.train import configure_optimizer


@pytest.mark.parametrize("shape", FAMILY, ids=lambda s: s.name)
def test_family_parameter_counts_match_schemas_family(shape):
    config = from_shape(shape)
    with torch.device("meta"):  # 13B parameters, no memory
        model = GPT(config)
    assert model.num_parameters() == parameters(shape) == config.parameters
    assert (config.n_layer, config.d_model, config.n_head, config.d_ffn) == \
        (shape.layers, shape.d_model, shape.heads, shape.d_ffn)
    assert config.lr == shape.lr and config.adam_eps == shape.adam_eps and config.n_ctx == 2048


def test_family_eps_and_warmup_follow_the_card():
    assert get_config("6.7B").adam_eps == get_config("13b").adam_eps == 1e-9
    assert get_config("111M").adam_eps == get_config("2.7B").adam_eps == 1e-8
    assert get_config("111M").warmup_steps == get_config("256M").warmup_steps == 1500
    assert get_config("590M").warmup_steps is None and get_config("590M").warmup_tokens == 375e6


@pytest.mark.parametrize("config", TINY, ids=lambda c: c.name)
def test_tiny_sizes_instantiate_and_are_named_by_non_embedding_parameters(config):
    if config.parameters < 4_000_000:
        assert GPT(config).num_parameters() == config.parameters
    stated = float(config.name.removeprefix("tiny-").replace("k", "e3").replace("m", "e6"))
    assert abs(config.non_embedding_parameters - stated) / stated < 0.15
    assert config.n_ctx < config.seq_len == 2048


def test_unknown_model_and_bad_shape_are_refused():
    with pytest.raises(ValueError, match="unknown model 'tiny-9'.*tiny-2k"):
        get_config("tiny-9")
    with pytest.raises(ValueError, match="not divisible by n_head"):
        micro_config(n_head=3)
    with pytest.raises(ValueError, match="window of one 2049-token row"):
        micro_config(n_ctx=4096)
    assert set(CONFIGS) >= {"111m", "13b", "tiny-25k"}


def test_output_layer_is_tied_and_init_follows_gpt2():
    torch.manual_seed(0)
    model = GPT(micro_config(d_model=64, n_head=4, d_ffn=256, n_layer=8))
    assert model.lm_head.weight is model.wte.weight and model.lm_head.bias is None
    assert abs(model.blocks[0].mlp.c_fc.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].attn.c_proj.weight.std().item() - 0.02 / 4) < 0.0005  # 0.02 / sqrt(2 x 8)
    assert torch.count_nonzero(model.blocks[0].attn.c_attn.bias) == 0


def test_attention_is_causal():
    torch.manual_seed(0)
    model = GPT(micro_config())
    x = torch.randint(0, 256, (1, 16))
    changed = x.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 256
    a, _ = model(x)
    b, _ = model(changed)
    assert torch.equal(a[0, :10], b[0, :10]) and not torch.equal(a[0, 10:], b[0, 10:])


def test_one_optimizer_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    config = micro_config()
    model = GPT(config)
    optimizer = configure_optimizer(model, lr=1e-2, eps=config.adam_eps)
    x, y = torch.randint(0, 256, (4, 16)), torch.randint(0, 256, (4, 16))
    _, before = model(x, y)
    before.backward()
    optimizer.step()
    _, after = model(x, y)
    assert after.item() < before.item() - 1e-3


def test_context_longer_than_the_model_is_refused():
    model = GPT(micro_config())
    with pytest.raises(ValueError, match="longer than the model's context 16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_config("111M").lr = 1.0
    assert isinstance(get_config("111m"), GPTConfig)

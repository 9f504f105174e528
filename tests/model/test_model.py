import pytest
import torch

from model.gpt import GPT, PRESETS, GPTConfig, preset


def test_forward_shapes_and_loss():
    model = GPT(PRESETS["micro"])
    idx = torch.randint(0, 256, (2, 16))
    logits, loss = model(idx, idx)
    assert logits.shape == (2, 16, 256)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert abs(loss.item() - torch.log(torch.tensor(256.0)).item()) < 0.5  # near-uniform at init


def test_attention_is_causal():
    torch.manual_seed(0)
    model = GPT(PRESETS["micro"]).eval()
    idx = torch.randint(0, 256, (1, 12))
    changed = idx.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 256
    with torch.no_grad():
        assert torch.equal(model(idx)[0, :8], model(changed)[0, :8])
        assert not torch.equal(model(idx)[0, 8:], model(changed)[0, 8:])


def test_lm_head_is_an_untied_linear():
    model = GPT(PRESETS["micro"])
    assert isinstance(model.lm_head, torch.nn.Linear)
    assert model.lm_head.weight.data_ptr() != model.token_embedding.weight.data_ptr()


def test_paper_presets_have_the_papers_shapes():
    """DESIGN: 58M (d512, L6, MLP 2048), ~160M (d768, L12), 468M (d1024, L24), 1B-class; vocab 32k."""
    shapes = {name: (c.d_model, c.n_layer, c.d_mlp, c.vocab_size) for name, c in PRESETS.items()}
    assert shapes["gpt58m"] == (512, 6, 2048, 32000)
    assert shapes["gpt160m"][:2] == (768, 12) and shapes["gpt468m"][:2] == (1024, 24)

    def total_params(c: GPTConfig) -> int:  # counted from the shapes, without building the model
        per_block = 4 * c.d_model * c.d_model + 2 * c.d_model * c.d_mlp
        return c.n_layer * per_block + c.d_model * c.vocab_size + (c.vocab_size + c.max_seq_len) * c.d_model
    assert 45e6 < total_params(PRESETS["gpt58m"]) < 60e6
    assert 0.9e9 < total_params(PRESETS["gpt1b"]) < 1.3e9


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="model.preset"):
        preset("huge")


def test_too_long_sequence_is_rejected():
    with pytest.raises(ValueError, match="max_seq_len"):
        GPT(PRESETS["micro"])(torch.zeros(1, 129, dtype=torch.long))

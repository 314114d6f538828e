"""The MLP-Mixer: the paper's size, the stem equals a stride-p convolution, every linear has a bias."""

import pytest

torch = pytest.importorskip("torch")

from experiments.vision.model import MixerConfig, MlpMixer, linear_names  # noqa: E402


def test_paper_size():
    m = MlpMixer(MixerConfig())  # CIFAR-10: 4x4 patches -> 64 tokens, width 512
    assert sum(p.numel() for p in m.parameters()) == 325_186  # "~325k parameters"
    assert linear_names(m) == [
        "stem", "blocks.0.token_mix.0", "blocks.0.token_mix.3",
        "blocks.0.channel_mix.0", "blocks.0.channel_mix.3", "head",
    ]  # fmt: skip
    assert all(mod.bias is not None for mod in m.modules() if isinstance(mod, torch.nn.Linear))
    assert m.blocks[0].token_mix[0].in_features == 64 and m.blocks[0].token_mix[0].out_features == 256
    assert m(torch.zeros(3, 3, 32, 32)).shape == (3, 2)


def test_stem_is_a_strided_convolution():
    torch.manual_seed(0)
    cfg = MixerConfig(image_size=12, channels=3, patch=4, width=8, token_hidden=4, channel_hidden=4)
    m = MlpMixer(cfg)
    x = torch.randn(2, 3, 12, 12)
    conv = torch.nn.functional.conv2d(x, m.stem.weight.view(8, 3, 4, 4), m.stem.bias, stride=4)
    ref = conv.flatten(2).transpose(1, 2)  # (B, tokens row-major, width)
    torch.testing.assert_close(m.stem(m.patches(x)), ref, rtol=1e-5, atol=1e-5)


def test_token_mixing_mixes_tokens():
    """A change in one patch moves every token's features only through token mixing."""
    torch.manual_seed(0)
    m = MlpMixer(MixerConfig(image_size=8, channels=1, width=8, token_hidden=4, channel_hidden=4, dropout=0.0)).eval()
    x = torch.randn(1, 1, 8, 8)
    y = x.clone()
    y[..., :4, :4] += 1.0  # patch 0 only
    z0 = m.blocks(m.stem(m.patches(x)))
    z1 = m.blocks(m.stem(m.patches(y)))
    assert (z0 - z1)[0, 3].abs().max() > 1e-4  # token 3 (another patch) changed


def test_patch_must_divide():
    with pytest.raises(ValueError, match="must divide"):
        MlpMixer(MixerConfig(image_size=30, patch=4))

"""OpenCLIP -> transformers: numerical parity on a tiny open_clip model, strict keys, tokenizer ids, preprocessing."""

import open_clip
import pytest
import torch

from videocomposer.conversion.open_clip_to_transformers import (
    CLIP_MEAN,
    CLIP_STD,
    build_clip_image_processor,
    build_open_clip_tokenizer,
    convert_open_clip,
    transformers_configs,
)


def test_text_encoder_gives_the_penultimate_layer_after_ln_final(tiny_open_clip, tiny_open_clip_config):
    text_encoder, _ = convert_open_clip(tiny_open_clip.state_dict(), tiny_open_clip_config)
    tokens = open_clip.tokenize(["a red car in the snow", "two dogs"])

    with torch.no_grad():  # the original's text context: every block but the last, then ln_final
        x = tiny_open_clip.token_embedding(tokens) + tiny_open_clip.positional_embedding
        for block in tiny_open_clip.transformer.resblocks[:-1]:
            x = block(x, attn_mask=tiny_open_clip.attn_mask)
        expected = tiny_open_clip.ln_final(x)
        got = text_encoder(tokens).last_hidden_state

    assert text_encoder.config.num_hidden_layers == 2 and got.shape == (2, 77, 32)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_image_encoder_gives_the_pooled_projected_embedding(tiny_open_clip, tiny_open_clip_config):
    _, image_encoder = convert_open_clip(tiny_open_clip.state_dict(), tiny_open_clip_config)
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))

    with torch.no_grad():
        expected = tiny_open_clip.encode_image(images)
        got = image_encoder(pixel_values=images).image_embeds

    assert got.shape == (3, 32)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_missing_and_unexpected_open_clip_keys_are_refused(tiny_open_clip, tiny_open_clip_config):
    state = dict(tiny_open_clip.state_dict())
    del state["transformer.resblocks.2.ln_1.weight"]  # part of the dropped last block: still required
    del state["visual.proj"]
    state["visual.attn_pool.query"] = torch.zeros(4)
    with pytest.raises(ValueError, match=r"(?s)missing keys \(2\):.*visual\.proj.*transformer\.resblocks\.2\.ln_1"
                       r".*unexpected keys \(1\):\n  visual\.attn_pool\.\* \(1\)"):  # fmt: skip
        convert_open_clip(state, tiny_open_clip_config)


def test_unsupported_open_clip_options_are_refused(tiny_open_clip_config):
    config = {**tiny_open_clip_config, "vision_cfg": {**tiny_open_clip_config["vision_cfg"], "attentional_pool": True}}
    with pytest.raises(
        ValueError, match=r"model_config\['vision_cfg'\]: unsupported option\(s\) \['attentional_pool'\]"
    ):
        transformers_configs(config)


def test_default_config_is_vit_h_14_with_the_penultimate_text_layer():
    text, vision = transformers_configs()
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == (1024, 23, 16)
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads) == (1280, 32, 16)
    assert (vision.patch_size, vision.image_size, vision.projection_dim) == (14, 224, 1024)


def test_tokenizer_ids_equal_open_clip_tokenize_including_padding(tmp_path):
    from transformers import CLIPTokenizer

    texts = ["A red car drives through the snow, at night!", "Hello   World", "a cat's 3 toys"]
    tokenizer = build_open_clip_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    reloaded = CLIPTokenizer.from_pretrained(tmp_path)

    expected = open_clip.tokenize(texts)
    for tok in (tokenizer, reloaded):
        assert tok.vocab_size == 49408 and tok.pad_token_id == 0
        ids = tok(texts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        assert torch.equal(ids, expected)


def test_image_processor_matches_open_clip_preprocessing():
    from PIL import Image

    generator = torch.Generator().manual_seed(2)
    image = Image.fromarray(torch.randint(0, 256, (240, 320, 3), dtype=torch.uint8, generator=generator).numpy())
    preprocess = open_clip.image_transform(224, is_train=False, mean=CLIP_MEAN, std=CLIP_STD)
    expected = preprocess(image)
    got = build_clip_image_processor()(images=image, return_tensors="pt").pixel_values[0]
    assert got.shape == expected.shape == (3, 224, 224)
    # Both resize with PIL bicubic; they may round a pixel to the neighbouring uint8 level, nothing more.
    assert (got - expected).abs().max() <= 1.01 / 255 / min(CLIP_STD)
    assert (got - expected).abs().mean() < 1e-3

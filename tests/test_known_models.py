"""compat/models.toml: the shapes of popular hub models, used when a dry run cannot read config.json."""

from __future__ import annotations

from loradoc.compat.models import known_model, known_models
from loradoc.train.estimate import model_shape


def test_every_entry_is_a_decoder_shape_with_its_source() -> None:
    models = known_models()
    assert len(models) >= 10
    for model_id, model in models.items():
        assert model_id in model.ids
        assert model.source.startswith("https://huggingface.co/") and model.source.endswith("/config.json")
        assert any(a.endswith("ForCausalLM") for a in model.config["architectures"])
        shape = model_shape(model.config)
        assert shape.layers > 0 and shape.hidden % shape.heads == 0


def test_llama_3_8b_has_its_published_parameter_count() -> None:
    shape = model_shape(known_model("NousResearch/Meta-Llama-3-8B").config)  # type: ignore[union-attr]
    # 8,030,261,248 parameters (the model card's 8.03B)
    per_layer = shape.layer_linear_params + 2 * shape.hidden
    total = shape.layers * per_layer + 2 * shape.vocab * shape.hidden + shape.hidden
    assert total == 8_030_261_248


def test_unknown_ids_are_not_guessed() -> None:
    assert known_model("meta-llama/Meta-Llama-3-8b") is None  # ids match exactly
    assert known_model("someone/llama-3-8b-finetune") is None

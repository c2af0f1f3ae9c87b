"""Axolotl's fsdp/fsdp_config/fsdp_version and deepspeed keys reach TrainingArguments as
transformers reads them (transformers and accelerate do the sharding)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loradoc.train.run.train_args import sharding_arguments, training_arguments


def test_axolotl_fsdp_v2_keys_become_transformers_fsdp_config(make_train_config: Callable[..., Any]) -> None:
    cfg = make_train_config(
        fsdp=["full_shard", "auto_wrap"],
        fsdp_version=2,
        fsdp_config={
            "fsdp_offload_params": True,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_transformer_layer_cls_to_wrap": "LlamaDecoderLayer",
            "fsdp_state_dict_type": "FULL_STATE_DICT",
            "fsdp_sharding_strategy": "FULL_SHARD",
        },
    )
    assert sharding_arguments(cfg) == {
        "fsdp": "full_shard auto_wrap",
        "fsdp_config": {
            "cpu_offload": True,
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "transformer_layer_cls_to_wrap": "LlamaDecoderLayer",
            "state_dict_type": "FULL_STATE_DICT",
            "version": 2,
        },
    }
    args = training_arguments(
        cfg, precision="fp32", steps_per_epoch=4, has_eval=False, report_to=[], world_size=2, use_cpu=True
    )
    assert args.fsdp is True
    plugin = args.fsdp_plugin_args
    assert plugin["fsdp_version"] == 2 and plugin["cpu_offload"] is True
    assert plugin["transformer_cls_names_to_wrap"] == "LlamaDecoderLayer"
    assert plugin["state_dict_type"] == "FULL_STATE_DICT" and plugin["reshard_after_forward"] is True


def test_fsdp_config_alone_turns_fsdp_on_and_nothing_means_nothing(
    make_train_config: Callable[..., Any],
) -> None:
    cfg = make_train_config(fsdp_config={"version": 2, "reshard_after_forward": False})
    assert sharding_arguments(cfg) == {
        "fsdp": True,
        "fsdp_config": {"version": 2, "reshard_after_forward": False},
    }
    assert sharding_arguments(make_train_config()) == {}


def test_deepspeed_passes_through(make_train_config: Callable[..., Any], tmp_path: Any) -> None:
    ds = tmp_path / "zero2.json"
    ds.write_text('{"zero_optimization": {"stage": 2}}')
    cfg = make_train_config(deepspeed=str(ds))
    assert sharding_arguments(cfg) == {"deepspeed": str(ds)}

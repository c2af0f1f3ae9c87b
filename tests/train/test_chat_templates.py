"""Every chat template name Axolotl documents: built into loradoc (exact text, trained spans) or refused.

Each built-in template renders the same conversation (a system message and two exchanges) on the
tiny tokenizer; the text must be exactly the format's layout (checked against Axolotl's own
renderings when the templates were written, differences listed in ``vocab.CHAT_TEMPLATE_BUILTIN``)
and only the replies, with what closes their turns, may carry labels. Then ``eot_tokens`` with
each ``train_on_eot`` value, and the errors.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from loradoc.config import vocab as V
from loradoc.config.problems import ConfigError
from loradoc.errors import UserError
from loradoc.train.data.chat_templates import BUILTIN_CHAT_TEMPLATES
from loradoc.train.data.prepare import IGNORE, encode_rendered
from loradoc.train.data.prompts import ChatFormat, format_for, resolve_chat_template, template_renderer

# Axolotl's ChatTemplate enum (src/axolotl/utils/schemas/enums.py), every value.
AXOLOTL_NAMES = [
    "alpaca",
    "chatml",
    "mistral_v1",
    "mistral_v2v3",
    "mistral_v3_tekken",
    "mistral_v7_tekken",
    "gemma",
    "cohere",
    "llama3",
    "llama3_2_vision",
    "llama4",
    "phi_3",
    "phi_35",
    "deepseek_v2",
    "deepseek_v3",
    "jamba",
    "jinja",
    "qwen_25",
    "qwen3",
    "qwen3_5",
    "falcon_h1",
    "nemotron_h",
    "tokenizer_default",
    "exaone",
    "exaone4",
    "metharme",
    "pixtral",
    "llava",
    "qwen2_vl",
    "gemma3",
    "gemma3n",
    "gemma4",
    "gemma4_unified",
    "command_a",
    "command_a_tool_use",
    "command_a_rag",
    "aya",
]

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "hello"},
    {"role": "user", "content": "bye"},
    {"role": "assistant", "content": "later"},
]

# name -> (the whole rendering, the trained character spans); {today} is the date Meta's template writes
EXPECTED: dict[str, tuple[str, list[str]]] = {
    "alpaca": (
        "<s>Be brief.\n\n### Instruction:\nhi\n\n### Response:\nhello</s>\n\n### Instruction:\nbye\n\n### Response:\nlater</s>",
        ["hello</s>", "later</s>"],
    ),
    "chatml": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\nlater<|im_end|>\n",
        ["hello<|im_end|>\n", "later<|im_end|>\n"],
    ),
    "mistral_v1": (
        "<s> [INST] Be brief.\n\nhi [/INST] hello</s> [INST] bye [/INST] later</s>",
        [" hello</s>", " later</s>"],
    ),
    "mistral_v2v3": (
        "<s>[INST] hi[/INST] hello</s>[INST] bye[/INST] later</s>",
        ["hello</s>", "later</s>"],
    ),
    "mistral_v3_tekken": (
        "<s>[INST]hi[/INST]hello</s>[INST]bye[/INST]later</s>",
        ["hello</s>", "later</s>"],
    ),
    "mistral_v7_tekken": (
        "<s>[SYSTEM_PROMPT]Be brief.[/SYSTEM_PROMPT][INST]hi[/INST]hello</s>[INST]bye[/INST]later</s>",
        ["hello</s>", "later</s>"],
    ),
    "pixtral": (
        "<s>[INST]hi[/INST]hello</s>[INST]bye[/INST]later</s>",
        ["hello</s>", "later</s>"],
    ),
    "gemma": (
        "<s><start_of_turn>user\nBe brief.\n\nhi<end_of_turn>\n<start_of_turn>model\nhello<end_of_turn>\n<start_of_turn>user\nbye<end_of_turn>\n<start_of_turn>model\nlater<end_of_turn>\n",
        ["hello<end_of_turn>\n", "later<end_of_turn>\n"],
    ),
    "gemma3": (
        "<s><start_of_turn>user\nBe brief.\n\nhi<end_of_turn>\n<start_of_turn>model\nhello<end_of_turn>\n<start_of_turn>user\nbye<end_of_turn>\n<start_of_turn>model\nlater<end_of_turn>\n",
        ["hello<end_of_turn>\n", "later<end_of_turn>\n"],
    ),
    "gemma3n": (
        "<s><start_of_turn>user\nBe brief.\n\nhi<end_of_turn>\n<start_of_turn>model\nhello<end_of_turn>\n<start_of_turn>user\nbye<end_of_turn>\n<start_of_turn>model\nlater<end_of_turn>\n",
        ["hello<end_of_turn>\n", "later<end_of_turn>\n"],
    ),
    "gemma4": (
        "<s><|turn>system\nBe brief.<turn|>\n<|turn>user\nhi<turn|>\n<|turn>model\nhello<turn|>\n<|turn>user\nbye<turn|>\n<|turn>model\nlater<turn|>\n",
        ["hello<turn|>\n", "later<turn|>\n"],
    ),
    "gemma4_unified": (
        "<s><|turn>system\nBe brief.<turn|>\n<|turn>user\nhi<turn|>\n<|turn>model\nhello<turn|>\n<|turn>user\nbye<turn|>\n<|turn>model\nlater<turn|>\n",
        ["hello<turn|>\n", "later<turn|>\n"],
    ),
    "cohere": (
        "<s><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Be brief.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>hi<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>bye<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>later<|END_OF_TURN_TOKEN|>",
        ["hello<|END_OF_TURN_TOKEN|>", "later<|END_OF_TURN_TOKEN|>"],
    ),
    "aya": (
        "<s><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Be brief.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>hi<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>bye<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>later<|END_OF_TURN_TOKEN|>",
        ["hello<|END_OF_TURN_TOKEN|>", "later<|END_OF_TURN_TOKEN|>"],
    ),
    "llama3": (
        "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nhello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nbye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nlater<|eot_id|>",
        ["hello<|eot_id|>", "later<|eot_id|>"],
    ),
    "llama3_2_vision": (
        "<s><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: {today}\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nhello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nbye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nlater<|eot_id|>",
        ["hello<|eot_id|>", "later<|eot_id|>"],
    ),
    "llama4": (
        "<s><|header_start|>system<|header_end|>\n\nBe brief.<|eot|><|header_start|>user<|header_end|>\n\nhi<|eot|><|header_start|>assistant<|header_end|>\n\nhello<|eot|><|header_start|>user<|header_end|>\n\nbye<|eot|><|header_start|>assistant<|header_end|>\n\nlater<|eot|>",
        ["hello<|eot|>", "later<|eot|>"],
    ),
    "phi_3": (
        "<s><|system|>\nBe brief.<|end|>\n<|user|>\nhi<|end|>\n<|assistant|>\nhello<|end|>\n<|user|>\nbye<|end|>\n<|assistant|>\nlater<|end|>\n",
        ["hello<|end|>\n", "later<|end|>\n"],
    ),
    "phi_35": (
        "<|system|>\nBe brief.<|end|>\n<|user|>\nhi<|end|>\n<|assistant|>\nhello<|end|>\n<|user|>\nbye<|end|>\n<|assistant|>\nlater<|end|>\n",
        ["hello<|end|>\n", "later<|end|>\n"],
    ),
    "deepseek_v2": (
        "<s>Be brief.\n\n<\uff5cUser\uff5c>hi<\uff5cAssistant\uff5c>hello</s><\uff5cUser\uff5c>bye<\uff5cAssistant\uff5c>later</s>",
        ["hello</s>", "later</s>"],
    ),
    "deepseek_v3": (
        "<s>Be brief.<\uff5cUser\uff5c>hi<\uff5cAssistant\uff5c>hello<\uff5cend\u2581of\u2581sentence\uff5c><\uff5cUser\uff5c>bye<\uff5cAssistant\uff5c>later<\uff5cend\u2581of\u2581sentence\uff5c>",
        ["hello<\uff5cend\u2581of\u2581sentence\uff5c>", "later<\uff5cend\u2581of\u2581sentence\uff5c>"],
    ),
    "jamba": (
        "<|startoftext|><|bom|><|system|> Be brief.<|eom|><|bom|><|user|> hi<|eom|><|bom|><|assistant|> hello<|eom|><|bom|><|user|> bye<|eom|><|bom|><|assistant|> later<|eom|>",
        [" hello<|eom|>", " later<|eom|>"],
    ),
    "qwen_25": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\nlater<|im_end|>\n",
        ["hello<|im_end|>\n", "later<|im_end|>\n"],
    ),
    "qwen3": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nlater<|im_end|>\n",
        ["hello<|im_end|>\n", "<think>\n\n</think>\n\nlater<|im_end|>\n"],
    ),
    "qwen3_5": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nlater<|im_end|>\n",
        ["hello<|im_end|>\n", "<think>\n\n</think>\n\nlater<|im_end|>\n"],
    ),
    "qwen2_vl": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\nlater<|im_end|>\n",
        ["hello<|im_end|>\n", "later<|im_end|>\n"],
    ),
    "exaone": (
        "[|system|]Be brief.[|endofturn|]\n[|user|]hi\n[|assistant|]hello[|endofturn|]\n[|user|]bye\n[|assistant|]later[|endofturn|]\n",
        ["hello[|endofturn|]\n", "later[|endofturn|]\n"],
    ),
    "exaone4": (
        "[|system|]\nBe brief.[|endofturn|]\n[|user|]\nhi[|endofturn|]\n[|assistant|]\n<think>\n\n</think>\n\nhello[|endofturn|]\n[|user|]\nbye[|endofturn|]\n[|assistant|]\n<think>\n\n</think>\n\nlater[|endofturn|]\n",
        ["hello[|endofturn|]\n", "later[|endofturn|]\n"],
    ),
    "metharme": (
        "<s><|system|>Be brief.<|user|>hi<|model|>hello<|user|>bye<|model|>later</s>",
        ["hello", "later</s>"],
    ),
    "falcon_h1": (
        "<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\nlater<|im_end|>\n",
        ["hello<|im_end|>\n", "later<|im_end|>\n"],
    ),
    "nemotron_h": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\nlater<|im_end|>\n",
        ["hello<|im_end|>\n", "later<|im_end|>\n"],
    ),
    "llava": (
        "Be brief. USER: hi ASSISTANT: hello USER: bye ASSISTANT: later ",
        [" hello ", " later "],
    ),
}


def test_every_axolotl_name_has_a_decision() -> None:
    assert set(AXOLOTL_NAMES) == set(V.CHAT_TEMPLATE_NAMES)
    assert len(V.CHAT_TEMPLATE_NAMES) == len(set(V.CHAT_TEMPLATE_NAMES))
    decided = [*V.CHAT_TEMPLATE_GENERIC, *V.CHAT_TEMPLATE_BUILTIN, *V.CHAT_TEMPLATE_REFUSED]
    assert sorted(decided) == sorted(V.CHAT_TEMPLATE_NAMES)
    assert set(BUILTIN_CHAT_TEMPLATES) == set(V.CHAT_TEMPLATE_BUILTIN) == set(EXPECTED)
    for name, reason in V.CHAT_TEMPLATE_REFUSED.items():
        assert "chat_template_jinja" in reason, name


@pytest.mark.parametrize("name", sorted(V.CHAT_TEMPLATE_BUILTIN))
def test_builtin_template_text_and_trained_spans(tiny_tokenizer: Any, name: str) -> None:
    fmt = ChatFormat(
        renderer=template_renderer(tiny_tokenizer, resolve_chat_template(name, tiny_tokenizer)),
        template_id=name,
        end_text=tiny_tokenizer.eos_token,
    )
    r = fmt.render({"messages": CONVERSATION}, train_on_inputs=False)
    text, spans = EXPECTED[name]
    assert r.text == text.replace("{today}", time.strftime("%d %b %Y"))
    assert [r.text[a:b] for a, b in r.spans] == spans
    # through the tokenizer: the replies are trained, nothing of the prompts is
    enc = tiny_tokenizer(r.text, add_special_tokens=False, return_offsets_mapping=True)
    ids, labels = encode_rendered(r, enc["input_ids"], enc["offset_mapping"], tiny_tokenizer.eos_token_id)
    trained = tiny_tokenizer.decode([i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE])
    assert "hello" in trained and "later" in trained
    assert not re.search(r"Be brief|\bhi\b|\bbye\b|user|system", trained), trained
    assert labels[-1] == tiny_tokenizer.eos_token_id  # the conversation ends with a trained reply


def test_prefix_rendering_passes_the_last_index(tiny_tokenizer: Any) -> None:
    # qwen3 gives only the final reply an empty think block: an earlier reply, rendered as the end
    # of a prefix, must still look as it does in the whole conversation
    fmt = ChatFormat(
        renderer=template_renderer(tiny_tokenizer, BUILTIN_CHAT_TEMPLATES["qwen3"]), template_id="q"
    )
    r = fmt.render({"messages": CONVERSATION}, train_on_inputs=False)
    assert r.text.count("<think>") == 1


def test_mistral_system_message_in_the_last_user_turn(tiny_tokenizer: Any) -> None:
    # mistral_v2v3 writes the system message into the last user turn, so a prefix ending with a user
    # turn is not a prefix of the whole; the reply is still found and trained
    fmt = ChatFormat(
        renderer=template_renderer(tiny_tokenizer, BUILTIN_CHAT_TEMPLATES["mistral_v2v3"]), template_id="m"
    )
    r = fmt.render({"messages": CONVERSATION[:3]}, train_on_inputs=False)
    assert r.text == "<s>[INST] hi[/INST] hello</s>"
    assert [r.text[a:b] for a, b in r.spans] == ["hello</s>"]
    gen = tiny_tokenizer.apply_chat_template(
        CONVERSATION[:2], chat_template=BUILTIN_CHAT_TEMPLATES["mistral_v2v3"], tokenize=False
    )
    assert gen == "<s>[INST] Be brief.\n\nhi[/INST]"


def test_alternation_is_enforced_where_the_format_requires_it(tiny_tokenizer: Any) -> None:
    from loradoc.train.data.prompts import RowProblem

    fmt = ChatFormat(
        renderer=template_renderer(tiny_tokenizer, BUILTIN_CHAT_TEMPLATES["mistral_v1"]), template_id="m"
    )
    twice = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(RowProblem, match="must alternate user, assistant"):
        fmt.render({"messages": twice}, train_on_inputs=False)


@pytest.mark.parametrize("name", sorted(V.CHAT_TEMPLATE_REFUSED))
def test_refused_names_are_one_line_naming_the_way_out(tiny_tokenizer: Any, name: str) -> None:
    with pytest.raises(UserError) as exc:
        resolve_chat_template(name, tiny_tokenizer)
    message = str(exc.value)
    assert "\n" not in message and message.startswith(f"not supported: chat_template: {name} (")
    assert "chat_template_jinja" in message


def test_refused_name_fails_at_config_load_before_any_tokenizer(
    make_train_config: Callable[..., Any],
) -> None:
    """The dry run refuses it: config loading names the key and the way out."""
    with pytest.raises(ConfigError) as exc:
        make_train_config(chat_template="command_a")
    assert "chat_template: command_a: Command A's template" in str(exc.value)
    assert "chat_template_jinja" in str(exc.value)


def test_the_chosen_template_is_the_saved_tokenizers(make_train_config: Callable[..., Any]) -> None:
    from loradoc.train.model.load import load_tokenizer

    tok = load_tokenizer(make_train_config(chat_template="llama3"), say=lambda s: None)
    assert tok.chat_template == BUILTIN_CHAT_TEMPLATES["llama3"]
    own = load_tokenizer(make_train_config(chat_template="tokenizer_default"), say=lambda s: None)
    assert own.chat_template != BUILTIN_CHAT_TEMPLATES["llama3"] and "<|im_start|>" in own.chat_template


# --- eot_tokens and train_on_eot ---------------------------------------------------------


def _chatml(tok: Any, dataset_spec: Callable[..., Any], mode: str | None, eot: list[str] | None) -> Any:
    keys = {"type": "chat_template"} if mode is None else {"type": "chat_template", "train_on_eot": mode}
    return format_for(
        dataset_spec(**keys),
        where="datasets[0]",
        tokenizer=tok,
        chat_template=lambda: BUILTIN_CHAT_TEMPLATES["chatml"],
        eot_tokens=eot,
        say=lambda s: None,
    )


@pytest.mark.parametrize(
    ("mode", "spans"),
    [
        (None, ["hello<|im_end|>\n", "later<|im_end|>\n"]),
        ("turn", ["hello<|im_end|>\n", "later<|im_end|>\n"]),
        ("none", ["hello", "\n", "later", "\n"]),
        ("last", ["hello", "\n", "later<|im_end|>\n"]),
        (
            "all",
            ["<|im_end|>", "<|im_end|>", "hello<|im_end|>\n", "<|im_end|>", "later<|im_end|>\n"],
        ),
    ],
)
def test_train_on_eot(
    tiny_tokenizer: Any, dataset_spec: Callable[..., Any], mode: str | None, spans: list[str]
) -> None:
    fmt = _chatml(tiny_tokenizer, dataset_spec, mode, ["<|im_end|>"])
    r = fmt.render({"messages": CONVERSATION}, train_on_inputs=False)
    assert [r.text[a:b] for a, b in r.spans] == spans
    enc = tiny_tokenizer(r.text, add_special_tokens=False, return_offsets_mapping=True)
    ids, labels = encode_rendered(r, enc["input_ids"], enc["offset_mapping"], tiny_tokenizer.eos_token_id)
    im_end = tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    trained_ends = sum(1 for i, lab in zip(ids, labels, strict=True) if i == im_end and lab != IGNORE)
    assert trained_ends == {None: 2, "turn": 2, "none": 0, "last": 1, "all": 5}[mode]


def test_eot_settings_change_the_cache_identity(
    tiny_tokenizer: Any, dataset_spec: Callable[..., Any]
) -> None:
    ids = {
        _chatml(tiny_tokenizer, dataset_spec, mode, eot).identity()
        for mode, eot in ((None, None), ("none", ["<|im_end|>"]), ("all", ["<|im_end|>"]))
    }
    assert len(ids) == 3


def test_eot_token_errors(tiny_tokenizer: Any, dataset_spec: Callable[..., Any]) -> None:
    mistral = BUILTIN_CHAT_TEMPLATES["mistral_v1"]
    # a token the tokenizer splits: Axolotl's error, and the way out
    with pytest.raises(
        UserError,
        match=r"^eot_tokens: '\[/INST\]' is \d+ tokens for this tokenizer, not one; add it under tokens",
    ):
        format_for(
            dataset_spec(type="chat_template"),
            where="datasets[0]",
            tokenizer=tiny_tokenizer,
            chat_template=lambda: mistral,
            eot_tokens=["[/INST]"],
        )
    # a token the template never writes is dropped, with a line
    said: list[str] = []
    fmt = format_for(
        dataset_spec(type="chat_template"),
        where="datasets[0]",
        tokenizer=tiny_tokenizer,
        chat_template=lambda: BUILTIN_CHAT_TEMPLATES["chatml"],
        eot_tokens=["<|im_end|>", "<pad>"],
        say=said.append,
    )
    assert isinstance(fmt, ChatFormat) and fmt.eot_tokens == ("<|im_end|>",)
    assert said == ["eot_tokens: '<pad>' does not occur in the chat template; it is not used"]
    # the EOS token's labels stay per turn (train_on_eos: turn): train_on_eot may not cover it
    with pytest.raises(
        UserError, match=r"^datasets\[0\]\.train_on_eot: none would also cover the EOS token '</s>'"
    ):
        _chatml(tiny_tokenizer, dataset_spec, "none", None)
    with pytest.raises(UserError, match=r"which is in eot_tokens"):
        format_for(
            dataset_spec(type="chat_template", train_on_eot="all"),
            where="datasets[0]",
            tokenizer=tiny_tokenizer,
            chat_template=lambda: mistral,
            eot_tokens=["</s>"],
        )


def test_train_on_eot_values_are_checked_when_the_config_loads(train_config: Callable[..., Any]) -> None:
    with pytest.raises(ConfigError) as exc:
        train_config(datasets=[{"path": "d.jsonl", "type": "chat_template", "train_on_eot": "sometimes"}])
    assert any(p.startswith("datasets[0].train_on_eot: expected") for p in exc.value.problems), (
        exc.value.problems
    )
    assert set(V.TRAIN_ON_EOT) == {"all", "turn", "last", "none"}
    # a top-level train_on_eot is Axolotl's dataset key in the wrong place
    with pytest.raises(ConfigError) as top:
        train_config(train_on_eot="all")
    assert any("datasets[].train_on_eot" in p for p in top.value.problems), top.value.problems
    cfg = train_config(
        eot_tokens=["<|im_end|>"],
        datasets=[{"path": "d.jsonl", "type": "chat_template", "train_on_eot": "last"}],
    )
    assert cfg.eot_tokens == ["<|im_end|>"] and cfg.datasets[0].train_on_eot == "last"


def test_eot_tokens_through_prepare_data(
    tmp_path: Any, tiny_tokenizer: Any, data_config: Callable[..., Any]
) -> None:
    import json

    from loradoc.train.data.prepare import prepare_data

    rows = tmp_path / "chat.jsonl"
    rows.write_text(json.dumps({"messages": CONVERSATION}) + "\n")
    spec = {"path": str(rows), "type": "chat_template", "train_on_eot": "none"}
    cfg = data_config(tmp_path, [spec], chat_template="chatml", eot_tokens=["<|im_end|>"])
    row = prepare_data(cfg, tiny_tokenizer, say=lambda s: None).train[0]
    trained = [i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != IGNORE]
    assert tiny_tokenizer.decode(trained) == "hello\nlater\n</s>"


def test_tokens_make_an_eot_token_whole(
    make_train_config: Callable[..., Any], dataset_spec: Callable[..., Any]
) -> None:
    # Mistral's [/INST] is several tokens for the tiny tokenizer until `tokens` adds it
    from loradoc.train.model.load import load_tokenizer

    cfg = make_train_config(tokens=["[INST]", "[/INST]"], chat_template="mistral_v1", eot_tokens=["[/INST]"])
    tok = load_tokenizer(cfg, say=lambda s: None)
    fmt = format_for(
        dataset_spec(type="chat_template", train_on_eot="all"),
        where="datasets[0]",
        tokenizer=tok,
        chat_template=lambda: tok.chat_template,
        eot_tokens=cfg.eot_tokens,
    )
    r = fmt.render({"messages": CONVERSATION}, train_on_inputs=False)
    # each user turn's [/INST] is trained too, and runs straight into the reply
    assert [r.text[a:b] for a, b in r.spans] == ["[/INST] hello</s>", "[/INST] later</s>"]

"""Prompt formats: rendered text, trained spans, masks decoded back to text."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from loradoc.config.schema import DatasetSpec
from loradoc.errors import UserError
from loradoc.train.data.prepare import IGNORE, encode_rendered
from loradoc.train.data.prompts import (
    BUILTIN_CHAT_TEMPLATES,
    AlpacaFormat,
    ChatFormat,
    CompletionFormat,
    RowProblem,
    format_for,
    resolve_chat_template,
    template_renderer,
)


def _encode(tok: Any, rendered: Any) -> tuple[list[int], list[int]]:
    enc = tok(rendered.text, add_special_tokens=rendered.add_special_tokens, return_offsets_mapping=True)
    return encode_rendered(rendered, enc["input_ids"], enc["offset_mapping"], tok.eos_token_id)


def _trained_text(tok: Any, ids: list[int], labels: list[int]) -> str:
    return tok.decode([i for i, lab in zip(ids, labels, strict=True) if lab != IGNORE])


def _chat(tok: Any, **kw: Any) -> ChatFormat:
    template = tok.chat_template
    return ChatFormat(renderer=template_renderer(tok, template), template_id="t", **kw)


def test_alpaca_trains_exactly_the_response_and_eos(tiny_tokenizer: Any) -> None:
    row = {"instruction": "Reverse the words.", "input": "red green blue", "output": "blue green red"}
    r = AlpacaFormat().render(row, train_on_inputs=False)
    assert r.text.endswith("### Response:\nblue green red")
    ids, labels = _encode(tiny_tokenizer, r)
    assert ids[0] == tiny_tokenizer.bos_token_id and ids[-1] == tiny_tokenizer.eos_token_id
    assert _trained_text(tiny_tokenizer, ids, labels) == "blue green red</s>"
    assert labels[0] == IGNORE


def test_alpaca_without_input_and_train_on_inputs(tiny_tokenizer: Any) -> None:
    row = {"instruction": "Name the animal cat twice.", "output": "cat cat"}
    r = AlpacaFormat().render(row, train_on_inputs=True)
    assert "### Input" not in r.text
    ids, labels = _encode(tiny_tokenizer, r)
    # everything but the first token (BOS, predicted by nothing) is trained
    assert labels[1:] == ids[1:]


def test_alpaca_chat_style(tiny_tokenizer: Any) -> None:
    r = AlpacaFormat("chat").render(
        {"instruction": "hi", "input": "x", "output": "yo"}, train_on_inputs=False
    )
    assert r.text.startswith("USER: hi\nx\nASSISTANT: ")
    ids, labels = _encode(tiny_tokenizer, r)
    assert _trained_text(tiny_tokenizer, ids, labels) == "yo</s>"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"instruction": "x"}, "missing field 'output' (alpaca needs instruction, output; input optional)"),
        ({"instruction": "x", "output": 5}, "field 'output' must be text, got a number"),
        ({"output": "x", "instruction": None}, "missing field 'instruction'"),
    ],
)
def test_alpaca_row_problems(row: dict[str, Any], message: str) -> None:
    with pytest.raises(RowProblem, match=message.replace("(", r"\(").replace(")", r"\)")):
        AlpacaFormat().render(row, train_on_inputs=False)


def test_completion_trains_everything_but_the_first_token(tiny_tokenizer: Any) -> None:
    r = CompletionFormat().render({"text": "the red fox sees the owl."}, train_on_inputs=False)
    ids, labels = _encode(tiny_tokenizer, r)
    assert ids[0] == tiny_tokenizer.bos_token_id
    assert _trained_text(tiny_tokenizer, ids, labels) == "the red fox sees the owl.</s>"


def test_chat_trains_only_assistant_turns(tiny_tokenizer: Any) -> None:
    row = {
        "messages": [
            {"role": "system", "content": "You reverse words."},
            {"role": "user", "content": "red blue"},
            {"role": "assistant", "content": "blue red"},
            {"role": "user", "content": "cat dog"},
            {"role": "assistant", "content": "dog cat"},
        ]
    }
    r = _chat(tiny_tokenizer).render(row, train_on_inputs=False)
    assert r.text == tiny_tokenizer.apply_chat_template(row["messages"], tokenize=False)
    assert [r.text[a:b] for a, b in r.spans] == ["blue red<|im_end|>\n", "dog cat<|im_end|>\n"]
    ids, labels = _encode(tiny_tokenizer, r)
    assert ids[0] != tiny_tokenizer.bos_token_id  # the template's text is tokenized as is
    assert _trained_text(tiny_tokenizer, ids, labels) == "blue red<|im_end|>\ndog cat<|im_end|>\n</s>"
    # the tokens are exactly those of the whole rendering (plus EOS)
    assert ids[:-1] == tiny_tokenizer(r.text, add_special_tokens=False)["input_ids"]


def test_sharegpt_roles_and_mappings(tiny_tokenizer: Any, dataset_spec: Callable[..., Any]) -> None:
    row = {"conversations": [{"from": "human", "value": "a b"}, {"from": "gpt", "value": "b a"}]}
    spec = dataset_spec(
        type="chat_template",
        field_messages="conversations",
        message_property_mappings={"role": "from", "content": "value"},
    )
    fmt = format_for(
        spec,
        where="datasets[0]",
        tokenizer=tiny_tokenizer,
        chat_template=lambda: tiny_tokenizer.chat_template,
    )
    r = fmt.render(row, train_on_inputs=False)
    assert "<|im_start|>user\na b" in r.text
    ids, labels = _encode(tiny_tokenizer, r)
    assert _trained_text(tiny_tokenizer, ids, labels) == "b a<|im_end|>\n</s>"
    # the sharegpt type defaults to the same fields
    fmt2 = format_for(
        dataset_spec(type="sharegpt"),
        where="d",
        tokenizer=tiny_tokenizer,
        chat_template=lambda: tiny_tokenizer.chat_template,
    )
    assert fmt2.render(row, train_on_inputs=False).text == r.text


def test_chat_drop_system_and_unknown_role(tiny_tokenizer: Any) -> None:
    msgs = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    r = _chat(tiny_tokenizer, drop_system_message=True).render({"messages": msgs}, train_on_inputs=False)
    assert "system" not in r.text
    with pytest.raises(RowProblem, match="message 1: unknown role 'narrator'"):
        _chat(tiny_tokenizer).render(
            {"messages": [{"role": "narrator", "content": "x"}]}, train_on_inputs=False
        )
    with pytest.raises(RowProblem, match="missing field 'messages'"):
        _chat(tiny_tokenizer).render({"text": "x"}, train_on_inputs=False)


def test_chat_refuses_a_template_that_rewrites_history(tiny_tokenizer: Any) -> None:
    # this template prints only the last assistant reply: earlier prefixes are not prefixes of the whole
    template = (
        "{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}"
        "[{{ m['role'] }}]{{ m['content'] }}\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    fmt = ChatFormat(renderer=template_renderer(tiny_tokenizer, template), template_id="x")
    msgs = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d"},
    ]
    with pytest.raises(RowProblem, match="cannot be masked"):
        fmt.render({"messages": msgs}, train_on_inputs=False)
    assert fmt.render({"messages": msgs}, train_on_inputs=True).spans  # whole text is fine


@pytest.mark.parametrize("name", sorted(BUILTIN_CHAT_TEMPLATES))
def test_builtin_templates_mask_per_turn(tiny_tokenizer: Any, name: str) -> None:
    template = BUILTIN_CHAT_TEMPLATES[name]
    fmt = ChatFormat(renderer=template_renderer(tiny_tokenizer, template), template_id=name, end_text="</s>")
    msgs = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "world"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "done"},
    ]
    r = fmt.render({"messages": msgs}, train_on_inputs=False)
    pieces = [r.text[a:b] for a, b in r.spans]
    # each piece is the reply and what the format writes around it (a leading space, qwen3's empty
    # think block, the end of the turn); test_chat_templates.py has every format's exact text
    assert len(pieces) == 2 and "world" in pieces[0] and "done" in pieces[1]
    assert all("hello" not in p and "again" not in p for p in pieces)


def test_resolve_chat_template(tiny_tokenizer: Any) -> None:
    said: list[str] = []
    assert resolve_chat_template(None, tiny_tokenizer, say=said.append) == tiny_tokenizer.chat_template
    assert resolve_chat_template("chatml", tiny_tokenizer) == BUILTIN_CHAT_TEMPLATES["chatml"]
    assert resolve_chat_template("x", tiny_tokenizer, jinja="{{ 1 }}") == "{{ 1 }}"
    assert resolve_chat_template("qwen3", tiny_tokenizer) == BUILTIN_CHAT_TEMPLATES["qwen3"]
    # the fallback names: the tokenizer's own template when it has one, else the named one (said)
    assert (
        resolve_chat_template("tokenizer_default_fallback_llama3", tiny_tokenizer)
        == tiny_tokenizer.chat_template
    )
    bare = SimpleNamespace(chat_template=None)
    got = resolve_chat_template("tokenizer_default_fallback_llama3", bare, say=said.append)
    assert got == BUILTIN_CHAT_TEMPLATES["llama3"] and "using llama3" in said[-1]
    with pytest.raises(UserError, match="no chat template of its own"):
        resolve_chat_template("tokenizer_default", bare)
    # a refused name is one line naming the key and the way out
    with pytest.raises(
        UserError, match=r"^not supported: chat_template: command_a \(.*chat_template_jinja\)$"
    ):
        resolve_chat_template("command_a", tiny_tokenizer)
    with pytest.raises(
        UserError, match=r"not supported: chat_template: tokenizer_default_fallback_command_a"
    ):
        resolve_chat_template("tokenizer_default_fallback_command_a", bare)
    with pytest.raises(UserError, match=r"^chat_template: oasst: not a chat template name"):
        resolve_chat_template("oasst", tiny_tokenizer)


def test_unknown_type_is_rejected_by_name(tiny_tokenizer: Any) -> None:
    # the schema refuses this type when a config loads; format_for names it too, for specs built in code
    spec = DatasetSpec(path="data.jsonl", type="oasst")
    with pytest.raises(UserError, match=r"datasets\[2\]\.type: 'oasst' is not supported"):
        format_for(spec, where="datasets[2]", tokenizer=tiny_tokenizer, chat_template=str)


def test_chat_template_jinja_from_a_file_and_per_dataset(
    tiny_tokenizer: Any, tmp_path: Any, data_config: Any
) -> None:
    import json

    from loradoc.train.data.prepare import prepare_data

    template = tmp_path / "tpl.jinja"
    template.write_text(
        "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}[assistant] {% endif %}"
    )
    assert resolve_chat_template(None, tiny_tokenizer, jinja=str(template)) == template.read_text()
    with pytest.raises(UserError, match="no such file"):
        resolve_chat_template(None, tiny_tokenizer, jinja=str(tmp_path / "missing.jinja"))
    with pytest.raises(UserError, match="chat_template: jinja needs"):
        resolve_chat_template("jinja", tiny_tokenizer)
    rows = tmp_path / "chat.jsonl"
    rows.write_text(
        json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
        + "\n"
    )
    cfg = data_config(
        tmp_path, [{"path": str(rows), "type": "chat_template", "chat_template_jinja": str(template)}]
    )
    data = prepare_data(cfg, tiny_tokenizer, say=lambda s: None)
    row = data.train[0]
    assert tiny_tokenizer.decode(row["input_ids"]) == "[user] a\n[assistant] b\n</s>"
    trained = [i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != IGNORE]
    assert tiny_tokenizer.decode(trained) == "b\n</s>"

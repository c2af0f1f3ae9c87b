"""The chat templates loradoc ships, one per Axolotl template name it implements.

Each is written for loradoc from the turn layout its model family publishes (the special-token
strings, where the system message goes, what closes a turn, the generation prompt), for text
messages: ``system``, ``user``, ``assistant``, and ``tool`` where the format has a tool turn.
Images, tool definitions and tool calls are not rendered (loradoc trains text). Which names are
built in, which are refused and how a built-in one differs from Axolotl's rendering is listed in
:mod:`loradoc.config.vocab` (``CHAT_TEMPLATE_BUILTIN``, ``CHAT_TEMPLATE_REFUSED``); a test keeps
the two in step.

transformers renders chat templates with ``trim_blocks`` (the newline right after a ``%}`` is
dropped), so a newline that follows a tag is written ``{{ '\\n' }}``.

Templates may read ``real_last_index`` (the index of the conversation's last message), which
``prompts.ChatFormat`` passes when it renders a conversation prefix by prefix, so a template that
treats the final reply specially (qwen3) renders each prefix as the start of the whole.
"""

from __future__ import annotations

# DeepSeek's markers use fullwidth bars (U+FF5C) and a lower one-eighth block (U+2581) for spaces.
_BAR = "\uff5c"
_SP = "\u2581"
_DS_USER = f"<{_BAR}User{_BAR}>"
_DS_ASSISTANT = f"<{_BAR}Assistant{_BAR}>"
_DS_END = f"<{_BAR}end{_SP}of{_SP}sentence{_BAR}>"

# Splits off a leading system message: `sys` (or none) and `rest`, the other messages.
_SPLIT_SYSTEM = (
    "{% set sys = none %}{% set rest = messages %}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set sys = messages[0]['content'] %}{% set rest = messages[1:] %}{% endif %}"
)


def _alternate(name: str) -> str:
    """Refuse a conversation (in ``rest``'s loop) whose turns do not go user, assistant, user, ..."""
    return (
        "{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        f"{{{{ raise_exception('{name}: after an optional system message the turns must alternate "
        "user, assistant, user, ...') }}{% endif %}"
    )


def _only(name: str, roles: str) -> str:
    return f"{{{{ raise_exception('{name}: a ' + m['role'] + ' message; this format has {roles} turns only') }}}}"


_CHATML_TOOL = (
    # consecutive tool results share one user turn, each in <tool_response> tags
    "{% if loop.first or messages[loop.index0 - 1]['role'] != 'tool' %}<|im_start|>user{% endif %}"
    "{{ '\\n' }}<tool_response>\n{{ m['content'] }}\n</tool_response>"
    "{% if loop.last or messages[loop.index0 + 1]['role'] != 'tool' %}<|im_end|>\n{% endif %}"
)

_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_ALPACA = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' and loop.first %}{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}### Instruction:\n{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}### Response:\n{{ m['content'] }}{{ eos_token }}{% endif %}"
    "{% if not loop.last %}{{ '\\n\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '\\n\\n' }}### Response:\n{% endif %}"
)

# Mistral's instruct formats: no generation prompt (a user turn ends with [/INST]), each reply ends
# with EOS. v1 puts the system message in the first user turn; v2/v3 and tekken in the last one,
# so a conversation that ends with a reply carries no system text (as Mistral's own templates).
_MISTRAL_V1 = (
    _SPLIT_SYSTEM
    + "{{ bos_token }}{% for m in rest %}"
    + _alternate("mistral_v1")
    + "{% if m['role'] == 'user' %}"
    " [INST] {% if loop.first and sys is not none %}{{ sys }}\n\n{% endif %}{{ m['content'] }} [/INST]"
    "{% elif m['role'] == 'assistant' %} {{ m['content'] }}{{ eos_token }}"
    "{% else %}" + _only("mistral_v1", "user and assistant") + "{% endif %}{% endfor %}"
)


def _mistral_v3(name: str, *, inst: str, reply: str) -> str:
    return (
        _SPLIT_SYSTEM
        + "{{ bos_token }}{% for m in rest %}"
        + _alternate(name)
        + "{% if m['role'] == 'user' %}"
        f"{inst}{{% if loop.last and sys is not none %}}{{{{ sys }}}}\n\n{{% endif %}}{{{{ m['content'] }}}}[/INST]"
        f"{{% elif m['role'] == 'assistant' %}}{reply}{{{{ eos_token }}}}"
        "{% else %}" + _only(name, "user and assistant") + "{% endif %}{% endfor %}"
    )


_MISTRAL_V2V3 = _mistral_v3("mistral_v2v3", inst="[INST] ", reply=" {{ m['content'] | trim }}")
_MISTRAL_V3_TEKKEN = _mistral_v3("mistral_v3_tekken", inst="[INST]", reply="{{ m['content'] }}")

_MISTRAL_V7_TEKKEN = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}[SYSTEM_PROMPT]{{ m['content'] }}[/SYSTEM_PROMPT]"
    "{% elif m['role'] == 'user' %}[INST]{{ m['content'] }}[/INST]"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}"
    "{% else %}" + _only("mistral_v7_tekken", "system, user and assistant") + "{% endif %}{% endfor %}"
)

# Gemma 1-3: <start_of_turn>user|model ... <end_of_turn>; a system message opens the first user turn.
_GEMMA = (
    "{{ bos_token }}{% set sys = namespace(text='') %}"
    "{% for m in messages %}{% if m['role'] == 'system' %}{% set sys.text = m['content'] + '\n\n' %}"
    "{% else %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "<start_of_turn>{{ role }}\n{% if role == 'user' %}{{ sys.text }}{% set sys.text = '' %}{% endif %}"
    "{{ m['content'] | trim }}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

# Gemma 4: <|turn>ROLE ... <turn|>; the system message is a turn of its own; the generation prompt
# opens an empty thought channel unless enable_thinking.
_GEMMA4 = (
    "{{ bos_token }}"
    + _SPLIT_SYSTEM
    + "{% if sys is not none %}<|turn>system\n{{ sys | trim }}<turn|>\n{% endif %}"
    "{% for m in rest %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "<|turn>{{ role }}\n{{ m['content'] | trim }}<turn|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|turn>model\n"
    "{% if not (enable_thinking is defined and enable_thinking) %}<|channel>thought\n<channel|>{% endif %}"
    "{% endif %}"
)

_COHERE = (
    "{{ bos_token }}"
    + _SPLIT_SYSTEM
    + "{% if sys is not none %}<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{{ sys }}<|END_OF_TURN_TOKEN|>{% endif %}"
    "{% for m in rest %}" + _alternate("cohere") + "{% if m['role'] == 'user' %}"
    "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{{ m['content'] | trim }}<|END_OF_TURN_TOKEN|>"
    "{% elif m['role'] == 'assistant' %}"
    "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{{ m['content'] | trim }}<|END_OF_TURN_TOKEN|>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>{% endif %}"
)

_LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

# Llama 3.2 Vision (text messages): a system header always comes first, with the knowledge cutoff
# and the date (date_string, else today's, as Meta's template does); tool results are ipython turns.
_LLAMA3_2_VISION = (
    "{{ bos_token }}"
    + _SPLIT_SYSTEM
    + "{% if date_string is not defined %}{% set date_string = strftime_now('%d %b %Y') %}{% endif %}"
    "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
    "Today Date: {{ date_string }}\n\n{{ (sys or '') | trim }}<|eot_id|>"
    "{% for m in rest %}{% if m['role'] == 'tool' or m['role'] == 'ipython' %}"
    "<|start_header_id|>ipython<|end_header_id|>\n\n{{ m['content'] | tojson }}<|eot_id|>"
    "{% else %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

_LLAMA4 = (
    "{{ bos_token }}"
    + _SPLIT_SYSTEM
    + "{% if sys is not none %}<|header_start|>system<|header_end|>\n\n{{ sys | trim }}<|eot|>{% endif %}"
    "{% for m in rest %}{% if m['role'] == 'tool' or m['role'] == 'ipython' %}"
    "<|header_start|>ipython<|header_end|>\n\n{{ m['content'] | tojson }}<|eot|>"
    "{% else %}<|header_start|>{{ m['role'] }}<|header_end|>\n\n{{ m['content'] }}<|eot|>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|header_start|>assistant<|header_end|>\n\n{% endif %}"
)

# Phi-3 (Axolotl's layout): a user turn ends by opening the assistant's, so there is no generation prompt.
_PHI_3 = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|system|>\n{{ m['content'] }}<|end|>\n"
    "{% elif m['role'] == 'user' %}<|user|>\n{{ m['content'] }}<|end|>\n<|assistant|>\n"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] }}<|end|>\n{% endif %}{% endfor %}"
)

_PHI_35 = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% if m['content'] %}<|system|>\n{{ m['content'] }}<|end|>\n{% endif %}"
    "{% elif m['role'] == 'user' %}<|user|>\n{{ m['content'] }}<|end|>\n"
    "{% elif m['role'] == 'assistant' %}<|assistant|>\n{{ m['content'] }}<|end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_DEEPSEEK_V2 = (
    "{{ bos_token }}{% for m in messages %}"
    f"{{% if m['role'] == 'user' %}}{_DS_USER}{{{{ m['content'] }}}}"
    f"{{% elif m['role'] == 'assistant' %}}{_DS_ASSISTANT}{{{{ m['content'] }}}}{{{{ eos_token }}}}"
    "{% elif m['role'] == 'system' %}{{ m['content'] }}\n\n{% endif %}{% endfor %}"
    f"{{% if add_generation_prompt %}}{_DS_ASSISTANT}{{% endif %}}"
)

# DeepSeek V3: every system message, joined by a blank line, comes first, with no marker.
_DEEPSEEK_V3 = (
    "{% set ns = namespace(system='', first=true) %}{% for m in messages %}{% if m['role'] == 'system' %}"
    "{% if ns.first %}{% set ns.system = m['content'] %}{% set ns.first = false %}"
    "{% else %}{% set ns.system = ns.system + '\n\n' + m['content'] %}{% endif %}{% endif %}{% endfor %}"
    "{{ bos_token }}{{ ns.system }}{% for m in messages %}"
    f"{{% if m['role'] == 'user' %}}{_DS_USER}{{{{ m['content'] }}}}"
    f"{{% elif m['role'] == 'assistant' %}}{_DS_ASSISTANT}{{{{ m['content'] }}}}{_DS_END}"
    "{% elif m['role'] != 'system' %}" + _only("deepseek_v3", "system, user and assistant") + "{% endif %}"
    f"{{% endfor %}}{{% if add_generation_prompt %}}{_DS_ASSISTANT}{{% endif %}}"
)

# Jamba: <|startoftext|>, then every message (the system one always, empty when there is none) as
# <|bom|><|ROLE|> TEXT, each closed by <|eom|>.
_JAMBA = (
    "<|startoftext|>" + _SPLIT_SYSTEM + "<|bom|><|system|> {{ sys or '' }}"
    "{% for m in rest %}<|eom|><|bom|><|{{ m['role'] }}|> {{ m['content'] }}{% endfor %}<|eom|>"
    "{% if add_generation_prompt %}<|bom|><|assistant|>{% endif %}"
)

_QWEN_25 = (
    "{% if messages and messages[0]['role'] == 'system' %}"
    "<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n"
    "{% else %}<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    "{% endif %}{% for m in messages %}{% if m['role'] == 'system' and loop.first %}"
    "{% elif m['role'] == 'tool' %}" + _CHATML_TOOL + "{% else %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen 3: the final reply, when it answers the last user message, carries an empty think block
# (unless it writes its own); earlier replies are plain. `real_last_index` says which message is
# final when a prefix of the conversation is rendered.
_QWEN3 = (
    "{% if messages and messages[0]['role'] == 'system' %}"
    "<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n{% endif %}"
    "{% set ns = namespace(query=messages | length - 1, searching=true) %}"
    "{% for m in messages[::-1] %}{% if ns.searching and m['role'] == 'user' and not "
    "(m['content'].startswith('<tool_response>') and m['content'].endswith('</tool_response>')) %}"
    "{% set ns.searching = false %}{% set ns.query = messages | length - 1 - loop.index0 %}{% endif %}"
    "{% endfor %}"
    "{% set final = real_last_index if real_last_index is defined and real_last_index is not none "
    "else messages | length - 1 %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'user' or (m['role'] == 'system' and not loop.first) %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% elif m['role'] == 'assistant' %}<|im_start|>assistant\n"
    "{% if loop.index0 > ns.query and loop.index0 == final and '</think>' not in m['content'] %}"
    "<think>\n\n</think>\n\n{{ m['content'].lstrip('\n') }}{% else %}{{ m['content'] }}{% endif %}<|im_end|>\n"
    "{% elif m['role'] == 'tool' %}" + _CHATML_TOOL + "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)

_EXAONE = (
    "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}[|system|][|endofturn|]\n{% endif %}"
    "[|{{ m['role'] }}|]{{ m['content'] }}{% if m['role'] == 'user' %}{{ '\\n' }}{% else %}[|endofturn|]\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}[|assistant|]{% endif %}"
)

# EXAONE 4 (thinking off, its default): a reply opens with an empty think block.
_EXAONE4 = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}[|assistant|]\n"
    "{% if m['content'] %}{% if '</think>' not in m['content'] %}<think>\n\n</think>\n\n{% endif %}"
    "{{ m['content'] }}{% endif %}[|endofturn|]\n"
    "{% elif m['role'] == 'tool' %}"
    "{% if loop.first or messages[loop.index0 - 1]['role'] != 'tool' %}[|tool|]\n{% endif %}"
    "<tool_result>{{ '{\"result\": ' + (m['content'] | tojson) + '}' }}</tool_result>"
    "{% if loop.last or messages[loop.index0 + 1]['role'] != 'tool' %}[|endofturn|]\n{% else %}{{ '\\n' }}{% endif %}"
    "{% else %}[|{{ m['role'] }}|]\n{{ m['content'] }}[|endofturn|]\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}[|assistant|]\n"
    "{% if enable_thinking is defined and enable_thinking is true %}<think>\n"
    "{% else %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)

# Metharme (Pygmalion): no turn ends; EOS closes the conversation.
_METHARME = (
    "{{ bos_token }}" + _SPLIT_SYSTEM + "{% if sys is not none %}<|system|>{{ sys }}{% endif %}"
    "{% for m in rest %}{% if m['role'] == 'user' %}<|user|>{{ m['content'] | trim }}"
    "{% elif m['role'] == 'assistant' %}<|model|>{{ m['content'] | trim }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|model|>{% else %}{{ eos_token }}{% endif %}"
)

# Falcon-H1: ChatML after BOS; only a leading system message is kept.
_FALCON_H1 = (
    "{{ bos_token }}{% if messages and messages[0]['role'] == 'system' %}"
    "<|im_start|>system\n{{ messages[0]['content'] }}<|im_end|>\n{% endif %}"
    "{% for m in messages %}{% if m['role'] != 'system' %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_NEMOTRON_H = (
    _SPLIT_SYSTEM + "{% if sys is not none %}<|im_start|>system\n{{ sys }}<|im_end|>\n{% endif %}"
    "{% for m in rest %}{% if m['role'] == 'user' or m['role'] == 'assistant' %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% else %}" + _only("nemotron_h", "system, user and assistant") + "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_LLAVA = (
    "{% for m in messages %}{% if m['role'] != 'system' %}{{ m['role'] | upper }}: {% endif %}"
    "{{ m['content'] }} {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_QWEN2_VL = (
    "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

BUILTIN_CHAT_TEMPLATES: dict[str, str] = {
    "alpaca": _ALPACA,
    "chatml": _CHATML,
    "mistral_v1": _MISTRAL_V1,
    "mistral_v2v3": _MISTRAL_V2V3,
    "mistral_v3_tekken": _MISTRAL_V3_TEKKEN,
    "mistral_v7_tekken": _MISTRAL_V7_TEKKEN,
    "pixtral": _MISTRAL_V3_TEKKEN,  # its text layout is v3 tekken's
    "gemma": _GEMMA,
    "gemma3": _GEMMA,
    "gemma3n": _GEMMA,
    "gemma4": _GEMMA4,
    "gemma4_unified": _GEMMA4,
    "cohere": _COHERE,
    "aya": _COHERE,
    "llama3": _LLAMA3,
    "llama3_2_vision": _LLAMA3_2_VISION,
    "llama4": _LLAMA4,
    "phi_3": _PHI_3,
    "phi_35": _PHI_35,
    "deepseek_v2": _DEEPSEEK_V2,
    "deepseek_v3": _DEEPSEEK_V3,
    "jamba": _JAMBA,
    "qwen_25": _QWEN_25,
    "qwen3": _QWEN3,
    "qwen3_5": _QWEN3,
    "qwen2_vl": _QWEN2_VL,
    "exaone": _EXAONE,
    "exaone4": _EXAONE4,
    "metharme": _METHARME,
    "falcon_h1": _FALCON_H1,
    "nemotron_h": _NEMOTRON_H,
    "llava": _LLAVA,
}

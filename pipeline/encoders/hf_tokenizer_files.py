"""Read a model directory's tokenizer files, and say whether ``tokenizer.json`` alone defines its tokenizer.

``transformers`` builds a tokenizer from ``tokenizer.json`` plus ``tokenizer_config.json``, and for some
families the config rewrites parts of the JSON on load (Llama's ``add_bos_token``, RoBERTa's
``add_prefix_space``, a BERT ``do_lower_case`` that disagrees with the JSON's normalizer, special tokens the JSON
lacks). Only families whose load changes nothing are run from the JSON directly: the WordPiece ones below, and
only when the config agrees with the JSON's normalizer and names no token the JSON lacks. Everything else
returns ``None`` and goes through ``AutoTokenizer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TokenizerFiles", "read_tokenizer_files"]

# tokenizer_class -> whether it makes token_type_ids (its model_input_names). Each was checked to give the ids
# AutoTokenizer gives (tests/encoders/test_hf_tokenizer.py).
WORDPIECE_FAMILIES: dict[str, bool] = {
    "BertTokenizer": True,
    "BertTokenizerFast": True,
    "DistilBertTokenizer": False,
    "DistilBertTokenizerFast": False,
    "MPNetTokenizer": False,
    "MPNetTokenizerFast": False,
}

# tokenizer_config.json key -> the BertNormalizer field that transformers would overwrite with it.
_NORMALIZER_KEYS = {
    "do_lower_case": "lowercase",
    "strip_accents": "strip_accents",
    "tokenize_chinese_chars": "handle_chinese_chars",
}

_SPECIAL_TOKENS = ("unk_token", "cls_token", "sep_token", "pad_token", "mask_token", "bos_token", "eos_token")


@dataclass(frozen=True)
class TokenizerFiles:
    """What the tokenizer files say.

    Attributes:
        tokenizer: the ``tokenizers.Tokenizer`` built from ``tokenizer.json``, or a transformers tokenizer.
        model_max_length: the declared token limit, ``None`` (or a huge int) where none is declared.
        makes_token_types: whether the tokenizer makes ``token_type_ids``.
        pad_id: the pad token's id (the end-of-sequence id where there is no pad token, else 0).
    """

    tokenizer: Any
    model_max_length: int | None
    makes_token_types: bool
    pad_id: int


def read_tokenizer_files(model_dir: str) -> TokenizerFiles | None:
    """The tokenizer of ``model_dir`` from its ``tokenizer.json``, or None where that file alone does not define it
    (no such file, a family outside :data:`WORDPIECE_FAMILIES`, or a config that disagrees with the file)."""
    folder = Path(model_dir)
    config = _read_json(folder / "tokenizer_config.json")
    definition = _read_json(folder / "tokenizer.json")
    if config is None or definition is None or config.get("tokenizer_class") not in WORDPIECE_FAMILIES:
        return None
    specials = _read_json(folder / "special_tokens_map.json") or {}
    if not _config_agrees(config, definition.get("normalizer") or {}):
        return None
    added = {token.get("content") for token in definition.get("added_tokens") or [] if isinstance(token, dict)}
    if not _declared_tokens(config, specials) <= added:
        return None  # transformers would add the missing ones, and a text holding one would tokenize differently
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    makes_token_types = WORDPIECE_FAMILIES[config["tokenizer_class"]]
    if isinstance(config.get("model_input_names"), list):
        makes_token_types = "token_type_ids" in config["model_input_names"]
    limit = config.get("model_max_length")
    return TokenizerFiles(
        tokenizer=tokenizer,
        model_max_length=limit if isinstance(limit, int) else None,
        makes_token_types=makes_token_types,
        pad_id=_pad_id(tokenizer, config, specials),
    )


def _config_agrees(config: dict[str, Any], normalizer: dict[str, Any]) -> bool:
    """True when loading through transformers would leave the JSON's BERT normalizer as it is."""
    if normalizer.get("type") != "BertNormalizer":
        return False
    return all(normalizer.get(field) == config[key] for key, field in _NORMALIZER_KEYS.items() if key in config)


def _declared_tokens(config: dict[str, Any], specials: dict[str, Any]) -> set[str]:
    """Every special or added token the config files name (transformers makes each one an added token)."""
    named: list[Any] = [config.get(name, specials.get(name)) for name in _SPECIAL_TOKENS]
    for source in (config, specials):
        extra = source.get("additional_special_tokens")
        named += extra if isinstance(extra, list) else []
    decoder = config.get("added_tokens_decoder")
    named += list(decoder.values()) if isinstance(decoder, dict) else []
    contents = (token.get("content") if isinstance(token, dict) else token for token in named)
    return {content for content in contents if isinstance(content, str)}


def _pad_id(tokenizer: Any, config: dict[str, Any], specials: dict[str, Any]) -> int:
    for name in ("pad_token", "eos_token"):
        token = config.get(name, specials.get(name))
        if isinstance(token, dict):  # {"content": "[PAD]", "lstrip": ..., ...}
            token = token.get("content")
        token_id = tokenizer.token_to_id(token) if isinstance(token, str) else None
        if token_id is not None:
            return int(token_id)
    return 0


def _read_json(path: Path) -> dict[str, Any] | None:
    """The object in ``path``, or None where it is missing or not a JSON object (then transformers decides)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None

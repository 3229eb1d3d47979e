"""Keys read from a model's config.json or --dec-key-file never show in the serving objects' repr."""

from __future__ import annotations

import json
from pathlib import Path

from mindinfer.serve.model import ServeSettings
from mindinfer.serve.repository import ModelConfig


def test_load_args_with_a_key_are_not_in_repr(tmp_path: Path) -> None:
    key = bytes(range(16))
    (tmp_path / "k.bin").write_bytes(key)
    (tmp_path / "config.json").write_text(json.dumps({"dec_key_file": "k.bin", "dec_mode": "AES-GCM"}))
    config = ModelConfig.read(tmp_path / "config.json")
    assert config.load_args["dec_key"] == key
    for text in (repr(config), str(config), repr(ServeSettings(load_args={"dec_key": key}))):
        assert repr(key)[2:-1] not in text and key.hex() not in text

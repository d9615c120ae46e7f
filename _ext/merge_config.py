"""Write the Chinese build's Jupyter Book config: _config.yml updated with _config.zh.yml.

Usage: python _ext/merge_config.py _config.yml _config.zh.yml _build/zh/_config.yml

Jupyter Book reads one config file per build and has no "extends", so the Chinese build gets a
generated file; the shared settings (repository URL, execution, extensions) stay in _config.yml.
Jupyter Book resolves `local_extensions` folders against the config file's folder, so they are
written as absolute paths.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def merge(base: dict, overrides: dict) -> dict:
    """Recursively replace the keys of ``base`` that ``overrides`` names (lists are replaced)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = merge(base[key], value)
        else:
            merged[key] = value
    return merged


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: merge_config.py BASE.yml OVERRIDES.yml OUTPUT.yml", file=sys.stderr)
        return 2
    base_path, overrides_path, output = (Path(a) for a in argv)
    for path in (base_path, overrides_path):
        if not path.is_file():
            print(f"error: {path} not found; run from the repository root", file=sys.stderr)
            return 2
    config = merge(
        yaml.safe_load(base_path.read_text(encoding="utf-8")),
        yaml.safe_load(overrides_path.read_text(encoding="utf-8")),
    )
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for name, folder in extensions.items():
        extensions[name] = str((base_path.parent / folder).resolve())
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

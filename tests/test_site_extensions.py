"""The site's own build helpers in _ext/: glossary search terms and the Chinese build's config."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

from course_search import glossary_terms  # noqa: E402
from merge_config import main as merge_main  # noqa: E402
from merge_config import merge  # noqa: E402

GLOSSARY = """# 术语表

| English | 中文 | 避免 |
|:--|:--|:--|
| noise | 噪声 | 噪音 |
| noise scheduler | 噪声调度器 | 噪音调度器 |
| sampling / sampler | 采样 / 采样器 | 取样 |
| pipeline | 管线（API 名保持 `DDPMPipeline`） | 流水线 |
| EMA | EMA（指数移动平均） | 指数滑动均值 |
| notebook | notebook（不译） | 笔记本文件 |

Text after the table: 这里的词不是术语。
"""


def test_glossary_terms_come_from_the_chinese_column_only():
    terms = glossary_terms(GLOSSARY)
    assert terms[:6] == ["噪声", "噪声调度器", "采样", "采样器", "管线", "指数移动平均"]
    assert not {"噪音", "取样", "流水线", "不译", "名保持", "这里的词不是术语"} & set(terms)


def test_compound_terms_also_yield_their_parts():
    assert "调度器" in glossary_terms(GLOSSARY)  # 噪声调度器 minus the term 噪声


def test_the_real_glossary_gives_the_course_terms():
    text = (ROOT / "book" / "zh" / "glossary.md").read_text(encoding="utf-8")
    assert {"去噪", "时间步", "扩散模型", "调度器"} <= set(glossary_terms(text))


def test_glossary_without_a_chinese_column_gives_no_terms():
    assert glossary_terms("| English | French |\n|:--|:--|\n| noise | bruit |\n") == []


def test_overrides_replace_keys_and_keep_the_rest():
    base = {"title": "A", "sphinx": {"config": {"language": "en", "x": [1]}, "keep": 1}}
    merged = merge(base, {"title": "B", "sphinx": {"config": {"language": "zh_CN", "x": [2]}}})
    assert merged == {
        "title": "B",
        "sphinx": {"config": {"language": "zh_CN", "x": [2]}, "keep": 1},
    }
    assert base["sphinx"]["config"]["language"] == "en"


def test_chinese_config_keeps_the_repository_and_finds_the_extensions(tmp_path):
    out = tmp_path / "zh" / "_config.yml"
    assert merge_main([str(ROOT / "_config.yml"), str(ROOT / "_config.zh.yml"), str(out)]) == 0
    english = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    chinese = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert chinese["repository"] == english["repository"]
    assert chinese["sphinx"]["config"]["language"] == "zh_CN"
    for folder in chinese["sphinx"]["local_extensions"].values():
        assert Path(folder).is_absolute() and (Path(folder) / "course_search.py").is_file()


def test_only_the_english_config_names_the_repository():
    url = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]
    others = [p.name for p in ROOT.glob("*.yml") if p.name != "_config.yml"]
    assert not [name for name in others if url in (ROOT / name).read_text(encoding="utf-8")]


def test_missing_config_is_one_clear_error(tmp_path, capsys):
    out = tmp_path / "out.yml"
    assert merge_main([str(tmp_path / "nope.yml"), str(ROOT / "_config.zh.yml"), str(out)]) == 2
    assert "nope.yml not found" in capsys.readouterr().err and not out.exists()


@pytest.mark.skipif(not shutil.which("node"), reason="needs node to run the browser splitter")
def test_browser_splitter_cuts_queries_into_the_longest_index_terms():
    terms = ["扩散模型", "扩散", "模型", "训练", "时间步", "调度器"]
    index = {"terms": dict.fromkeys(terms, 1), "titleterms": {}}
    script = (
        f"var Search = {{_index: {json.dumps(index)}}};"
        + (ROOT / "_ext" / "zh_search_splitter.js").read_text(encoding="utf-8")
        + "for (const q of process.argv.slice(1)) console.log(JSON.stringify(splitQuery(q)));"
    )
    queries = ["扩散模型的训练", "时间步 DDPM", "UNet2DModel调度器", "的"]
    run = subprocess.run(["node", "-e", script, *queries], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert [json.loads(line) for line in run.stdout.splitlines()] == [
        ["扩散模型", "训练"],
        ["时间步", "DDPM"],
        ["UNet2DModel", "调度器"],
        [],
    ]

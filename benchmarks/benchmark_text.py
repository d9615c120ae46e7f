"""The English and Chinese text of ``results.md`` / ``results.zh.md``; every number comes from
the measured facts passed in (see ``benchmark_report.py``)."""

from __future__ import annotations

import numpy as np
from benchmark_report import MAIN, _key, fmt, recipe_line

EN = {
    "title": "# Training benchmark: which recipe learns fastest on a CPU",
    "recipe": "recipe", "changes": "change from `base`", "seeds": "seeds",
    "min": "CPU-min", "kid": "KID × 10³", "rec": "recognizable", "classes": "classes",
    "steps": "steps", "sampler": "sampler", "weights": "weights",
}  # fmt: skip
ZH = {
    "title": "# 训练基准：哪种配方在 CPU 上学得最快",
    "recipe": "配方", "changes": "相对 `base` 的改动", "seeds": "种子数",
    "min": "CPU 分钟", "kid": "KID × 10³", "rec": "可辨认比例", "classes": "类别数",
    "steps": "步数", "sampler": "采样器", "weights": "权重",
}  # fmt: skip


def table(summary: list[dict], labels: dict, schedule: float) -> list[str]:
    """Rows of the runs whose lr schedule spans ``schedule`` minutes."""
    keep = [s for s in summary if s["schedule"] == schedule]
    lines = [
        f"| {labels['recipe']} | {labels['changes']} | {labels['seeds']} | {labels['min']} | "
        f"{labels['steps']} | {labels['kid']} | {labels['rec']} | {labels['classes']} |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in sorted(keep, key=lambda s: (s["recipe"], s["minutes"])):
        lines.append(
            f"| {s['recipe']} | {recipe_line(s['recipe'])} | {s['seeds']} | {s['minutes']:g} | "
            f"{s['steps']} | {fmt(s['kid_mean'], s['kid_low'], s['kid_high'])} | "
            f"{fmt(s['recognizable_mean'] * 100, s['recognizable_low'] * 100, s['recognizable_high'] * 100, '{:.0f}')}"  # noqa: E501
            f" | {s['classes_min']} |"
        )
    return lines


def variant_table(rows: list[dict], labels: dict) -> list[str]:
    """Other samplers and raw (non-EMA) weights, seed 0 of each recipe that has them."""
    lines = [
        f"| {labels['recipe']} | {labels['min']} | {labels['weights']} | {labels['sampler']} | "
        f"{labels['kid']} | {labels['rec']} |",
        "| --- | ---: | --- | --- | ---: | ---: |",
    ]
    chosen = [r for r in rows if r["seed"] == 0 and _key(r) != MAIN and r["schedule"] == 3]
    for r in sorted(chosen, key=lambda r: (r["recipe"], r["minutes"], r["weights"], r["sampler"])):
        lines.append(
            f"| {r['recipe']} | {r['minutes']:g} | {r['weights']} | "
            f"{r['sampler']} {int(r['sampler_steps'])} | "
            f"{fmt(r['kid'], r['kid_low'], r['kid_high'])} | "
            f"{fmt(r['recognizable'] * 100, r['recognizable_low'] * 100, r['recognizable_high'] * 100, '{:.0f}')} |"  # noqa: E501
        )
    return lines


def costs_line(costs: dict) -> str:
    return ", ".join(f"`{k}` {v * 1000:.0f} ms" for k, v in costs.items() if k != "load_average")


def english(f: dict) -> str:
    sd, res, dof = f["resolution"]
    ref = f["summary"][0]
    lines = [
        EN["title"],
        "",
        f"Machine: {f['machine']}. Written by `benchmarks/train_benchmark.py report` from the "
        "runs of `benchmarks/study_run.py`.",
        "",
        "**Metric** (`diffusion_course.metrics`): KID × 10³ of 256 samples against the fixed "
        "set of 359 held-out digits, in the feature space of the course's digits classifier "
        "(lower is better; its expected value does not depend on the sample count), and the "
        "share of samples the classifier reads as one digit with p ≥ 0.8 (blends, blurs, "
        "half-erased digits and noise are not). All samples come from the same initial noise "
        "(seed 0) with DDIM, 25 steps, trailing timesteps, EMA weights unless stated. "
        f"Real vs real (256 training digits): KID "
        f"{fmt(ref['reference_kid'], ref['reference_kid_low'], ref['reference_kid_high'])}.",
        "",
        "**Budgets**: a CPU-minute is a fixed number of steps, from the CPU time of one "
        f"training step measured once on this machine (one torch thread): {costs_line(f['costs'])}"
        ". Every run of a recipe trains exactly as many steps, whatever the load while it ran. "
        "The lr schedule of each run ends at 3 minutes; the 1- and 2-minute figures are "
        "snapshots of the same run.",
        "",
        "## Findings",
        "",
    ]
    lines += findings_en(f, sd, res, dof)
    lines += [
        "",
        "## Main runs: lr schedule over 3 minutes, 1/2/3-minute snapshots",
        "",
        "With several seeds: mean [95 % t-interval over seeds]; with one seed: value "
        "[95 % bootstrap interval over samples, which ignores seed-to-seed spread].",
        "",
    ]
    lines += table(f["summary"], EN, 3)
    lines += [
        "",
        "## Screening: one seed, lr schedule over 1 minute (value [95 % bootstrap interval])",
        "",
    ]
    lines += table(f["summary"], EN, 1)
    lines += ["", "## Samplers and EMA (seed 0)", ""]
    lines += variant_table(f["rows"], EN)
    return "\n".join(lines) + "\n"


def findings_en(f: dict, sd: float, res: float, dof: int) -> list[str]:
    out = []
    if dof:
        out.append(
            f"- **Resolution**: the seed-to-seed spread of KID is {sd:.1f} (pooled SD, {dof} "
            f"degrees of freedom), so two recipes with 3 seeds each must differ by more than "
            f"**{res:.1f}** in mean KID before this benchmark can call the difference real."
        )
    for v in f["verdicts"]:
        d = v["diff"]
        verdict = (
            "its interval separates it from the runner-up"
            if v["separated"]
            else "the interval of the difference includes 0, so they **tie**"
        )
        out.append(
            f"- **{v['minutes']:g} min**: lowest mean KID `{v['best']}`, runner-up "
            f"`{v['runner_up']}`; difference {fmt(*d)}: {verdict}."
        )
    best = [s for s in f["summary"] if s["seeds"] >= 3 and s["minutes"] == 3]
    if best:
        top = min(best, key=lambda s: s["kid_mean"])
        out.append(
            f"- **Gap to real digits** after 3 minutes: `{top['recipe']}` reaches KID "
            f"{fmt(top['kid_mean'], top['kid_low'], top['kid_high'])} and "
            f"{top['recognizable_mean']:.0%} recognizable, against real vs real "
            f"{top['reference_kid']:.1f} and ~99 % recognizable."
        )
    return out


def chinese(f: dict) -> str:
    sd, res, dof = f["resolution"]
    ref = f["summary"][0]
    lines = [ZH["title"], "", "## 要点", ""]
    if dof:
        lines.append(
            f"- **分辨率**：KID 在不同训练种子之间的标准差为 {sd:.1f}（合并估计，自由度 {dof}），"
            f"因此两个各跑 3 个种子的配方，平均 KID 之差必须超过 **{res:.1f}**，"
            "本基准才能判定差异真实存在。"
        )
    for v in f["verdicts"]:
        verdict = "置信区间与第二名分开" if v["separated"] else "差值的区间包含 0，二者**持平**"
        lines.append(
            f"- **{v['minutes']:g} 分钟**：平均 KID 最低的是 `{v['best']}`，第二名 "
            f"`{v['runner_up']}`；差值 {fmt(*v['diff'])}：{verdict}。"
        )
    best = [s for s in f["summary"] if s["seeds"] >= 3 and s["minutes"] == 3]
    if best:
        top = min(best, key=lambda s: s["kid_mean"])
        lines.append(
            f"- **与真实数字的差距**（3 分钟后）：`{top['recipe']}` 的 KID 为 "
            f"{fmt(top['kid_mean'], top['kid_low'], top['kid_high'])}，可辨认比例 "
            f"{top['recognizable_mean']:.0%}；真实对真实的 KID 为 {top['reference_kid']:.1f}，"
            "可辨认比例约 99%。"
        )
    lines += [
        "",
        f"测量方法：`diffusion_course.metrics` 的 KID × 10³（256 个样本对比固定的 359 个留出数字，"
        "特征来自课程自带的数字分类器；越低越好，期望值不随样本数变化），以及分类器以 p ≥ 0.8 "
        "认作某个数字的样本比例（两个数字的混合、重度模糊、擦掉一半的数字和噪声都不算）。"
        "所有样本使用相同的初始噪声（种子 0），DDIM 25 步、trailing 时间步，默认用 EMA 权重。"
        f"真实对真实（256 个训练数字）：KID "
        f"{fmt(ref['reference_kid'], ref['reference_kid_low'], ref['reference_kid_high'])}。"
        "一个“CPU 分钟”是固定的步数，由本机单线程训练一步的 CPU 时间换算："
        f"{costs_line(f['costs'])}；学习率调度在第 3 分钟结束，1、2 分钟的数字是同一次运行的快照。",
        "",
        f"机器：{f['machine']}。",
        "",
        "<details>",
        "<summary>完整结果表</summary>",
        "",
        "### 主实验：学习率调度跨 3 分钟，取 1/2/3 分钟快照",
        "",
        "多个种子：均值 [种子间 95% t 区间]；"
        "单个种子：数值 [样本自助法 95% 区间，不含种子间波动]。",
        "",
    ]
    lines += table(f["summary"], ZH, 3)
    lines += ["", "### 筛选：一个种子，学习率调度跨 1 分钟（数值 [95% 自助法区间]）", ""]
    lines += table(f["summary"], ZH, 1)
    lines += ["", "### 采样器与 EMA（种子 0）", ""]
    lines += variant_table(f["rows"], ZH)
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


__all__ = ["chinese", "english", "np"]

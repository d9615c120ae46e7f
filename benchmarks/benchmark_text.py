"""The English and Chinese text of ``results.md`` / ``results.zh.md``; every number comes from
the measured facts passed in (see ``benchmark_report.py``)."""

from __future__ import annotations

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


def key_facts(f: dict) -> dict:
    """The language-neutral findings both texts state."""
    summary, rows = f["summary"], f["rows"]
    final = [s for s in summary if s["schedule"] == 3 and s["minutes"] == 3 and s["seeds"] >= 3]
    top = min(final, key=lambda s: s["kid_mean"]) if final else None
    screen = sorted(
        (s for s in summary if s["schedule"] == 1), key=lambda s: s["kid_mean"]
    )  # fmt: skip
    base = next((s for s in screen if s["recipe"] == "base"), None)
    better = [s for s in screen if base and s["kid_high"] < base["kid_low"]]
    ema = {}
    for r in rows:
        if r["seed"] == 0 and r["schedule"] == 3 and _key(r)[1:] == MAIN[1:]:
            ema.setdefault((r["recipe"], r["minutes"]), {})[r["weights"]] = r["kid"]
    ema_pairs = {k: v for k, v in sorted(ema.items()) if len(v) == 2}
    return {"top": top, "screen": screen, "base": base, "better": better, "ema": ema_pairs}


def english(f: dict) -> str:
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
        "Real vs real (256 training digits, the same metric): KID "
        f"{fmt(ref['reference_kid'], ref['reference_kid_low'], ref['reference_kid_high'])}, "
        f"{ref['reference_recognizable']:.0%} recognizable.",
        "",
        "**Budgets**: a CPU-minute is a fixed number of steps, from the CPU time of one "
        f"training step measured once on this machine (one torch thread): {costs_line(f['costs'])}"
        ". Every run of a recipe trains exactly as many steps, whatever the load while it ran "
        "(on this shared machine a step's CPU time itself grew with the load: an earlier "
        "benchmark measured 176 ms for `tiny/64` on a quieter machine, so these budgets take "
        "about half the time there). In the main runs the lr schedule ends at 3 minutes and "
        "the 1- and 2-minute figures are snapshots of the same run; the screening runs end "
        "their schedule at 1 minute.",
        "",
        "## Findings",
        "",
        *findings_en(f, key_facts(f)),
        "",
        "## Main runs: lr schedule over 3 minutes, 1/2/3-minute snapshots",
        "",
        "With several seeds: mean [95 % t-interval over seeds]; with one seed: value "
        "[95 % bootstrap interval over samples, which ignores seed-to-seed spread]. "
        "recognizable in %; classes: the fewest over seeds.",
        "",
        *table(f["summary"], EN, 3),
        "",
        "## Screening: one seed, lr schedule over 1 minute (value [95 % bootstrap interval])",
        "",
        *table(f["summary"], EN, 1),
        "",
        "## Samplers and EMA (seed 0)",
        "",
        *variant_table(f["rows"], EN),
    ]
    return "\n".join(lines) + "\n"


def findings_en(f: dict, k: dict) -> list[str]:
    out = []
    for v in f["verdicts"]:
        verdict = (
            "the interval of the difference excludes 0: a real difference"
            if v["separated"]
            else "the interval of the difference includes 0: they **tie**"
        )
        out.append(
            f"- **{v['minutes']:g} CPU-min** (3 seeds each): lowest mean KID `{v['best']}`, "
            f"runner-up `{v['runner_up']}`; difference {fmt(*v['diff'])}; {verdict}."
        )
    for minutes, (sd, res, dof) in f["resolution"].items():
        if dof:
            out.append(
                f"- **Resolution at {minutes:g} min**: seed-to-seed SD of KID {sd:.1f} (pooled, "
                f"{dof} degrees of freedom), so two recipes of 3 seeds must differ by more "
                f"than **{res:.1f}** before this benchmark calls the difference real."
            )
    if k["top"]:
        t = k["top"]
        out.append(
            f"- **Gap to real digits** after 3 CPU-minutes: `{t['recipe']}` reaches KID "
            f"{fmt(t['kid_mean'], t['kid_low'], t['kid_high'])} and "
            f"{t['recognizable_mean']:.0%} recognizable, against real vs real "
            f"{t['reference_kid']:.1f} and {t['reference_recognizable']:.0%}."
        )
    if k["base"]:
        names = ", ".join(f"`{s['recipe']}` ({s['kid_mean']:.0f})" for s in k["better"])
        out.append(
            f"- **Screening at 1 minute** (one seed): `base` scores {k['base']['kid_mean']:.0f}; "
            + (f"intervals entirely below it: {names}." if names else "none is clearly better.")
        )
    for (recipe, minutes), kid in k["ema"].items():
        out.append(
            f"- **EMA** `{recipe}` at {minutes:g} min: KID {kid['ema']:.1f} with EMA weights, "
            f"{kid['raw']:.1f} with the raw weights."
        )
    return out


def chinese(f: dict) -> str:
    ref = f["summary"][0]
    k = key_facts(f)
    lines = [ZH["title"], "", "## 要点", ""]
    for v in f["verdicts"]:
        verdict = (
            "差值的区间不含 0：差异真实存在" if v["separated"] else "差值的区间包含 0：二者**持平**"
        )
        lines.append(
            f"- **{v['minutes']:g} 个 CPU 分钟**（各 3 个种子）：平均 KID 最低的是 `{v['best']}`，"
            f"第二名 `{v['runner_up']}`；差值 {fmt(*v['diff'])}；{verdict}。"
        )
    for minutes, (sd, res, dof) in f["resolution"].items():
        if dof:
            lines.append(
                f"- **{minutes:g} 分钟时的分辨率**：KID 的种子间标准差为 {sd:.1f}（合并估计，"
                f"自由度 {dof}），因此两个各 3 个种子的配方之差须超过 **{res:.1f}**，"
                "本基准才判定差异真实存在。"
            )
    if k["top"]:
        t = k["top"]
        lines.append(
            f"- **与真实数字的差距**（3 个 CPU 分钟后）：`{t['recipe']}` 的 KID 为 "
            f"{fmt(t['kid_mean'], t['kid_low'], t['kid_high'])}，可辨认比例 "
            f"{t['recognizable_mean']:.0%}；真实对真实为 {t['reference_kid']:.1f} 和 "
            f"{t['reference_recognizable']:.0%}。"
        )
    if k["base"]:
        names = "、".join(f"`{s['recipe']}`（{s['kid_mean']:.0f}）" for s in k["better"])
        lines.append(
            f"- **1 分钟筛选**（单个种子）：`base` 得分 {k['base']['kid_mean']:.0f}；"
            + (f"区间完全低于它的有：{names}。" if names else "没有明显更好的配方。")
        )
    for (recipe, minutes), kid in k["ema"].items():
        lines.append(
            f"- **EMA** `{recipe}` 在 {minutes:g} 分钟：EMA 权重的 KID 为 {kid['ema']:.1f}，"
            f"原始权重为 {kid['raw']:.1f}。"
        )
    lines += [
        "",
        "测量方法：`diffusion_course.metrics` 的 KID × 10³（256 个样本对比固定的 359 个留出数字，"
        "特征来自课程自带的数字分类器；越低越好，期望值不随样本数变化），以及分类器以 p ≥ 0.8 "
        "认作某个数字的样本比例（两个数字的混合、重度模糊、擦掉一半的数字和噪声都不算）。"
        "所有样本使用相同的初始噪声（种子 0），DDIM 25 步、trailing 时间步，默认用 EMA 权重。"
        "真实对真实（256 个训练数字，同一指标）：KID "
        f"{fmt(ref['reference_kid'], ref['reference_kid_low'], ref['reference_kid_high'])}，"
        f"可辨认比例 {ref['reference_recognizable']:.0%}。",
        "",
        "一个“CPU 分钟”是固定的步数，由本机单线程训练一步的 CPU 时间换算："
        f"{costs_line(f['costs'])}。同一配方的每次运行都训练完全相同的步数，不受运行时负载影响"
        "（在这台共享机器上，一步的 CPU 时间本身会随负载增加：之前在较空闲时测得 `tiny/64` "
        "每步 176 ms，所以在空闲机器上这些预算大约只需一半时间）。"
        "主实验的学习率调度在第 3 分钟结束，1、2 分钟的数字是同一次运行的快照；"
        "筛选实验的调度在第 1 分钟结束。",
        "",
        f"机器：{f['machine']}。",
        "",
        "<details>",
        "<summary>完整结果表</summary>",
        "",
        "### 主实验：学习率调度跨 3 分钟，取 1/2/3 分钟快照",
        "",
        "多个种子：均值 [种子间 95% t 区间]；单个种子：数值 [样本自助法 95% 区间，不含种子间波动]。"
        "可辨认比例以 % 计；类别数取各种子中的最小值。",
        "",
        *table(f["summary"], ZH, 3),
        "",
        "### 筛选：一个种子，学习率调度跨 1 分钟（数值 [95% 自助法区间]）",
        "",
        *table(f["summary"], ZH, 1),
        "",
        "### 采样器与 EMA（种子 0）",
        "",
        *variant_table(f["rows"], ZH),
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"


__all__ = ["chinese", "english"]

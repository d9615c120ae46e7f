"""The English and Chinese text of ``results.md`` / ``results.zh.md``; every number comes from
the measured facts passed in (see ``benchmark_report.py``)."""

from __future__ import annotations

from benchmark_report import (
    CONTENDERS,
    MAIN,
    PLOT,
    _key,
    difference,
    fmt,
    multi_seed,
    recipe_line,
)

from diffusion_course.recipes import BENCHMARK_RECIPES

EN = {
    "title": "# Training benchmark: which recipe learns fastest on a CPU",
    "recipe": "recipe", "changes": "change from `base`", "seeds": "seeds",
    "min": "CPU-min", "kid": "KID × 10³", "rec": "recognizable", "classes": "classes",
    "steps": "steps", "sampler": "sampler", "weights": "weights", "best": "best",
    "tie": "(tie)",
}  # fmt: skip
ZH = {
    "title": "# 训练基准：哪种配方在 CPU 上学得最快",
    "recipe": "配方", "changes": "相对 `base` 的改动", "seeds": "种子数",
    "min": "CPU 分钟", "kid": "KID × 10³", "rec": "可辨认比例", "classes": "类别数",
    "steps": "步数", "sampler": "采样器", "weights": "权重", "best": "最佳",
    "tie": "（持平）",
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


def codes(names: list[str], separator: str) -> str:
    """Recipe names as inline code, joined with the language's list separator."""
    return separator.join(f"`{name}`" for name in names)


def ranking_table(rankings: dict[float, list[dict]], labels: dict) -> list[str]:
    """KID difference of every multi-seed recipe from the best one at each budget."""
    order = [r["recipe"] for r in rankings.get(3.0, [])]
    cells: dict[str, dict[float, str]] = {name: {} for name in order}
    for minutes, ranked in rankings.items():
        for r in ranked:
            text = labels["best"] if r["diff"] is None else fmt(*r["diff"], spec="{:+.1f}")
            tie = r["diff"] is not None and r["ties"]
            cells.setdefault(r["recipe"], {})[minutes] = f"{text} {labels['tie']}" if tie else text
    budgets = sorted(rankings)
    lines = [
        f"| {labels['recipe']} | " + " | ".join(f"{m:g} {labels['min']}" for m in budgets) + " |",
        "| --- |" + " ---: |" * len(budgets),
    ]
    for name, row in cells.items():
        lines.append(f"| {name} | " + " | ".join(row.get(m, "") for m in budgets) + " |")
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
    return {
        "top": top, "screen": screen, "base": base, "better": better, "ema": ema_pairs,
        "zsnr": zero_snr_pair(rows),
        "steady": always_tied(f["rankings"]),
    }  # fmt: skip


def always_tied(rankings: dict[float, list[dict]]) -> list[str]:
    """Recipes that are the best or within noise of it at every budget."""
    sets = [{r["recipe"] for r in ranked if r["ties"]} for ranked in rankings.values() if ranked]
    return sorted(set.intersection(*sets)) if sets else []


def zero_snr_pair(rows: list[dict]) -> dict | None:
    """`v-zsnr` against `v` at 3 minutes, and the cosine schedule's last alpha-bar, which shows
    how little zero-terminal-SNR rescaling changes on that schedule."""
    kids = multi_seed(rows, 3.0)
    if not {"v", "v-zsnr"} <= kids.keys():
        return None
    scheduler = BENCHMARK_RECIPES["v"].to_config(".").noise_scheduler()
    return {
        "diff": difference(kids["v-zsnr"], kids["v"]),
        "alpha_bar": float(scheduler.alphas_cumprod[-1]),
        "steps": len(scheduler.alphas_cumprod),
    }


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
        f"![KID against CPU-minutes for every recipe]({PLOT.name})",
        "",
        f"KID × 10³ after 1, 2 and 3 CPU-minutes (main runs). (a) every recipe with 3 or more "
        f"seeds, the mean over seeds; (b) the {CONTENDERS} best after 3 minutes, shaded: 95 % "
        "t-interval over seeds. Grey line and band: real vs real with its 95 % interval. "
        "The y-axis is logarithmic above 10 and linear below; intervals reaching below -50 "
        "are cut at the axis.",
        "",
        "## Main runs: lr schedule over 3 minutes, 1/2/3-minute snapshots",
        "",
        "With several seeds: mean [95 % t-interval over seeds]; with one seed: value "
        "[95 % bootstrap interval over samples, which ignores seed-to-seed spread]. "
        "recognizable in %; classes: the fewest over seeds.",
        "",
        *table(f["summary"], EN, 3),
        "",
        "## Every recipe against the best at each budget",
        "",
        "KID of the recipe minus KID of the best recipe at that budget: mean [95 % Welch "
        "interval over seeds]; (tie) where the interval includes 0. Sorted by the 3-minute "
        "ranking. Each interval holds for its own comparison; with a dozen comparisons per "
        "budget, expect one of them to land on the wrong side of 0 by chance now and then. "
        "After 1 minute most recipes still draw blobs whose KID varies by thousands from seed to "
        "seed, so with 3 seeds even recipes whose mean is many times the best one's are not "
        "separated from it: a tie there means *not measured apart*, not *as good*.",
        "",
        *ranking_table(f["rankings"], EN),
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
        others = codes(v["also_tied"], ", ")
        also = f" Also within noise of it: {others}." if others else ""
        out.append(
            f"- **{v['minutes']:g} CPU-min** (3 seeds each): lowest mean KID `{v['best']}`, "
            f"runner-up `{v['runner_up']}`; difference {fmt(*v['diff'])}; {verdict}.{also}"
        )
    if k["steady"]:
        out.append(
            "- **Best or tied with the best at every budget** (1, 2 and 3 CPU-min): "
            + codes(k["steady"], ", ")
            + (" (the only one)." if len(k["steady"]) == 1 else ".")
        )
    for minutes, (sd, res, dof) in f["resolution"].items():
        if dof:
            out.append(
                f"- **Resolution at {minutes:g} min**: seed-to-seed SD of KID {sd:.1f} (pooled "
                f"over the {CONTENDERS} best recipes, {dof} degrees of freedom), so two recipes "
                f"of 3 seeds must differ by more than **{res:.1f}** before this benchmark calls "
                "the difference real."
            )
    if k["top"]:
        t = k["top"]
        out.append(
            f"- **Gap to real digits** after 3 CPU-minutes: `{t['recipe']}` reaches KID "
            f"{fmt(t['kid_mean'], t['kid_low'], t['kid_high'])} and "
            f"{t['recognizable_mean']:.0%} recognizable, against real vs real "
            f"{t['reference_kid']:.1f} and {t['reference_recognizable']:.0%}."
        )
    if k["zsnr"]:
        z = k["zsnr"]
        out.append(
            f"- **Zero terminal SNR**: on the cosine schedule ᾱ at t = {z['steps'] - 1} is "
            f"already {z['alpha_bar']:.1e}, so `v-zsnr` trains almost the same model as `v`; "
            f"their difference at 3 min is {fmt(*z['diff'])}"
            + (
                ", within seed-to-seed noise."
                if z["diff"][1] <= 0 <= z["diff"][2]
                else ", an interval that excludes 0 although the two differ so little."
            )
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
    figure = [
        "",
        f"![各配方的 KID 随 CPU 分钟的变化]({PLOT.name})",
        "",
        f"主实验中训练 1、2、3 个 CPU 分钟后的 KID × 10³。(a) 所有至少有 3 个种子的配方，"
        f"取各种子的均值；(b) 3 分钟时最好的 {CONTENDERS} 个配方，阴影为种子间 95% t 区间。"
        "灰线与灰带：真实对真实的 KID 及其 95% 区间。纵轴在 10 以上为对数刻度、以下为线性刻度；"
        "低于 -50 的区间在坐标轴处截断。",
    ]
    for v in f["verdicts"]:
        verdict = (
            "差值的区间不含 0：差异真实存在" if v["separated"] else "差值的区间包含 0：二者**持平**"
        )
        others = codes(v["also_tied"], "、")
        also = f"与它的差距同样在噪声之内的还有：{others}。" if others else ""
        lines.append(
            f"- **{v['minutes']:g} 个 CPU 分钟**（各 3 个种子）：平均 KID 最低的是 `{v['best']}`，"
            f"第二名 `{v['runner_up']}`；差值 {fmt(*v['diff'])}；{verdict}。{also}"
        )
    if k["steady"]:
        lines.append(
            "- **在每个预算下（1、2、3 个 CPU 分钟）都是最佳或与最佳持平**："
            + codes(k["steady"], "、")
            + ("（仅此一个）。" if len(k["steady"]) == 1 else "。")
        )
    for minutes, (sd, res, dof) in f["resolution"].items():
        if dof:
            lines.append(
                f"- **{minutes:g} 分钟时的分辨率**：KID 的种子间标准差为 {sd:.1f}（由最好的 "
                f"{CONTENDERS} 个配方合并估计，自由度 {dof}），因此两个各 3 个种子的配方"
                f"之差须超过 **{res:.1f}**，本基准才判定差异真实存在。"
            )
    if k["top"]:
        t = k["top"]
        lines.append(
            f"- **与真实数字的差距**（3 个 CPU 分钟后）：`{t['recipe']}` 的 KID 为 "
            f"{fmt(t['kid_mean'], t['kid_low'], t['kid_high'])}，可辨认比例 "
            f"{t['recognizable_mean']:.0%}；真实对真实为 {t['reference_kid']:.1f} 和 "
            f"{t['reference_recognizable']:.0%}。"
        )
    if k["zsnr"]:
        z = k["zsnr"]
        lines.append(
            f"- **零终端信噪比**：余弦调度在 t = {z['steps'] - 1} 处的 ᾱ 本来就只有 "
            f"{z['alpha_bar']:.1e}，所以 `v-zsnr` 训练出的模型与 `v` 几乎相同；二者在 3 分钟时的"
            f"差值为 {fmt(*z['diff'])}"
            + (
                "，在种子间波动之内。"
                if z["diff"][1] <= 0 <= z["diff"][2]
                else "，区间不含 0，尽管二者的差别如此之小。"
            )
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
        *figure,
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
        "### 各预算下每个配方与最佳配方的差距",
        "",
        "该配方的 KID 减去该预算下最佳配方的 KID：均值 [种子间 95% Welch 区间]；"
        "区间包含 0 时标为（持平）。按 3 分钟时的排名排序。每个区间只对它自己那一次比较成立；"
        "每个预算下有十几次比较，偶尔会有一次仅因偶然落到 0 的另一侧。训练 1 分钟时，多数配方"
        "生成的还只是一团团模糊的形状，KID 在不同种子之间相差上千，所以只用 3 个种子时，即使均值是"
        "最佳配方好几倍的配方也无法与它区分开：这里的“持平”意思是*没能测出差别*，而不是*一样好*。",
        "",
        *ranking_table(f["rankings"], ZH),
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

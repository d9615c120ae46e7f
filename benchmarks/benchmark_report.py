"""Tables, plot and text of the study (called by ``train_benchmark.py report``).

Statistics: a recipe's figure at a budget is the mean over its training seeds with a 95 %
t-interval (seeds are the unit of replication: a new seed is a new training run). Recipes
with one seed (the screening) show the bootstrap interval over samples instead, which is
narrower because it ignores seed-to-seed variation. The **resolution** is the half-width of
the 95 % interval of a difference between two recipes of ``n`` seeds, computed from the
pooled seed-to-seed spread of the contenders (the recipes with the lowest mean KID at that
budget; the spread grows with the KID level, so the far-behind recipes would inflate it
where no winner is decided): differences smaller than it are not called real. Each recipe is
also compared with the best one at each budget (Welch interval of the difference).
"""

from __future__ import annotations

import csv
import json
import os
import platform
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import diffusers
import numpy as np
import torch
from scipy import stats

from diffusion_course.model_card import hardware_description
from diffusion_course.recipes import BENCHMARK_RECIPES, CHAPTER_RECIPE

HERE = Path(__file__).parent
PLOT = HERE / "quality_vs_minutes.png"
MAIN = ("ema", "ddim", 25.0)  # weights, sampler, steps of the main table
CONTENDERS = 5  # recipes whose seed-to-seed spread sets the resolution
Row = dict
Stat = Callable[[list[float]], tuple[float, float, float]]


def _key(row: Row) -> tuple:
    return row["weights"], row["sampler"], row["sampler_steps"]


def grouped(rows: list[Row], which: tuple = MAIN) -> dict[tuple[str, float, float], list[Row]]:
    """(recipe, schedule, minutes) -> rows of all seeds, for one weights/sampler setting."""
    groups: dict[tuple[str, float, float], list[Row]] = defaultdict(list)
    for row in rows:
        if _key(row) == which:
            groups[(row["recipe"], row["schedule"], row["minutes"])].append(row)
    return groups


def summarise(rows: list[Row], mean_interval: Stat) -> list[dict]:
    """One line per recipe and budget: mean and interval of KID and recognizable share."""
    out = []
    for (recipe, schedule, minutes), group in sorted(grouped(rows).items()):
        kid = mean_interval([r["kid"] for r in group])
        rec = np.clip(mean_interval([r["recognizable"] for r in group]), 0, 1)  # a share
        if len(group) == 1:  # one seed: the bootstrap interval over samples
            kid = (kid[0], group[0]["kid_low"], group[0]["kid_high"])
            rec = (rec[0], group[0]["recognizable_low"], group[0]["recognizable_high"])
        out.append(
            {
                "recipe": recipe,
                "schedule": schedule,
                "minutes": minutes,
                "seeds": len(group),
                "steps": int(group[0]["step"]),
                "kid_mean": kid[0], "kid_low": kid[1], "kid_high": kid[2],
                "recognizable_mean": rec[0], "recognizable_low": rec[1],
                "recognizable_high": rec[2],
                "classes_min": int(min(r["class_coverage"] for r in group)),
                "reference_kid": group[0]["reference_kid"],
                "reference_kid_low": group[0]["reference_kid_low"],
                "reference_kid_high": group[0]["reference_kid_high"],
                "reference_recognizable": group[0]["reference_recognizable"],
            }
        )  # fmt: skip
    return out


def multi_seed(rows: list[Row], minutes: float) -> dict[str, list[float]]:
    """recipe -> KID of each seed at one budget, for the recipes with 3 or more seeds."""
    return {
        recipe: [r["kid"] for r in group]
        for (recipe, schedule, at), group in grouped(rows).items()
        if schedule == 3 and at == minutes and len(group) >= 3
    }


def resolution(
    rows: list[Row], minutes: float, seeds: int = 3, contenders: int = CONTENDERS
) -> tuple[float, float, int]:
    """Pooled seed-to-seed SD of KID over the ``contenders`` best multi-seed recipes at one
    budget (budgets are not pooled either: the spread grows with the KID level), and the
    smallest difference between two recipes of ``seeds`` seeds whose 95 % interval excludes 0."""
    kids = multi_seed(rows, minutes)
    best = sorted(kids, key=lambda name: np.mean(kids[name]))[:contenders]
    residuals = sum(((np.array(kids[n]) - np.mean(kids[n])) ** 2).sum() for n in best)
    dof = sum(len(kids[n]) - 1 for n in best)
    if dof == 0:
        return float("nan"), float("nan"), 0
    sd = float(np.sqrt(residuals / dof))
    return sd, float(stats.t.ppf(0.975, dof) * sd * np.sqrt(2 / seeds)), dof


def difference(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean of a - b with a 95 % Welch interval."""
    a_, b_ = np.asarray(a), np.asarray(b)
    va, vb = a_.var(ddof=1) / len(a_), b_.var(ddof=1) / len(b_)
    dof = (va + vb) ** 2 / (va**2 / (len(a_) - 1) + vb**2 / (len(b_) - 1))
    half = stats.t.ppf(0.975, dof) * np.sqrt(va + vb)
    d = a_.mean() - b_.mean()
    return float(d), float(d - half), float(d + half)


def ranking(rows: list[Row], minutes: float) -> list[dict]:
    """Multi-seed recipes at one budget, best first, each with its difference from the best."""
    kids = multi_seed(rows, minutes)
    ranked = sorted(kids, key=lambda name: np.mean(kids[name]))
    out = []
    for name in ranked:
        d = difference(kids[name], kids[ranked[0]]) if name != ranked[0] else None
        out.append({"recipe": name, "minutes": minutes, "diff": d, "ties": d is None or d[1] <= 0})
    return out


def verdicts(rows: list[Row]) -> list[dict]:
    """Per budget: the lowest mean KID among multi-seed recipes vs the runner-up."""
    out = []
    for minutes in sorted({r["minutes"] for r in rows if r["schedule"] == 3}):
        ranked = ranking(rows, minutes)
        if len(ranked) < 2:
            continue
        d = ranked[1]["diff"]
        d = (-d[0], -d[2], -d[1])  # best - runner-up
        out.append(
            {"minutes": minutes, "best": ranked[0]["recipe"], "runner_up": ranked[1]["recipe"],
             "diff": d, "separated": d[2] < 0,
             "also_tied": [r["recipe"] for r in ranked[2:] if r["ties"]]}
        )  # fmt: skip
    return out


def fmt(value: float, low: float, high: float, spec: str = "{:.1f}") -> str:
    if np.isnan(low):
        return spec.format(value)
    return f"{spec.format(value)} [{spec.format(low)}, {spec.format(high)}]"


def recipe_line(name: str) -> str:
    """The factor a candidate changes, in code form (language-neutral)."""
    base = BENCHMARK_RECIPES["base"]
    recipe = BENCHMARK_RECIPES.get(name)
    if recipe is None:
        return ""
    changed = [
        f"`{k}={getattr(recipe, k)!r}`"
        for k in recipe.__dataclass_fields__
        if k not in ("name", "gpu", "max_train_steps") and getattr(recipe, k) != getattr(base, k)
    ]
    return ", ".join(changed) or "(baseline)"


def write_csv(summary: list[dict], rows: list[Row]) -> None:
    with open(HERE / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    with open(HERE / "results_runs.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(summary: list[dict]) -> None:
    """KID vs CPU-minutes, one line per multi-seed recipe: all of them (means) on the left,
    the contenders at 3 minutes with shaded 95 % intervals on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = [s for s in summary if s["schedule"] == 3 and s["seeds"] >= 3]
    final = sorted((s for s in main if s["minutes"] == 3), key=lambda s: s["kid_mean"])
    names = [s["recipe"] for s in final]
    palette = plt.get_cmap("tab10").colors  # recipes past the tenth get dashed lines
    style = {n: (palette[i % 10], "-" if i < 10 else "--") for i, n in enumerate(names)}
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.0), dpi=120, sharey=True)
    for ax, shown, shade in ((axes[0], names, False), (axes[1], names[:CONTENDERS], True)):
        for name in shown:
            pts = sorted((s for s in main if s["recipe"] == name), key=lambda s: s["minutes"])
            x = [p["minutes"] for p in pts]
            ax.plot(x, [p["kid_mean"] for p in pts], marker="o", ms=3, label=name,
                    color=style[name][0], linestyle=style[name][1])  # fmt: skip
            if shade:
                ax.fill_between(
                    x, [p["kid_low"] for p in pts], [p["kid_high"] for p in pts],
                    color=style[name][0], alpha=0.2,
                )  # fmt: skip
        ref = summary[0]
        ax.axhspan(ref["reference_kid_low"], ref["reference_kid_high"], color="grey", alpha=0.25)
        ax.axhline(ref["reference_kid"], color="grey", lw=1)  # real vs real
        ax.set_xlabel("CPU min")
        ax.set_yscale("symlog", linthresh=10)
        ax.set_ylim(bottom=-50)  # intervals reaching further down are cut at the axis
        ax.set_xticks([1, 2, 3])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2 if len(shown) > 7 else 1)
    axes[0].set_ylabel("KID × 10³")
    for ax, label in zip(axes, "ab", strict=True):  # language-neutral; the captions explain
        ax.set_title(f"({label})", fontsize=9, loc="left")
    fig.tight_layout()
    fig.savefig(PLOT, metadata={"Software": None})
    plt.close(fig)


def machine(costs: dict) -> str:
    return (
        f"{hardware_description()}; Python {platform.python_version()}, torch "
        f"{torch.__version__}, diffusers {diffusers.__version__}; load average now "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, "
        f"{costs.get('load_average', float('nan')):.1f} while the step costs were measured"
    )


def write_report(rows: list[Row], mean_interval: Stat) -> None:
    from benchmark_text import chinese, english

    costs = json.loads((HERE / "runs" / "costs.json").read_text())
    summary = summarise(rows, mean_interval)
    write_csv(summary, rows)
    plot(summary)
    facts = {
        "summary": summary,
        "rows": rows,
        "resolution": {m: resolution(rows, m) for m in (1.0, 2.0, 3.0)},
        "verdicts": verdicts(rows),
        "rankings": {m: ranking(rows, m) for m in (1.0, 2.0, 3.0)},
        "costs": costs,
        "machine": machine(costs),
        "chapter": CHAPTER_RECIPE.name,
    }
    (HERE / "results.md").write_text(english(facts), encoding="utf-8")
    (HERE / "results.zh.md").write_text(chinese(facts), encoding="utf-8")
    print(f"wrote {HERE / 'results.md'}, results.zh.md, results.csv and {PLOT.name}")

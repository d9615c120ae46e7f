"""Tables, plot and text of the study (called by ``train_benchmark.py report``).

Statistics: a recipe's figure at a budget is the mean over its training seeds with a 95 %
t-interval (seeds are the unit of replication: a new seed is a new training run). Recipes
with one seed (the screening) show the bootstrap interval over samples instead, which is
narrower because it ignores seed-to-seed variation. The **resolution** is the half-width of
the 95 % interval of a difference between two recipes of ``n`` seeds, computed from the
pooled seed-to-seed spread of all multi-seed recipes: differences smaller than it are not
called real.
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


def resolution(rows: list[Row], minutes: float, seeds: int = 3) -> tuple[float, float, int]:
    """Pooled seed-to-seed SD of KID over the multi-seed recipes at one budget (the spread
    grows with the KID level, so budgets are not pooled), and the smallest difference between
    two recipes of ``seeds`` seeds whose 95 % interval excludes zero."""
    residuals, dof = 0.0, 0
    for (_, _, at), group in grouped(rows).items():
        if at == minutes and len(group) >= 2:
            kid = np.array([r["kid"] for r in group])
            residuals += ((kid - kid.mean()) ** 2).sum()
            dof += len(kid) - 1
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


def verdicts(rows: list[Row]) -> list[dict]:
    """Per budget: the lowest mean KID among multi-seed recipes vs the runner-up."""
    out = []
    by_minutes: dict[float, dict[str, list[float]]] = defaultdict(dict)
    for (recipe, _, minutes), group in grouped(rows).items():
        if len(group) >= 3:
            by_minutes[minutes][recipe] = [r["kid"] for r in group]
    for minutes, recipes in sorted(by_minutes.items()):
        if len(recipes) < 2:
            continue
        ranked = sorted(recipes, key=lambda name: np.mean(recipes[name]))
        d = difference(recipes[ranked[0]], recipes[ranked[1]])
        out.append(
            {"minutes": minutes, "best": ranked[0], "runner_up": ranked[1], "diff": d,
             "separated": d[2] < 0}
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
    """KID vs CPU-minutes, one line per multi-seed recipe, shaded 95 % intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    main = [s for s in summary if s["schedule"] == 3]
    for name in sorted({s["recipe"] for s in main}):
        pts = sorted((s for s in main if s["recipe"] == name), key=lambda s: s["minutes"])
        x = [p["minutes"] for p in pts]
        line = ax.plot(x, [p["kid_mean"] for p in pts], marker="o", label=name)[0]
        ax.fill_between(
            x, [p["kid_low"] for p in pts], [p["kid_high"] for p in pts],
            color=line.get_color(), alpha=0.2,
        )  # fmt: skip
    ref = summary[0]
    ax.axhspan(ref["reference_kid_low"], ref["reference_kid_high"], color="grey", alpha=0.25)
    ax.axhline(ref["reference_kid"], color="grey", lw=1, label="real / real")
    ax.set_xlabel("CPU-min")
    ax.set_ylabel("KID × 10³")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xticks(sorted({s["minutes"] for s in summary}))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
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
        "costs": costs,
        "machine": machine(costs),
        "chapter": CHAPTER_RECIPE.name,
    }
    (HERE / "results.md").write_text(english(facts), encoding="utf-8")
    (HERE / "results.zh.md").write_text(chinese(facts), encoding="utf-8")
    print(f"wrote {HERE / 'results.md'}, results.zh.md, results.csv and {PLOT.name}")

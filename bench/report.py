"""The benchmark's results as a markdown report: medians with their min-max spread."""

from __future__ import annotations


def _f(figure, digits: int = 1) -> str:
    """ "median (min–max)" of a summary, or a plain number."""
    if figure is None:
        return "—"
    if isinstance(figure, dict):
        if figure.get("median") is None:
            return "—"
        median, low, high = figure["median"], figure["min"], figure["max"]
        if len(figure.get("runs", [])) < 2:
            return f"{median:,.{digits}f}"
        return f"{median:,.{digits}f} ({low:,.{digits}f}–{high:,.{digits}f})"
    if isinstance(figure, bool):
        return "yes" if figure else "NO"
    if isinstance(figure, int | float):
        return f"{figure:,.{digits}f}"
    return str(figure)


def _median(figure):
    return figure.get("median") if isinstance(figure, dict) else figure


def targets(results: dict) -> list[tuple[str, str, str, bool | None]]:
    """(target, threshold, measured, met) for each figure the issue sets a target for."""
    steps = results["steps"]
    rows = []

    def add(name, limit, value, met, digits=1, unit=""):
        shown = "—" if value is None else f"{value:,.{digits}f}{unit}"
        rows.append((name, limit, shown, None if value is None else met(value)))

    predict = steps.get("predict")
    if predict:
        chosen = predict["configs"][predict["chosen"]]
        rps8 = _median(chosen.get("8", {}).get("rps"))
        p50_1 = _median(chosen.get("1", {}).get("p50_ms"))
        p99_32 = _median(chosen.get("32", {}).get("p99_ms"))
        add("/api/predict rps at 8 connections", "≥ 1,000", rps8, lambda v: v >= 1000, 0)
        add("/api/predict p50 at 1 connection", "≤ 1.5 ms", p50_1, lambda v: v <= 1.5, 2, " ms")
        add("/api/predict p99 at 32 connections", "≤ 80 ms", p99_32, lambda v: v <= 80, 1, " ms")
        stored = all(level["every_prediction_stored"] for level in chosen.values())
        rows.append(("every prediction stored", "yes", "yes" if stored else "NO", stored))
    if "batch" in steps:
        seconds = _median(steps["batch"]["seconds"])
        add("batch of 10,000 rows", "≤ 0.5 s", seconds, lambda v: v <= 0.5, 2, " s")
    if "feedback" in steps:
        levels = list(steps["feedback"]["levels"].values())
        ratio = steps["feedback"]["ratio_largest_to_first"]
        most, fewest = levels[-1]["stored_before"], levels[0]["stored_before"]
        name = f"feedback p50 at {most:,} rows / at {fewest:,}"
        add(name, "≤ 1.2×", ratio, lambda v: v <= 1.2, 2, "×")
    if "train" in steps:
        wall = _median(steps["train"]["wall_seconds"])
        add("manage.py train on 100,000 rows", "≤ 20 s", wall, lambda v: v <= 20, 1, " s")
    if "model" in steps:
        forest = steps["model"]["candidates"].get("random_forest", {})
        add("Random Forest file", "≤ 10 MB", forest.get("file_mb"), lambda v: v <= 10, 2, " MB")
        from .children import CALIBRATION_BUDGET_US

        budget = CALIBRATION_BUDGET_US
        for name in ("random_forest", "xgboost"):
            c = steps["model"]["candidates"].get(name, {})
            if "calibrated_extra_us" in c:
                add(
                    f"{name}: calibrated fast path, µs a row more than uncalibrated",
                    f"≤ {budget:g} µs",
                    c["calibrated_extra_us"],
                    lambda v, c=c: v <= budget and c["calibrated_compiled"],
                    1,
                    " µs",
                )
    if "reports" in steps:
        wall = _median(steps["reports"]["run_seconds"])
        peak = _median(steps["reports"]["peak_mb"])
        add("three reports: time (the run)", "≤ 10 s", wall, lambda v: v <= 10, 1, " s")
        add("three reports: memory", "≤ 1 GB", peak, lambda v: v <= 1024, 0, " MB")
    if "retrain" in steps:
        ratio = _median(steps["retrain"]["p99_ratio"])
        add(
            "p99 during a retrain and its promotion / without",
            "≤ 1.5×",
            ratio,
            lambda v: v <= 1.5,
            2,
            "×",
        )
        served = _median(steps["retrain"].get("activation_to_all_served_s"))
        limit = steps["retrain"].get("activation_limit_s")
        if limit is not None:
            add(
                "activation to every web process serving it",
                f"≤ {limit:.1f} s (check + load)",
                served,
                lambda v: v <= limit,
                2,
                " s",
            )
    return rows


def markdown(results: dict) -> str:
    m = results.get("machine", {})
    load = results.get("load_average", {})
    lines = [
        f"# MindPulse benchmark, {results.get('started_at', '?')}",
        "",
        f"Machine: {m.get('nproc')} CPUs ({m.get('cpu_model')}), {m.get('ram_gb')} GB RAM, "
        f"Linux {m.get('kernel')}, Python {m.get('python')}. Command: `{results.get('command')}`.",
        f"Each figure: median of {results.get('settings', {}).get('runs')} runs "
        "(min–max in brackets). Load average (1, 5, 15 min) at the start "
        f"{load.get('start')}, at the end {load.get('end')}; it counts the benchmark's own "
        "processes too (wrk, gunicorn, Postgres: up to ~4 under load), and those of anyone "
        "else on the machine: read the figures with it.",
        "",
        "## Targets",
        "",
        "| target | limit | measured | met |",
        "|---|---|---|---|",
    ]
    for name, limit, measured, met in targets(results):
        lines.append(f"| {name} | {limit} | {measured} | {_met(met)} |")
    steps = results.get("steps", {})
    for title, render in (
        ("1. POST /api/predict", _predict),
        ("2. The model's own cost (in-process)", _model),
        ("3. POST /api/predict/batch, 10,000 rows", _batch),
        ("4. POST /api/feedback, 1 connection", _feedback),
        ("5. manage.py train", _train),
        ("6. The three monitoring reports (manage.py run_reports)", _reports),
        ("7. A retrain while /api/predict is under load (8 connections)", _retrain),
    ):
        key = render.__name__.strip("_")
        if key in steps:
            lines += ["", f"## {title}", "", *render(steps[key], results)]
            if isinstance(load.get(key), dict):
                lines += ["", f"Load average before / after: {load[key]['before']} / "
                          f"{load[key]['after']}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _met(met) -> str:
    return "—" if met is None else ("yes" if met else "**no**")


def _predict(step, results) -> list[str]:
    out = [
        "| gunicorn | connections | requests/s | p50 ms | p90 ms | p99 ms | all stored | "
        "DB connections |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for config, levels in step["configs"].items():
        mark = " (chosen)" if config == step["chosen"] else ""
        for connections, f in levels.items():
            out.append(
                f"| {config}{mark} | {connections} | {_f(f['rps'], 0)} | {_f(f['p50_ms'], 2)} | "
                f"{_f(f['p90_ms'], 2)} | {_f(f['p99_ms'], 1)} | "
                f"{_f(f['every_prediction_stored'])} ({f['requests']:,} requests, "
                f"{f['non_2xx']} errors) | {f['server_connections']} |"
            )
    out += [
        "",
        "CPU time per request (ms), measured from /proc during the runs: the web server "
        "(gunicorn and its workers), the bench database's Postgres backends, Redis (the "
        "throttle's counter), wrk; and the cores busy with all of them (of "
        f"{results.get('machine', {}).get('nproc')}).",
        "",
        "| gunicorn | connections | web | Postgres | Redis | wrk | cores busy |",
        "|---|---|---|---|---|---|---|",
    ]
    for config, levels in step["configs"].items():
        for connections, f in levels.items():
            if "cpu_ms_web" not in f:
                continue
            out.append(
                f"| {config} | {connections} | {_f(f['cpu_ms_web'], 3)} | "
                f"{_f(f['cpu_ms_postgres'], 3)} | {_f(f['cpu_ms_redis'], 3)} | "
                f"{_f(f['cpu_ms_wrk'], 3)} | {_f(f['cores_busy'], 2)} |"
            )
    chosen = step["configs"][step["chosen"]].get("1", {})
    app = _median(chosen.get("app_latency_p50_ms"))
    if app is not None:
        out += [
            "",
            f"gunicorn W: W sync worker processes; WxT: W gthread workers of T threads each. "
            f"Time spent in the app "
            f"before the INSERT (validation and model, stored as latency_ms), p50 at 1 "
            f"connection: {app:.3f} ms.",
        ]
    return out


def _model(step, results) -> list[str]:
    out = [
        "| candidate | compiled | 1 row, fast path µs | 1 row, scikit-learn µs | "
        "10,000 rows, fast path ms | 10,000 rows, scikit-learn ms | file MB | test ROC AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in step["candidates"].items():
        if "fast_one_us" not in c:
            continue
        winner = " (in service)" if c.get("winner") else ""
        out.append(
            f"| {name}{winner} | {_f(c['compiled'])} | {c['fast_one_us']:.1f} | "
            f"{c['sklearn_one_us']:.0f} | {c['fast_10k_ms']:.1f} | {c['sklearn_10k_ms']:.1f} | "
            f"{c['file_mb']:.2f} | {c['test_roc_auc']:.4f} |"
        )
    from .children import CALIBRATION_BUDGET_US

    calibrated = [(name, c) for name, c in step["candidates"].items() if "calibrated_one_us" in c]
    if calibrated:
        out += ["", "Calibrated fast path (isotonic step after the compiled score):", ""]
        for name, c in calibrated:
            # Older results timed the two paths apart; newer ones in turn, row by row.
            plain = c.get("uncalibrated_paired_one_us", c["fast_one_us"])
            extra = c.get("calibrated_extra_us", c["calibrated_one_us"] - plain)
            verdict = "within" if extra <= CALIBRATION_BUDGET_US else "OVER"
            out.append(
                f"- {name}: {c['calibrated_one_us']:.1f} µs a row calibrated vs "
                f"{plain:.1f} µs uncalibrated ({extra:+.1f} µs, {c['calibrated_knots']} knots; "
                f"{verdict} the {CALIBRATION_BUDGET_US:g} µs budget"
                f"{'' if c['calibrated_compiled'] else '; NOT COMPILED'})"
            )
    unbounded = step["candidates"].get("random_forest_unbounded")
    if unbounded:
        out += [
            "",
            f"For comparison, scikit-learn's default forest (no depth or leaf limit) on the same "
            f"split: file {unbounded['file_mb']:.1f} MB, test ROC AUC "
            f"{unbounded['test_roc_auc']:.4f}, fit {unbounded['fit_seconds']:.1f} s.",
        ]
    winner = next((c for c in step["candidates"].values() if c.get("winner")), None)
    predict = results["steps"].get("predict")
    if winner and predict:
        p50 = _median(predict["configs"][predict["chosen"]].get("1", {}).get("p50_ms"))
        if p50:
            share = winner["fast_one_us"] / 1000 / p50 * 100
            out += [
                "",
                f"Share of a request's time: the model in service costs "
                f"{winner['fast_one_us']:.1f} µs of the {p50:.2f} ms p50 of POST /api/predict "
                f"at 1 connection ({share:.1f} %).",
            ]
    return out


def _batch(step, results) -> list[str]:
    return [
        "| seconds end to end | rows per second | request MB | all rows stored |",
        "|---|---|---|---|",
        f"| {_f(step['seconds'], 3)} | {_f(step['rows_per_second'], 0)} | "
        f"{step['request_mb']:.1f} | {_f(step['all_rows_stored'])} |",
    ]


def _feedback(step, results) -> list[str]:
    out = [
        "| feedback rows stored | p50 ms | p90 ms | p99 ms | requests/s | errors |",
        "|---|---|---|---|---|---|",
    ]
    out.extend(
        f"| {f['stored_before']:,} | {_f(f['p50_ms'], 2)} | {_f(f['p90_ms'], 2)} | "
        f"{_f(f['p99_ms'], 2)} | {_f(f['rps'], 0)} | {f['non_2xx']} |"
        for f in step["levels"].values()
    )
    out += [
        "",
        f"p50 with the most rows / p50 with the fewest: {step['ratio_largest_to_first']:.2f}×.",
    ]
    return out


def _train(step, results) -> list[str]:
    names = ("logistic_regression", "random_forest", "xgboost")
    return [
        "| wall s | " + " | ".join(f"{n} fit s" for n in names) + " | peak MB | "
        "model file MB | reference parquet MB |",
        "|---|---|---|---|---|---|---|",
        f"| {_f(step['wall_seconds'])} | "
        + " | ".join(_f(step.get(f"{n}_fit_seconds"), 2) for n in names)
        + f" | {_f(step['peak_mb'], 0)} | {_f(step['artifact_mb'], 2)} | "
        f"{_f(step['reference_parquet_mb'], 2)} |",
        "",
        "Test ROC AUC: "
        + ", ".join(f"{n} {_f(step.get(f'{n}_roc_auc'), 4)}" for n in names)
        + f". Winners: {', '.join(step['winners'])}.",
    ]


def _reports(step, results) -> list[str]:
    kinds = ("data_quality", "data_drift", "model_performance")
    return [
        "| run s | process s (with imports) | "
        + " | ".join(f"{k} s" for k in kinds)
        + " | peak MB |",
        "|---|---|---|---|---|---|",
        f"| {_f(step['run_seconds'], 2)} | {_f(step['process_seconds'], 2)} | "
        + " | ".join(_f(step.get(f"{k}_seconds"), 2) for k in kinds)
        + f" | {_f(step['peak_mb'], 0)} |",
        "",
        f"Rows: {_f(_median(step.get('reference_rows')), 0)} reference, "
        f"{_f(_median(step.get('current_rows')), 0)} current; statuses "
        f"{', '.join(step['statuses'])}.",
    ]


def _retrain(step, results) -> list[str]:
    return [
        "| p99 without ms | p99 during ms | ratio | p50 without ms | p50 during ms | "
        "requests/s without | during | retrain s |",
        "|---|---|---|---|---|---|---|---|",
        f"| {_f(step['p99_without_ms'])} | {_f(step['p99_during_ms'])} | "
        f"{_f(step['p99_ratio'], 2)} | {_f(step['p50_without_ms'], 2)} | "
        f"{_f(step['p50_during_ms'], 2)} | {_f(step['rps_without'], 0)} | "
        f"{_f(step['rps_during'], 0)} | {_f(step['retrain_seconds'])} |",
        "",
        f"Rows: {_f(_median(step['rows_reference']), 0)} reference + "
        f"{_f(_median(step['rows_production']), 0)} production; decisions "
        f"{', '.join(step['decisions'])}; nice values of the worker's processes afterwards: "
        f"{step['retrain_nice']}. Activation to every web process serving the new version: "
        f"{_f(step.get('activation_to_all_served_s'), 2)} s (limit: ACTIVE_MODEL_CHECK_SECONDS "
        f"+ the model's load time = {_f(step.get('activation_limit_s'), 2)} s).",
    ]

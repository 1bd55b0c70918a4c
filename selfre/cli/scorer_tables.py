"""Metrics as text, laid out like the official scorers' output (`selfre score`, `selfre evaluate`)."""

from __future__ import annotations

from selfre.metrics.percent import percent


def _pct(x: float) -> str:
    """A fraction as the official scorers print it: ' 71.234%'."""
    return percent(x, "7.3f") + "%"


def format_tacred_style(m: dict) -> str:
    """Per-relation table and micro summary laid out like TACRED score.py's verbose output."""
    rows = {lab: s for lab, s in m["per_relation"].items() if lab != m["no_relation"] and s["support"]}
    width = max((len(lab) for lab in rows), default=0)
    out = ["Per-relation statistics:"]
    for lab, s in rows.items():
        out.append(
            f"{lab:<{width}}  P: {_pct(s['precision'])}  R: {_pct(s['recall'])}  F1: {_pct(s['f1'])}  #: {s['support']}"
        )
    out += [
        "",
        f"Final Score (micro, {m['no_relation']} excluded, {m['correct']} correct / {m['guessed']} guessed / {m['gold']} gold):",
        f"Precision (micro): {_pct(m['precision'])}",
        f"   Recall (micro): {_pct(m['recall'])}",
        f"       F1 (micro): {_pct(m['f1'])}",
    ]
    pc = m["person_centric"]
    out += [
        "",
        f"Person-centric ({pc['scope']}): P: {_pct(pc['precision'])}  R: {_pct(pc['recall'])}  F1: {_pct(pc['f1'])}",
    ]
    if "note" in pc:
        out.append(f"  note: {pc['note']}")
    pairs = m["confusion"]["pairs"][:10]
    if pairs:
        out += ["", "Most frequent confusions (gold -> predicted: count):"]
        out += [f"  {p['gold']} -> {p['pred']}: {p['count']}" for p in pairs]
    return "\n".join(out)


def format_semeval_official(se: dict) -> str:
    """The official part (iii) of semeval2010_task8_scorer-v1.2.pl, same figures, same layout."""
    out = [
        "<<< (9+1)-WAY EVALUATION TAKING DIRECTIONALITY INTO ACCOUNT -- OFFICIAL >>>:",
        "",
        "Results for the individual relations:",
    ]
    for t, s in se["per_type"].items():
        wd = s["wrong_direction"]
        out.append(
            f"{t:>25} :    P = {s['correct']:4d}/({s['guessed'] - wd:4d} +{wd:4d}) = {100 * s['precision']:6.2f}%"
            f"     R = {s['correct']:4d}/{s['gold']:4d} = {100 * s['recall']:6.2f}%     F1 = {100 * s['f1']:6.2f}%"
        )
    mi = se["micro"]
    out += [
        "",
        "Micro-averaged result (excluding Other):",
        f"P = {mi['correct']:4d}/{mi['guessed']:4d} = {100 * mi['precision']:6.2f}%     "
        f"R = {mi['correct']:4d}/{mi['gold']:4d} = {100 * mi['recall']:6.2f}%     F1 = {100 * mi['f1']:6.2f}%",
        "",
        "MACRO-averaged result (excluding Other):",
        f"P = {100 * se['macro_precision']:6.2f}%\tR = {100 * se['macro_recall']:6.2f}%\tF1 = {100 * se['official_macro_f1']:6.2f}%",
        "",
        "<<< The official score is (9+1)-way evaluation with directionality taken into account: "
        f"macro-averaged F1 = {100 * se['official_macro_f1']:0.2f}% >>>",
    ]
    return "\n".join(out)


def format_report(m: dict) -> str:
    """Everything `compute_metrics` returned: TACRED-style tables, PERSON-typed scores, SemEval's official part."""
    parts = [format_tacred_style(m)]
    typed = m.get("person_typed")
    if typed:
        parts.append(
            f"PERSON-typed instances ({typed['instances']}): P: {_pct(typed['precision'])}  R: {_pct(typed['recall'])}"
            f"  F1: {_pct(typed['f1'])}"
        )
    if m.get("semeval"):
        parts.append("\n" + format_semeval_official(m["semeval"]))
    if m.get("dropped"):
        parts.append(f"note: {m['dropped']} examples did not fit max_seq_length and count as no-relation predictions")
    return "\n".join(parts)

"""Plain-text tables for metrics, in the spirit of the official scorers' output."""

from __future__ import annotations


def format_prf_table(per_relation: dict[str, dict]) -> str:
    rows = [f"{'relation':<40} {'P':>7} {'R':>7} {'F1':>7} {'support':>8}"]
    for label, m in sorted(per_relation.items()):
        rows.append(
            f"{label:<40} {100 * m['precision']:>6.2f}% {100 * m['recall']:>6.2f}% {100 * m['f1']:>6.2f}% {m['support']:>8}"
        )
    return "\n".join(rows)


def print_metrics(metrics: dict, title: str = "") -> None:
    if title:
        print(title)
    print(format_prf_table(metrics.get("per_relation", {})))
    print()
    print(f"micro (no-relation excluded)  P {100 * metrics['precision']:.2f}%  R {100 * metrics['recall']:.2f}%  F1 {100 * metrics['f1']:.2f}%")
    pc = metrics.get("person_centric")
    if pc:
        note = " (SemEval: all categories)" if pc.get("scope") == "all" else ""
        print(f"person-centric{note}  P {100 * pc['precision']:.2f}%  R {100 * pc['recall']:.2f}%  F1 {100 * pc['f1']:.2f}%")
    typed = metrics.get("person_typed")
    if typed:
        print(f"PERSON-typed instances  P {100 * typed['precision']:.2f}%  R {100 * typed['recall']:.2f}%  F1 {100 * typed['f1']:.2f}%")
    sem = metrics.get("semeval")
    if sem:
        print(f"SemEval official (9+1)-way macro-F1 (direction counted, Other excluded): {100 * sem['official_macro_f1']:.2f}%")
    if metrics.get("dropped"):
        print(f"note: {metrics['dropped']} examples did not fit max_seq_length and count as no-relation predictions")

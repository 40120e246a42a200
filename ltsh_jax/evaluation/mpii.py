"""MPII multi-person AP of a prediction file against a GT file, as a library call and a command line.

    python -m ltsh_jax.evaluation.mpii --annotations GT.json --predictions PRED.json --output OUT.json \
        [--markdown OUT.md] [--label NAME] [--groups all | ID ...] [--group-margin 1.0] [--plot OUT.png] \
        [--coco COCO.json]

Writes the results JSON of report.result_to_json (AP in percent) and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Iterable, Sequence

from ltsh_jax.evaluation import coco_export, groups, mpii_ap, mpii_json_io, mpii_json_write, records, report, visibility


def evaluate_files(
    annotations: str | pathlib.Path,
    predictions: str | pathlib.Path,
    group_ids: Iterable[int] | str | None = None,
    group_margin: float = 1.0,
    threshold: float = mpii_ap.PCKH_THRESHOLD,
    num_bins: int = 5,
) -> tuple[mpii_ap.MPIIResult, list[visibility.VisibilityBin], list[records.PredictionImage]]:
    """Loads, aligns, optionally restricts to groups ("all" or ids; None = whole images), evaluates.

    Returns the result, the visibility bins and the predictions as read (for exports).
    """
    gt = mpii_json_io.load_ground_truth(annotations)
    pred_read = mpii_json_io.load_predictions(predictions)
    pred = mpii_json_io.align_predictions(gt, pred_read, str(predictions))
    if group_ids is not None:
        wanted = None if group_ids == "all" else [int(g) for g in group_ids]
        gt, pred = groups.restrict_to_groups(gt, pred, wanted, margin=group_margin)
        if not gt:
            raise ValueError(f"{annotations}: no GT person belongs to the groups {group_ids}")
    result = mpii_ap.evaluate(gt, pred, threshold)
    return result, visibility.visibility_bins(result.assignment, num_bins), pred_read


def _group_ids(values: Sequence[str] | None) -> list[int] | str | None:
    if values is None:
        return None
    if list(values) == ["all"]:
        return "all"
    try:
        return [int(v) for v in values]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--groups takes 'all' or integer group ids, got {values}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltsh_jax.evaluation.mpii", description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", required=True, help="GT annolist JSON (head boxes, joints, optional group)")
    parser.add_argument("--predictions", required=True, help="prediction annolist JSON (joints with scores)")
    parser.add_argument("--output", required=True, help="results JSON to write")
    parser.add_argument("--markdown", help="one-row Markdown table to write")
    parser.add_argument("--label", help="first column of the Markdown table")
    parser.add_argument("--groups", nargs="+", help="evaluate per MPII group: 'all' or group ids (default: images)")
    parser.add_argument("--group-margin", type=float, default=1.0, help="group area margin, in mean head sizes")
    parser.add_argument("--threshold", type=float, default=mpii_ap.PCKH_THRESHOLD, help="PCKh threshold")
    parser.add_argument("--bins", type=int, default=5, help="visible-joint ratio bins over [0, 1]")
    parser.add_argument("--plot", help="PNG of mAP per visible-joint ratio bin")
    parser.add_argument("--coco", help="also export the predictions as COCO keypoint results JSON")
    args = parser.parse_args(argv)
    try:
        group_ids = _group_ids(args.groups)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    try:
        result, bins, pred = evaluate_files(
            args.annotations, args.predictions, group_ids, args.group_margin, args.threshold, args.bins
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    mpii_json_write.write_json(args.output, report.result_to_json(result, bins))
    table = report.markdown_table(result.table, args.label)
    if args.markdown:
        path = pathlib.Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(table)
    if args.plot:
        report.plot_visibility_bins(bins, args.plot)
    if args.coco:
        mpii_json_write.write_json(args.coco, coco_export.to_coco_results(pred))
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

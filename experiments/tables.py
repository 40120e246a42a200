"""The paper's Tables 1-3 as data: which config trains each row, what it starts from, and the published numbers.

Numbers are the paper's (Hoffmann et al., GCPR 2019), MPII multi-person AP on its held-out
validation groups, columns Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, mAP.
"""

from __future__ import annotations

import dataclasses

COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "mAP")


@dataclasses.dataclass(frozen=True)
class Row:
    """One table row: `key` names its run folder; `config` is a module of experiments/configs; `init_from`
    the key of the row whose final parameters it starts from (the D_R baseline for fine-tuned rows)."""

    key: str
    label: str
    config: str
    paper: tuple[float, ...]
    init_from: str | None = None

    def paper_table(self) -> dict[str, float]:
        return dict(zip(COLUMNS, self.paper, strict=True))


D_R = Row("dr", "D_R", "dr", (91.3, 89.1, 79.2, 70.4, 75.9, 71.5, 66.7, 77.7))
D_S = Row("ds", "D_S", "ds", (37.9, 23.5, 12.7, 7.3, 5.6, 3.4, 3.2, 13.4))
D_R_S = Row("dr_ds", "D_R+D_S", "dr_ds", (91.1, 89.2, 80.5, 71.0, 75.2, 73.6, 68.1, 78.4), "dr")
D_R_M = Row("dr_dm", "D_R+D_M", "dr_dm", (91.3, 89.5, 80.7, 71.7, 75.4, 72.5, 67.7, 78.4), "dr")
D_R_M_MASKS = Row("dr_dm_masks", "D_R+D_M+masks", "dr_dm_masks", (92.3, 90.9, 80.5, 72.2, 76.0, 71.7, 68.3, 78.9), "dr")
D_R_STYLE = Row("dr_style", "D_R+D_Style", "dr_style", (91.8, 89.8, 80.4, 70.9, 75.5, 71.6, 67.9, 78.3), "dr")
D_R_STYLE_MASKS = Row(
    "dr_style_masks", "D_R+D_Style+masks", "dr_style_masks", (91.6, 90.6, 80.8, 71.8, 77.7, 72.2, 68.8, 79.1), "dr"
)
TEACHER_C = Row(
    "teacher_c", 'Adversarial teacher "C"', "teacher_c", (91.7, 90.0, 80.9, 71.2, 77.1, 73.6, 67.7, 78.9), "dr"
)
TEACHER_MD = Row(
    "teacher_md", 'Adversarial teacher "mD"', "teacher_md", (91.5, 90.4, 80.5, 72.2, 75.8, 73.1, 67.6, 78.7), "dr"
)

TABLES: dict[int, tuple[Row, ...]] = {
    1: (D_R, D_S, D_R_S, D_R_M),
    2: (D_R_M, D_R_M_MASKS, D_R_STYLE, D_R_STYLE_MASKS),
    3: (D_R, D_R_S, TEACHER_C, TEACHER_MD),
}
ROWS: dict[str, Row] = {row.key: row for rows in TABLES.values() for row in rows}


def rows_to_run(table: int) -> list[Row]:
    """The table's rows preceded by the rows they start from (each once, in a valid order)."""
    if table not in TABLES:
        raise ValueError(f"--table must be one of {sorted(TABLES)}, got {table}")
    ordered: list[Row] = []
    for row in TABLES[table]:
        for needed in ([ROWS[row.init_from]] if row.init_from else []) + [row]:
            if needed not in ordered:
                ordered.append(needed)
    return ordered

"""metrics.jsonl: appended to, cut (never rewritten) on resume, a torn last line dropped with a warning."""

import json
import logging

import pytest

from ltsh_jax.metrics import METRICS_FILE, MetricsWriter, read_metrics


def _lines(*steps):
    return "".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in steps)


def test_resume_cuts_after_its_step_and_drops_a_torn_line(tmp_path, caplog):
    path = tmp_path / METRICS_FILE
    path.write_text(_lines(1, 2, 4) + '{"step": 6, "lo')  # killed while writing step 6
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 4]  # readers skip the torn line
    inode = path.stat().st_ino
    with caplog.at_level(logging.WARNING):
        writer = MetricsWriter(tmp_path, resume_step=4)
    assert "torn last line" in caplog.text
    assert path.read_text() == _lines(1, 2, 4) and path.stat().st_ino == inode  # cut in place
    writer.write(6, {"loss": 0.5})
    writer.close()
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 4, 6]


def test_resume_from_an_earlier_step_drops_the_later_lines(tmp_path, caplog):
    (tmp_path / METRICS_FILE).write_text(_lines(1, 2, 4, 6))
    with caplog.at_level(logging.WARNING):
        MetricsWriter(tmp_path, resume_step=2).close()
    assert not caplog.text
    assert (tmp_path / METRICS_FILE).read_text() == _lines(1, 2)


def test_a_broken_line_inside_the_file_is_named(tmp_path):
    (tmp_path / METRICS_FILE).write_text(_lines(1) + "{oops\n" + _lines(2))
    with pytest.raises(ValueError, match=r"metrics.jsonl:2: not a JSON object"):
        read_metrics(tmp_path)

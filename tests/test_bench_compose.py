"""benchmarks/compose_table.py: one results folder from the lines of several runs, later lines
replacing earlier ones of the same suite, task and agent, with a summary that names its
sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_bench_harness import result_line

from benchmarks.compose_table import compose, main, parse_source


def _run_folder(path: Path, rows: list[dict], sessions: list[dict] | None = None) -> Path:
    path.mkdir(parents=True)
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    meta = {"model": "m", "max_steps": 6, "sessions": sessions or [{"every": 1, "limit": None}]}
    (path / "run.json").write_text(json.dumps(meta))
    return path


def _lines(folder: Path) -> dict[tuple[str, str], dict]:
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    return {(r["agent"], r["task_id"]): r for r in rows}


@pytest.fixture
def full(tmp_path: Path) -> Path:
    return _run_folder(
        tmp_path / "full",
        [
            result_line("ours-code", "travel/a", False),
            result_line("ours-code", "web/b", False),
            result_line("smolagents-code", "travel/a", True),
        ],
    )


@pytest.fixture
def rerun(tmp_path: Path) -> Path:
    return _run_folder(
        tmp_path / "rerun",
        [
            result_line("ours-code", "travel/a", True),
            result_line("ours-code", "web/b", True),
            result_line("smolagents-code", "travel/a", False),
        ],
        sessions=[{"every": 1, "limit": None, "only": ["travel/*"]}],
    )


def test_a_later_source_replaces_the_lines_it_gives_and_keeps_the_rest(tmp_path, full, rerun):
    compose(tmp_path / "table", [parse_source(str(full)), parse_source(f"{rerun}:ours-code")])
    lines = _lines(tmp_path / "table")
    assert lines[("ours-code", "travel/a")]["solved"] is True
    assert lines[("ours-code", "web/b")]["solved"] is True
    assert lines[("smolagents-code", "travel/a")]["solved"] is True
    assert len(lines) == 3


def test_agent_and_pattern_choose_which_lines_a_source_gives(tmp_path, full, rerun):
    compose(
        tmp_path / "table",
        [parse_source(str(full)), parse_source(f"{rerun}:ours-code:travel/*")],
    )
    lines = _lines(tmp_path / "table")
    assert lines[("ours-code", "travel/a")]["solved"] is True
    assert lines[("ours-code", "web/b")]["solved"] is False


def test_any_agent_is_written_as_a_star(tmp_path, full, rerun):
    compose(tmp_path / "table", [parse_source(str(full)), parse_source(f"{rerun}:*:web/*")])
    lines = _lines(tmp_path / "table")
    assert lines[("ours-code", "web/b")]["solved"] is True
    assert lines[("smolagents-code", "travel/a")]["solved"] is True


def test_the_summary_and_run_json_name_the_sources_and_keep_every_session(tmp_path, full, rerun):
    spec = f"{rerun}:ours-code:travel/*"
    compose(tmp_path / "table", [parse_source(str(full)), parse_source(spec)])
    summary = (tmp_path / "table" / "summary.md").read_text()
    assert f"`{full}`, `{spec}`" in summary
    assert "| ours-code | 2 | 50.0% |" in summary
    meta = json.loads((tmp_path / "table" / "run.json").read_text())
    assert meta["composed_from"] == [str(full), spec]
    assert len(meta["sessions"]) == 2
    assert meta["max_steps"] == 6


def test_a_source_that_gives_no_line_is_refused_by_its_spec(tmp_path, full):
    with pytest.raises(ValueError, match=r"no line of .* matches .*:ours-json"):
        compose(tmp_path / "table", [parse_source(f"{full}:ours-json")])
    assert not (tmp_path / "table").exists()


def test_a_folder_without_results_is_refused_with_what_to_give(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"has no results\.jsonl: give a folder written by"):
        compose(tmp_path / "table", [parse_source(str(tmp_path / "empty"))])


def test_a_broken_line_is_refused_with_its_file_and_number(tmp_path, full):
    with (full / "results.jsonl").open("a") as handle:
        handle.write('{"suite": "toy", "task_id"\n')
    with pytest.raises(ValueError, match=r"results\.jsonl:4 is not a JSON line"):
        compose(tmp_path / "table", [parse_source(str(full))])


def test_writing_over_a_source_is_refused(full):
    with pytest.raises(ValueError, match="is both a source and OUT"):
        compose(full, [parse_source(str(full))], replace=True)


def test_an_existing_table_is_kept_unless_replace_is_given(tmp_path, full, rerun):
    compose(tmp_path / "table", [parse_source(str(full))])
    with pytest.raises(ValueError, match="use --replace"):
        compose(tmp_path / "table", [parse_source(str(rerun))])
    assert _lines(tmp_path / "table")[("ours-code", "travel/a")]["solved"] is False
    compose(tmp_path / "table", [parse_source(str(rerun))], replace=True)
    assert _lines(tmp_path / "table")[("ours-code", "travel/a")]["solved"] is True


def test_the_command_line_reports_a_bad_source_and_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "table"), str(tmp_path / "missing")]) == 2
    assert "error: " in capsys.readouterr().err


def test_the_command_line_writes_the_table_and_says_where(tmp_path, full, capsys):
    assert main([str(tmp_path / "table"), str(full)]) == 0
    assert "3 lines ->" in capsys.readouterr().out
    assert (tmp_path / "table" / "summary.md").is_file()

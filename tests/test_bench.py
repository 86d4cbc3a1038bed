"""The benchmark's bookkeeping (course_tools.bench) on made-up rows: ratios, goal checks and the
Markdown table. Running the benchmark itself takes minutes and measures the machine, so it is
`make bench`'s job, not the unit suite's; here every number is known in advance."""
import pytest

from course_tools import bench

INFO = {"cpu": "Test CPU", "logical_cpus": 2, "torch_threads": 2, "platform": "Linux-test",
        "versions": {"python": "3.11", "torch": "2.x", "captum": "0.9"}, "load_average": "0.00"}


def made_up_rows():
    gc_case, lime_case = "Grad-CAM (ResNet-18, made up)", "LIME (made up)"
    rows = [
        bench._row(gc_case, "floor", "floor", [1.0, 2.0, 3.0]),            # median 2, min 1
        bench._row(gc_case, "course explain.grad_cam", "course", [1.5, 2.0, 4.0]),
        bench._row(gc_case, "pytorch-grad-cam GradCAM", "reference", [6.0, 8.0, 9.0],
                   agrees_with_course=True),
        bench._row(lime_case, "floor", "floor", [1.0, 1.0]),
        bench._row(lime_case, "course explain.explain_lime", "course", [1.5, 1.5],
                   same_explanation=True, max_weight_difference=1e-9),
        bench._row(lime_case, "lime, source-style", "reference", [4.5, 4.5],
                   same_explanation=True, max_weight_difference=1e-9),
    ]
    return bench._add_ratios(rows)


def test_ratios_are_medians_over_the_floor_and_course_over_reference():
    rows = made_up_rows()
    course, ref = rows[1], rows[2]
    assert course["vs_floor"] == pytest.approx(2.0 / 2.0)
    assert course["vs_floor_min"] == pytest.approx(1.5 / 1.0)
    assert ref["course_vs_reference"] == pytest.approx(2.0 / 8.0)
    assert ref["course_vs_reference_min"] == pytest.approx(1.5 / 6.0)
    assert course["course_vs_reference"] is None and rows[0]["vs_floor"] == 1.0
    assert all(r["floor"] == "floor" for r in rows)


def test_goal_checks_compare_with_the_goals():
    checks = {label: (value, met) for label, value, _, met in bench.goal_checks(made_up_rows())}
    value, met = checks["Grad-CAM / its floor"]
    assert value == pytest.approx(1.0) and met
    value, met = checks["pytorch-grad-cam / course Grad-CAM (speed-up)"]
    assert value == pytest.approx(4.0) and met
    value, met = checks["source-style lime / course LIME (speed-up)"]
    assert value == pytest.approx(3.0) and met
    assert checks["LIME / its floor"] == (pytest.approx(1.5), False)  # the goal is 1.15x


def test_markdown_lists_every_row_its_numbers_and_the_machine():
    text = bench.render_markdown(made_up_rows(), INFO, quick=False, wall_s=12.0, threads=2)
    assert "Test CPU (2 logical CPUs)" in text and "wall time of the whole run: 12 s" in text
    table = [ln for ln in text.splitlines() if ln.startswith(("| Grad-CAM (", "| LIME (made up)"))]
    assert len(table) == 6
    # the course's Grad-CAM: median 2,000 ms, min 1,500 ms, 1.00x / 1.50x its floor
    assert "| course explain.grad_cam | course | 2,000 | 1,500 | 1.00x | 1.50x |  |  |" in text
    assert "| 4.00x | 6.00x | 0.25x | 0.25x |" in text  # pytorch-grad-cam: / floor, course / it
    assert "pytorch-grad-cam GradCAM: yes" in text
    assert "explanations are the same (weights to 1e-08, ranking, mask): **yes**" in text
    assert "Quick mode" not in text


def test_write_results_writes_the_markdown(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "machine_info", lambda: INFO)
    path = bench.write_results(made_up_rows(), tmp_path / "sub" / "R.md", quick=True)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Explanation methods") and "Quick mode" in text


def test_bench_fails_when_the_lime_explanations_differ(tmp_path, monkeypatch, capsys):
    rows = made_up_rows()
    rows[4]["same_explanation"] = rows[5]["same_explanation"] = False
    monkeypatch.setattr(bench, "run", lambda **kwargs: rows)
    monkeypatch.setattr(bench, "machine_info", lambda: INFO)
    assert bench.bench(out=tmp_path / "R.md") == 1
    assert "LIME explanations differ" in capsys.readouterr().err

"""Tests for course_tools.prose_numbers: stale numbers in the lessons' markdown.

Each test builds a tiny lesson with nbformat (markdown cells, code cells with text outputs) and
checks what the checker accepts and what it reports.
"""
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_tools import prose_numbers as pn


def lesson(tmp_path: Path, markdown: list[str], outputs: list[str] = (), code: str = "x = 1",
           name: str = "05_tiny.ipynb") -> Path:
    """A notebook: one code cell printing each of ``outputs``, then the markdown cells."""
    cells = [new_code_cell(code, outputs=[new_output("stream", name="stdout", text=t)
                                          for t in outputs])]
    cells += [new_markdown_cell(m) for m in markdown]
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells), path)
    return path


def unmatched(path: Path, allow=None) -> list[str]:
    return [q.number.text for q in pn.check_notebook(path, allow).unmatched]


def quoted(markdown: str) -> list[str]:
    return [q.number.text for q in pn.quoted_numbers(markdown)]


def write_allowlist(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allow.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- stale numbers are caught; matches are accepted ------------------------------------------
def test_a_stale_number_is_reported_with_its_cell_and_sentence(tmp_path):
    path = lesson(tmp_path, ["# 05 · Tiny", "The accuracy is 0.942 on the test set. Next sentence."],
                  outputs=["accuracy 0.951\n"])
    report = pn.check_notebook(path)
    assert [q.number.text for q in report.unmatched] == ["0.942"]
    q = report.unmatched[0]
    assert q.cell == 2
    assert q.context == "The accuracy is »0.942« on the test set."
    assert report.hints[id(q)] == Decimal("0.951")  # the nearest printed value, as a hint


def test_the_number_printed_now_is_accepted(tmp_path):
    path = lesson(tmp_path, ["The accuracy is 0.951 on the test set."], outputs=["accuracy 0.951\n"])
    report = pn.check_notebook(path)
    assert report.unmatched == []
    assert report.quoted[0].found_in == "output of cell 0"


@pytest.mark.parametrize("prose, printed, ok", [
    ("0.9510", "0.951", True),        # trailing zero
    ("0.95", "0.951", True),          # prose rounds the output
    ("0.9512", "0.951", False),       # prose more precise than the output: not from it
    ("0.96", "0.951", False),         # rounds to 0.95, not 0.96
    ("3.7 %", "gap 0.037", True),     # percent in the prose, fraction printed
    ("3.7%", "gap 0.0371", True),
    ("0.037", "gap 3.7 %", True),     # fraction in the prose, percent printed
    ("37 %", "gap 0.037", False),     # off by a factor of 10
    ("16,384", "16384 pixels", True),  # thousands separator
    ("16384", "16,384 pixels", True),
    ("\u22120.05", "min -0.05", True),  # unicode minus
    ("-0.05", "min \u22120.05", True),
    ("\u22120.05", "max 0.05", False),  # a sign in the prose must match
    ("0.05", "min -0.05", True),      # an unsigned quote may name the magnitude ("dips by 0.05")
    ("1e-4", "lr 0.0001", True),      # scientific notation
    ("$10^{-4}$", "lr 0.0001", True),
    ("$4\\cdot 10^{-6}$", "1 - p = 3.9e-06", True),
    ("1.8 × 10⁹", "1,814,078,144 mult-adds", True),
    ("1.42e-4", "settles at 0.000142", True),
    ("1.15 M parameters", "1,151,562 parameters", True),  # magnitude suffixes
    ("3.664 G", "3664078144", True),
    ("1.3 M parameters", "1,151,562 parameters", False),  # 1.2 M would be right
    ("about 140 M parameters", "138,357,544", True),  # a round number after "about"
    ("140 M parameters", "138,357,544", False),
    ("1 min 5 s", "took 65 s", True),  # durations
])
def test_formats_are_normalised_before_comparing(tmp_path, prose, printed, ok):
    path = lesson(tmp_path, [f"We read {prose} here."], outputs=[printed])
    assert (unmatched(path) == []) is ok, (prose, printed, unmatched(path))


def test_settings_in_code_cells_are_accepted(tmp_path):
    code = "opt = torch.optim.Adam(params, lr=0.05)\nfor step in range(300):\n    pass"
    path = lesson(tmp_path, ["Adam with a learning rate of 0.05 for 300 steps, then 0.07."],
                  code=code)
    report = pn.check_notebook(path)
    assert [q.number.text for q in report.unmatched] == ["0.07"]
    assert [q.found_in for q in report.quoted[:2]] == ["code of cell 0", "code of cell 0"]


def test_a_match_names_the_nearest_output(tmp_path):
    nb = new_notebook(cells=[new_code_cell("a", outputs=[new_output("stream", name="stdout",
                                                                     text="0.347")]),
                             new_markdown_cell("first 0.347"),
                             new_code_cell("b", outputs=[new_output("stream", name="stdout",
                                                                     text="0.347")]),
                             new_markdown_cell("then 0.347")])
    path = tmp_path / "08_near.ipynb"
    nbformat.write(nb, path)
    assert [q.found_in for q in pn.check_notebook(path).quoted] == ["output of cell 0",
                                                                    "output of cell 2"]


def test_outputs_of_other_kinds_count_and_images_do_not(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("df", outputs=[new_output("execute_result", execution_count=1,
                                                data={"text/plain": "   acc\n0  0.812"})]),
        new_code_cell("plt.show()", outputs=[new_output("display_data", data={
            "image/png": "iVBORw0KGgo0.733", "text/plain": "<Figure size 640x480 with 1 Axes>"})]),
        new_markdown_cell("Accuracy 0.812; the figure's peak 0.733.")])
    path = tmp_path / "03_kinds.ipynb"
    nbformat.write(nb, path)
    assert unmatched(path) == ["0.733"]


def test_the_prose_arithmetic_is_checked(tmp_path):
    path = lesson(tmp_path, [
        "VGG maps 512 × 7 × 7 = 25,088 features; $15 \\times 15 = 225$ windows; "
        "$(127/15)^2 \\approx 72$; at 224 pixels, 15 × 128 / 224 ≈ 8.6 pixels.",
        "A wrong product: 784 × 10 + 10 = 7,860 parameters."],
        outputs=["512 7 15 127 784 10 128 224"])
    report = pn.check_notebook(path)
    assert [q.number.text for q in report.unmatched] == ["7,860"]
    assert sum(q.found_in == "arithmetic" for q in report.quoted) == 4


# --- what is not a quoted number ------------------------------------------------------------
def test_references_names_and_notation_are_not_quoted_numbers():
    text = """# 05 · Class activation maps
## 3. Pitfalls in the source
### Exercise 2 · The top-k shortcut (3 points)

As in lesson 05 and lessons 04–06, cell 12 and exercises 1 and 2 (see section 3.3, pitfall 2,
Eq. (3), Table 1, figure 4), seed 003 and issue #88 ([paper](https://arxiv.org/abs/1512.03385),
arXiv:1610.02391): ResNet-18's `layer4` hooks `features.29` of VGG-16 in 3-D and 2D, a 1st try,
with `lr=0.37` in code, torchvision 0.13 and scikit-image 0.26 (Zhou et al. 2016; Selvaraju,
Cogswell & Batra, 2017), $x_{12}$ and $g^{17}$, two or 3 maps.

12. a numbered list item

**Time**: about 40 minutes; the notebook runs in 35 s.

```python
model(x, steps=4321)
```

## Further reading
- B. Zhou et al. (2016). Learning Deep Features. CVPR, pp. 2921–2929.
"""
    assert quoted(text) == []


def test_quantities_next_to_excluded_ones_are_still_read():
    # The same kinds of sentence, with quantities in them: the exclusions must not swallow them.
    text = ("In lesson 05 the score is 0.347 (Zhou et al. 2016 report 0.427); ResNet-18's "
            "layer4 gives 4 × 4 maps of 128 × 128 images, 20 channels, 16,384 pixels, "
            "$\\lambda = 0.1$, −0.05, 12.5 %, 75-fold, LIME 0.62.\n\n"
            "## Going further\n1. Try k = 50 and 3.5e-05.")
    assert quoted(text) == ["0.347", "0.427", "128", "128", "20", "16,384", "0.1", "\u22120.05",
                            "12.5 %", "75", "0.62", "50", "3.5e-05"]


def test_ranges_are_not_negative_numbers():
    assert quoted("values 0-255, the classes 0 … C − 1, and 0.05 to 0.13, 2.4 to 3.6 times") == [
        "255", "0.05", "0.13", "2.4", "3.6"]


# --- the allowlist ----------------------------------------------------------------------------
def test_allowlisted_values_are_accepted_with_their_reason(tmp_path):
    path = lesson(tmp_path, ["ImageNet ResNet-18 has 512 channels and 11.7 M weights here."],
                  outputs=["11,689,512 parameters"])
    allow = pn.load_allowlist(write_allowlist(tmp_path, '''
[lessons."05"]
"512" = "He et al. 2016, Table 1"
"0.416" = "seed 000 prints this probability"
'''))
    report = pn.check_notebook(path, allow)
    assert report.unmatched == []
    assert report.quoted[0].found_in == "allowlist (He et al. 2016, Table 1)"
    assert report.unused_allowed == ["0.416"]
    assert "allowlist entry '0.416' matches no number" in pn.format_report(report)
    # the entry is for lesson 05 only
    other = lesson(tmp_path, ["ImageNet ResNet-18 has 512 channels."], name="06_other.ipynb")
    assert unmatched(other, allow) == ["512"]


@pytest.mark.parametrize("toml, message", [
    ('[lessons."05"]\n"512" = ""\n', "needs a one-line reason"),
    ('[lessons."05"]\n"512" = "   "\n', "needs a one-line reason"),
    ('[lessons."05"]\n"512" = 512\n', "needs a one-line reason"),
    ('[lessons."05"]\n"512" = """two\nlines"""\n', "must fit on one line"),
    ('[lessons."05"]\n"five" = "a reason"\n', "must be one number"),
    ('[lessons."5"]\n"512" = "a reason"\n', "two-digit lesson number"),
    ('[allow]\n"512" = "a reason"\n', "unknown top-level keys"),
    ('[lessons."05"\n', "not valid TOML"),
])
def test_a_malformed_allowlist_is_an_error(tmp_path, toml, message):
    with pytest.raises(pn.AllowlistError, match=message):
        pn.load_allowlist(write_allowlist(tmp_path, toml))


def test_the_committed_allowlist_is_well_formed():
    allow = pn.load_allowlist(pn.DEFAULT_ALLOWLIST)
    assert allow and all(reason for entries in allow.values() for reason in entries.values())


# --- the command line -------------------------------------------------------------------------
def test_cli_exit_status_and_report(tmp_path, capsys):
    stale = lesson(tmp_path, ["The accuracy is 0.942."], outputs=["accuracy 0.951"])
    fresh = lesson(tmp_path, ["The accuracy is 0.951."], outputs=["accuracy 0.951"],
                   name="06_fresh.ipynb")
    no_allow = ["--allowlist", str(tmp_path / "absent.toml")]
    assert pn.main([str(fresh)] + no_allow) == 0
    assert pn.main([str(stale), str(fresh)] + no_allow) == 1
    out = capsys.readouterr().out
    assert "cell 1: 0.942  UNMATCHED  (closest output value: 0.951)" in out
    assert "The accuracy is »0.942«." in out
    assert out.strip().endswith("1 unmatched number(s) in 2 lesson(s)")


def test_cli_bad_input_is_a_clear_error(tmp_path, capsys):
    path = lesson(tmp_path, ["0.942"])
    bad = write_allowlist(tmp_path, '[lessons."05"]\n"0.942" = ""\n')
    assert pn.main([str(path), "--allowlist", str(bad)]) == 2
    assert "needs a one-line reason" in capsys.readouterr().err
    unnumbered = lesson(tmp_path, ["0.942"], name="tiny.ipynb")
    assert pn.main([str(unnumbered)]) == 2
    assert "starts with its number" in capsys.readouterr().err


def test_course_cli_runs_the_check(tmp_path, capsys):
    from course_tools.cli import main

    path = lesson(tmp_path, ["The accuracy is 0.942."], outputs=["accuracy 0.951"])
    assert main(["prose-check", str(path), "--allowlist", str(tmp_path / "absent.toml")]) == 1
    assert "0.942  UNMATCHED" in capsys.readouterr().out

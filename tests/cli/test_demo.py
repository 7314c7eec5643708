"""make demo's report page: every section's command, text and figures land in one HTML page."""

from ylg_cli import demo


def test_report_lists_each_command_text_and_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO", tmp_path)
    figure = tmp_path / "samples.png"
    figure.write_bytes(b"\x89PNG")
    out = demo.write_report([
        ("Samples", "ylg sample --checkpoint c.pt -o samples.png", "wrote <samples>", [figure]),
        ("Check", "ylg-masks check --masks m.npz", "Full Information: yes", []),
    ], out=tmp_path / "report.html")
    page = out.read_text()
    assert page.count("<h2>") == 2
    assert "ylg sample --checkpoint c.pt -o samples.png" in page
    assert "wrote &lt;samples&gt;" in page  # text is escaped, not interpreted
    assert "<img src='samples.png'" in page


def test_captured_returns_the_result_and_what_was_printed(capsys):
    result, text = demo._captured(lambda: print("step 1") or 42)
    assert result == 42 and text == "step 1\n"


def test_paper_patterns_step_prints_one_line_per_pattern_and_enumeration(capsys):
    demo.check_paper_patterns(n=81)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert len(lines) == 8
    assert sum("Full Information: yes" in line for line in lines) == 4  # ltr and rtl, with and without ESA

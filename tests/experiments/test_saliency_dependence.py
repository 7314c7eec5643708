"""experiments/saliency_dependence.py: it measures each (width, steps) point once, resumes
without measuring again, and draws its figure."""

import json

from experiments import saliency_dependence as sd


def test_a_tiny_run_measures_each_point_once_and_draws_the_figure(tmp_path):
    kw = dict(widths=[16], steps=[0, 1], batch_size=2, images=3, seed=0, log=lambda m: None)
    points = sd.run(tmp_path, **kw)["points"]
    assert set(points) == {"w16-s0", "w16-s1"}
    for point in points.values():
        assert set(sd.METRICS) <= set(point) and all(point[m] >= 0 for m in sd.METRICS)
    # the untrained D against itself; a zero image gives uniform attention: the mask's map
    assert points["w16-s0"]["vs_untrained"] == 0
    assert abs(points["w16-s0"]["vs_zero_image"] - points["w16-s0"]["vs_mask"]) < 1e-3
    again = sd.run(tmp_path, **kw)["points"]  # resumed: nothing is measured again
    assert again == json.loads((tmp_path / "results.json").read_text())["points"] == points
    assert sd.report(tmp_path).stat().st_size > 0

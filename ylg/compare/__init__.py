"""``ylg compare``: does a mask set help? Probes trained on tasks the masks decide, over seeds.

Each mask set under test becomes the only attention of a small probe (:mod:`.probe`), trained on a
task (:mod:`.tasks`: ``flow``, ``images``, or one a user registers) with the same seeds and data
for every mask set, then compared paired against the first (:mod:`.stats`, :mod:`.report`).

>>> from ylg.compare import compare, Settings
>>> c = compare(["dense", "local"], seeds=2, settings=Settings(steps=1, dim=8),
...             task_options={"grid": (2, 2), "eval_examples": 4})
>>> c.rows[1]["item"]
'local'
"""

from ylg.compare.items import Probe, reachable, resolve
from ylg.compare.run import Comparison, Settings, compare, train_probe
from ylg.compare.stats import interval, paired, seeds_needed
from ylg.compare.tasks import (TASKS, FlowTask, ImagesTask, Task, make_task, register_task,
                               task_options)

__all__ = ["compare", "Comparison", "Settings", "train_probe", "Probe", "resolve", "reachable",
           "Task", "FlowTask", "ImagesTask", "TASKS", "register_task", "make_task",
           "task_options", "interval", "paired", "seeds_needed"]

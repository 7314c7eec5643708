"""A training run on disk: the checkpoint format (:mod:`ylg.run.checkpoint`), the run folder
rank 0 writes (:mod:`ylg.run.folder`), the lock that gives a run one owner
(:mod:`ylg.run.lock`), and the deferred Ctrl-C / SIGTERM (:mod:`ylg.run.interrupts`).
The modules are imported by name; this package re-exports nothing."""

"""Train mode.

The loop (trainer.py) and one step of it (step.py: forward, backward, optimizer step, non-finite guard);
what it is built from (setup.py, optim.py, ema.py, autobatch.py); per-run options (multiscale.py,
profile.py); what it writes (saving.py, results_csv.py, plot_callbacks.py, progress.py); the checkpoint's
schema (state.py); how a run stops gracefully (stop.py) and continues (resume.py).
"""

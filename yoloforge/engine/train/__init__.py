"""Train mode.

The loop (trainer.py); what it is built from (setup.py, optim.py, ema.py, autobatch.py); what it writes
(saving.py, results_csv.py, plot_callbacks.py, progress.py); how a run continues (resume.py).
"""

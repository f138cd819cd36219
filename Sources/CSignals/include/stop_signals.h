// What Slurm, Kubernetes and Ctrl-C send before they end a process (SIGTERM, SIGINT), caught
// so that a long job can stop at its next safe point: a training run writes a checkpoint at
// the step it is at, a conversion finishes the file in hand. Imported by Pipeline only.
#ifndef MELFORGE_STOP_SIGNALS_H
#define MELFORGE_STOP_SIGNALS_H

/// Catches SIGTERM and SIGINT from now on. The first one asks the process to stop
/// (`mf_stop_signal` then returns it); a second ends the process at once, as the signal's
/// default action would (status 128 + the signal for a shell).
void mf_catch_stop_signals(void);

/// The signal that asked the process to stop, or 0.
int mf_stop_signal(void);

/// Back to the signals' default actions (the request, if any, is kept).
void mf_release_stop_signals(void);

/// Sends `signal` to this process (for the tests: as Slurm would).
int mf_send_signal_to_self(int signal);

#endif

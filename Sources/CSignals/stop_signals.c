#include "stop_signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t requested;

/// Async-signal-safe: a flag and a line on standard error the first time; the default action
/// the second.
static void on_stop_signal(int number) {
    if (requested) {
        /* The default action, now: unblocked (a handler runs with its signal blocked). */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, number);
        signal(number, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(number);
        _exit(128 + number); /* only if the default action returned */
    }
    requested = number;
    static const char term[] = "\nmelforge: SIGTERM received: stopping at the next safe point (send it again to stop at once)\n";
    static const char interrupt[] = "\nmelforge: SIGINT received: stopping at the next safe point (press Ctrl-C again to stop at once)\n";
    ssize_t written = number == SIGTERM ? write(2, term, sizeof term - 1) : write(2, interrupt, sizeof interrupt - 1);
    (void)written;
}

static void set_action(void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART; /* reads and writes in progress carry on */
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
}

void mf_catch_stop_signals(void) { set_action(on_stop_signal); }

int mf_stop_signal(void) { return requested; }

void mf_release_stop_signals(void) { set_action(SIG_DFL); }

int mf_send_signal_to_self(int number) { return raise(number); }
